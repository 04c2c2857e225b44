"""Repository-level checks: the README, CI script and the examples agree and run."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def test_train_example_runs_from_its_config(tmp_path):
    result = subprocess.run(
        [sys.executable, "examples/digits_retinotopic.py", "--config", "examples/digits_retinotopic.yaml",
         "--epochs", "3", "--out_dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["test_accuracy"] > 0.5  # chance is 0.1
    assert 0 < summary["density"] < 0.2  # local wiring at scale 0.15 is sparse
    assert not list(tmp_path.glob("*.tmp"))


def test_grid_positions_and_bad_hidden_size():
    sys.path.insert(0, str(ROOT / "examples"))
    from digits_retinotopic import grid

    positions = grid(9)
    assert positions.shape == (9, 2)
    assert torch.equal(positions.unique(), torch.tensor([0.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match="hidden: expected a perfect square"):
        grid(10)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    test_command = next(line for block in blocks for line in block.splitlines() if "pytest" in line)
    pytest_part = test_command[test_command.index("python -m pytest") :]
    assert pytest_part in (ROOT / ".ci" / "run").read_text()


def test_readme_python_examples_run():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_readme_connectome_linear_example_runs():
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- tested: connectome-linear -->\s*```python\n(.*?)```", readme, flags=re.S)
    assert match, "README.md: expected a python block right after <!-- tested: connectome-linear -->"
    namespace = {}
    exec(compile(match.group(1), "README.md (connectome-linear)", "exec"), namespace)
    layer, mask, loss = namespace["layer"], namespace["mask"], namespace["loss"]
    assert 0 < mask.float().mean() < 1  # a real connectome: some connections are absent
    assert torch.isfinite(loss)
    weight = layer.weight.detach()
    assert torch.all(weight[~mask] == 0)  # absent connections are still exactly zero after the step
    assert torch.all(weight[mask] != 0)  # and the present ones exist
    assert namespace["wiring"](namespace["model"]) > 0
