"""Tests of ccnn.models.GraphAutoEncoder: directed decoders learn the direction of edges that an
inner product cannot, VGAE trains, exports, cell types from embeddings, bad arguments."""

from __future__ import annotations

import json

import lightning as L
import numpy as np
import pytest
import torch

from ccnn.data import Connectome, LinkPredictionDataModule
from ccnn.models import GraphAutoEncoder
from ccnn.models.graph_autoencoder import cell_type_knn, link_scores


def feedforward_graph(n=60, seed=0):
    """Two populations; A -> B is dense, B -> A absent, within each sparse: direction matters."""
    generator = torch.Generator().manual_seed(seed)
    group = torch.arange(n) >= n // 2
    # weights[i, j]: j -> i; j in A (group False), i in B (group True)
    p = torch.full((n, n), 0.05)
    p[group[:, None] & ~group[None, :]] = 0.5
    p[~group[:, None] & group[None, :]] = 0.0
    weights = (torch.rand(n, n, generator=generator) < p).float()
    return Connectome(weights, node_attrs={"cell_type": group.long()}, meta={"cell_types": ["A", "B"]})


def fit(connectome, tmp_path, negatives="reversed", epochs=120, **kwargs):
    L.seed_everything(0, verbose=False)
    data = LinkPredictionDataModule(connectome, negatives=negatives, node_features="degree", seed=0)
    model = GraphAutoEncoder(n_inputs=data.n_inputs, n_nodes=data.n_nodes, latent_dim=4, hidden=16, **kwargs)
    trainer = L.Trainer(
        max_epochs=epochs,
        check_val_every_n_epoch=10,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, data)
    return model, data


def test_a_directed_decoder_learns_direction_and_an_inner_product_cannot(tmp_path):
    connectome = feedforward_graph()
    directed, data = fit(connectome, tmp_path / "directed", decoder="directed")
    inner, _ = fit(connectome, tmp_path / "inner", decoder="inner")
    edges, labels = data.held_out("test")
    with torch.no_grad():
        directed_auroc = link_scores(directed.score(directed.embeddings(), edges), labels)["auroc"]
        inner_auroc = link_scores(inner.score(inner.embeddings(), edges), labels)["auroc"]
    assert directed_auroc > 0.9
    assert inner_auroc == pytest.approx(0.5)  # symmetric scores tie every edge with its reverse


def test_fit_exports_embeddings_metrics_and_the_latent_figure(tmp_path):
    model, data = fit(feedforward_graph(), tmp_path, negatives="random", epochs=60, decoder="directed")
    embeddings = np.load(tmp_path / "embeddings.npy")
    assert embeddings.shape == (60, 2 * 4 + 2)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"val/auroc", "val/ap", "test/auroc", "test/ap", "cell_type_knn", "best_epoch"} <= set(metrics)
    assert metrics["val/auroc"] == pytest.approx(model.best_score)
    assert (tmp_path / "figures" / "latents.png").stat().st_size > 10_000
    # the exported latents are those of the best validation epoch and reproduce its test AUROC
    edges, labels = data.held_out("test")
    with torch.no_grad():
        again = link_scores(model.score(torch.from_numpy(embeddings), edges), labels)["auroc"]
    assert again == pytest.approx(metrics["test/auroc"], abs=1e-6)


@pytest.mark.parametrize("decoder", ["inner", "directed", "gravity"])
def test_vgae_and_every_decoder_train(tmp_path, decoder):
    model, data = fit(
        feedforward_graph(), tmp_path, negatives="random", epochs=40, decoder=decoder, variational=True
    )
    assert model.best_epoch >= 0 and np.isfinite(model.best_score)
    assert model.embeddings().shape[0] == data.n_nodes


def test_cell_type_knn_matches_a_hand_built_cross_validation():
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    y = rng.integers(0, 3, 50)
    expected = cross_val_score(
        KNeighborsClassifier(5), x, y, cv=StratifiedKFold(5, shuffle=True, random_state=0)
    ).mean()
    assert cell_type_knn(x, y) == pytest.approx(expected)
    separated = np.r_[np.zeros((20, 2)), np.full((20, 2), 10.0)] + rng.normal(scale=0.1, size=(40, 2))
    assert cell_type_knn(separated, np.r_[np.zeros(20), np.ones(20)]) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latent_dim": 0}, "latent_dim: expected an int >= 1"),
        ({"decoder": "mlp"}, "decoder: expected one of"),
        ({"encoder": "gin"}, "encoder: expected one of"),
        ({"dropout": 1.0}, r"dropout: expected a probability in \[0, 1\)"),
        ({"n_nodes": None}, "n_nodes: expected an int >= 1 .needed by node_embedding=True."),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GraphAutoEncoder(**{"n_inputs": 4, "n_nodes": 10, **kwargs})


def test_the_reversed_weight_follows_the_question_unless_given(tmp_path):
    from ccnn.models.graph_autoencoder.module import REVERSED_WEIGHT

    assert REVERSED_WEIGHT == {"random": 0.1, "reversed": 1.0}
    for negatives in ("random", "reversed"):
        model, _ = fit(
            feedforward_graph(), tmp_path / negatives, negatives=negatives, epochs=10, decoder="directed"
        )
        assert model.reversed_weight() == REVERSED_WEIGHT[negatives]
    assert GraphAutoEncoder(n_inputs=3, n_nodes=5, reversed_weight=0.5).reversed_weight() == 0.5


@pytest.mark.slow
def test_test_metrics_under_two_process_ddp_equal_one_process(tmp_path):
    """train.py on the real config: AUROC / AP are torchmetrics states, exact under DDP."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from ccnn.cli import main
    from ccnn.data import load_connectome

    try:
        load_connectome("celegans_herm")
    except RuntimeError as error:
        pytest.skip(f"celegans_herm unreachable: {error}")
    root_dir = Path(__file__).resolve().parents[2]
    quiet = ["--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]
    run = tmp_path / "gae"
    main(["fit", "--config", str(root_dir / "configs/graph_autoencoder.yaml"), "--config",
          str(root_dir / "configs/logger/csv.yaml"), "--trainer.max_epochs=20", *quiet,
          f"--trainer.default_root_dir={run}"])  # fmt: skip
    config = str(run / "config.yaml")
    main(["test", "--config", config, "--ckpt_path=last", *quiet])
    result = subprocess.run(
        [sys.executable, "train.py", "test", "--config", config, "--ckpt_path=last", *quiet,
         "--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.accelerator=cpu"],
        cwd=root_dir, env={**os.environ, "WANDB_MODE": "disabled"}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    one, two = (
        json.loads((run / name / "metrics.json").read_text())["metrics"] for name in ("test", "test-2")
    )
    assert one.keys() == two.keys() == {"test/auroc", "test/ap"}
    for key in one:
        assert two[key] == pytest.approx(one[key], abs=1e-6)
