"""benchmarks/celegans_propagation.py on a synthetic atlas and connectome (no download)."""

import sys
from pathlib import Path

import torch

from ccnn.data.connectomes.signal_propagation import SignalPropagationAtlas

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import celegans_propagation


def test_run_scores_every_model_and_writes_a_figure(tmp_path):
    n = 24
    gen = torch.Generator().manual_seed(0)
    chem = (torch.rand(n, n, generator=gen) < 0.15).double()
    chem.fill_diagonal_(0)
    names = [f"N{k}" for k in range(n)]
    q = torch.where(chem > 0, 0.01, 0.5)  # responses exactly where a synapse is
    q[torch.rand(n, n, generator=gen) < 0.3] = float("nan")

    def loader(strain):  # the atlas names one neuron the connectome lacks
        pad = torch.full((n + 1, n + 1), float("nan"), dtype=torch.float64)
        pad[1:, 1:] = q
        return SignalPropagationAtlas(("AWCON", *names), pad, pad, torch.zeros(n + 1, n + 1), strain, "test")

    inputs = {"chemical": chem, "gap": torch.zeros(n, n), "node_features": torch.ones(n, 1), "names": names}
    result, curves = celegans_propagation.run(
        strains=("wt",), seeds=1, folds=3, groups=("stimulated",), classifiers=("logistic",),
        atlas_loader=loader, inputs=inputs,
    )  # fmt: skip
    row = result["wt"]
    assert row["anatomy"]["auroc_mean"] == 1.0  # the planted rule: anatomy is exact here
    assert row["logistic_stimulated"]["auroc_mean"] > 0.9
    assert row["pairs"]["neurons"] == n
    assert "| anatomy | 1.000 |" in celegans_propagation.table(result)
    written = celegans_propagation.plot(curves["wt"], "wt", tmp_path / "roc.png")
    assert written.stat().st_size > 0
