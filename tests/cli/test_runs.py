"""ccnn.cli.runs and ccnn._io.write_new: which folder a command writes into, which checkpoint
``last`` / ``best`` mean, and files that are never replaced."""

import os
import time

import pytest
import torch

from ccnn._io import numbered, write_new
from ccnn.cli.runs import best_checkpoint, check_checkpoint, fresh_directory, last_checkpoint, plan_run


def checkpoint(path, **state):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {}, **state}, path)
    return path


def test_a_new_fit_takes_the_first_empty_folder(tmp_path):
    root = tmp_path / "run"
    assert fresh_directory(root) == root  # missing
    root.mkdir()
    assert fresh_directory(root) == root  # empty (e.g. made by a logger of this very run)
    (root / "config.yaml").write_text("x")
    assert fresh_directory(root) == tmp_path / "run-2"
    (tmp_path / "run-2" / "checkpoints").mkdir(parents=True)
    assert fresh_directory(root) == tmp_path / "run-3"
    plan = plan_run("fit", root, None)
    assert plan.directory == tmp_path / "run-3" and plan.ckpt_path is None and not plan.resumed


def test_fit_last_resumes_in_place_or_starts_fresh_with_a_warning(tmp_path):
    root = tmp_path / "run"
    (root / "wandb").mkdir(parents=True)  # a run that died before its first checkpoint
    with pytest.warns(UserWarning, match="found no checkpoint .* starts from scratch in .*run-2"):
        plan = plan_run("fit", root, "last")
    assert plan.directory == tmp_path / "run-2" and plan.ckpt_path is None
    old = checkpoint(root / "checkpoints" / "last.ckpt")
    newer = checkpoint(root / "checkpoints" / "last-v1.ckpt")
    os.utime(old, (time.time() - 100, time.time() - 100))
    plan = plan_run("fit", root, "last")
    assert plan.resumed and plan.directory == root and plan.ckpt_path == str(newer)
    assert plan.config_name == "config.resume.yaml"
    # a checkpoint file of this run continues it; one from elsewhere starts a new run
    assert plan_run("fit", root, str(old)).directory == root
    other = checkpoint(tmp_path / "elsewhere" / "model.ckpt")
    assert plan_run("fit", root, str(other)).directory == tmp_path / "run-2"


def test_evaluations_need_the_checkpoint_they_name(tmp_path):
    root = tmp_path / "run"
    for kind in ("last", "best"):
        with pytest.raises(ValueError, match=rf"ckpt_path: '{kind}' needs a checkpoint in .*run/checkpoints"):
            plan_run("validate", root, kind)
    with pytest.warns(UserWarning, match="untrained weights"):
        plan = plan_run("test", root, None)
    assert plan.directory == root / "test" and plan.config_name == "config.yaml"
    (root / "test").mkdir(parents=True)
    (root / "test" / "metrics.json").write_text("{}")
    with pytest.warns(UserWarning):
        assert plan_run("test", root, None).directory == root / "test-2"  # each evaluation its own
    best = checkpoint(root / "checkpoints" / "epoch=3-step=40.ckpt")
    last = checkpoint(root / "checkpoints" / "last.ckpt")
    assert plan_run("predict", root, "best").ckpt_path == str(best)
    assert plan_run("predict", root, "last").ckpt_path == str(last)


def test_best_among_several_is_the_one_the_checkpoint_state_names(tmp_path):
    folder = tmp_path / "checkpoints"
    a = checkpoint(folder / "epoch=1-step=10.ckpt")
    b = checkpoint(folder / "epoch=2-step=20.ckpt")
    state = {"ModelCheckpoint{'monitor': 'val/acc'}": {"best_model_path": str(a)}}
    checkpoint(folder / "last.ckpt", callbacks=state)
    assert best_checkpoint(tmp_path) == a  # not simply the newest (b)
    assert last_checkpoint(tmp_path) == folder / "last.ckpt"
    assert b.exists()


def test_unreadable_checkpoints_are_refused_before_anything_runs(tmp_path):
    good = checkpoint(tmp_path / "good.ckpt")
    assert check_checkpoint(good) == good
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"truncated\.ckpt is not a readable checkpoint"):
        check_checkpoint(truncated)
    with pytest.raises(ValueError, match=r"expected a checkpoint file, got .*missing\.ckpt.*no such file"):
        check_checkpoint(tmp_path / "missing.ckpt")
    with pytest.raises(ValueError, match=r"\(a folder\)"):
        check_checkpoint(tmp_path)


def test_write_new_never_replaces_a_file(tmp_path):
    assert numbered(tmp_path / "config.validate.yaml", 3) == tmp_path / "config.validate-3.yaml"
    paths = [write_new(tmp_path / "predictions.npz", lambda h, i=i: h.write(bytes([i]))) for i in range(3)]
    assert [p.name for p in paths] == ["predictions.npz", "predictions-2.npz", "predictions-3.npz"]
    assert [p.read_bytes() for p in paths] == [b"\x00", b"\x01", b"\x02"]
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind
    # a writer that fails leaves nothing, and takes no name
    with pytest.raises(RuntimeError):
        write_new(tmp_path / "predictions.npz", lambda h: (_ for _ in ()).throw(RuntimeError("disk")))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "predictions-2.npz",
        "predictions-3.npz",
        "predictions.npz",
    ]
