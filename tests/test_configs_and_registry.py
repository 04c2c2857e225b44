"""Every config in configs/ runs (fast_dev_run) and every registered model and datamodule
builds on tiny inputs and takes one training step."""

from pathlib import Path

import lightning as L
import pytest
import torch

from ccnn import data, models
from ccnn.cli import LINKED_ATTRIBUTES, main
from ccnn.data import Connectome

ROOT = Path(__file__).resolve().parents[1]
MODEL_CONFIGS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "configs").glob("*.yaml"))
VARIANTS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "configs/dynamics_gnn").glob("*.yaml"))
ZOO_CONFIGS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "configs/zoo").glob("*.yaml"))
# Shrink the simulated assemblies (stimuli: a 4 × 4 grid of stimulated neurons) so that a
# config runs in seconds; everything else is the config's own.
TINY_ASSEMBLY = [
    "--data.init_args.n_neurons=32",
    "--data.init_args.n_frames=3000",
    "--data.init_args.stimulus_grid=4",
    "--data.init_args.rollout_steps=50",
    "--data.init_args.use_cache=false",
    "--model.init_args.rollout_steps=50",
    "--model.init_args.rollout_horizons=[10, 20]",
    "--model.init_args.regression_frames=2000",
    "--model.init_args.distil_steps=20",
]


def fast_dev_run(configs, tmp_path, extra=()):
    args = ["fit"]
    for config in configs:
        args += ["--config", str(ROOT / config)]
    args += ["--trainer.fast_dev_run=true", f"--trainer.default_root_dir={tmp_path}", *extra]
    if "dynamics_gnn" in configs[0]:
        args += [*TINY_ASSEMBLY, f"--model.init_args.output_dir={tmp_path / 'exports'}"]
    return main(args)


def test_the_configs_are_the_expected_ones():
    assert MODEL_CONFIGS == [
        "configs/connectome_gnn_mice.yaml",
        "configs/connectome_mlp_digits.yaml",
        "configs/dynamics_gnn.yaml",
        "configs/graph_autoencoder.yaml",
        "configs/sc_to_fc.yaml",
    ]
    assert {Path(v).stem for v in VARIANTS} >= {"sparse_ff005", "noise", "types32", "transmitters", "stimuli"}


@pytest.mark.slow
@pytest.mark.parametrize("config", MODEL_CONFIGS)
def test_every_model_config_runs(config, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cli = fast_dev_run([config], tmp_path, ["--config", str(ROOT / "configs/trainer/cpu.yaml")])
    assert cli.trainer.state.finished and cli.trainer.global_step == 1


@pytest.mark.slow
@pytest.mark.parametrize("config", ZOO_CONFIGS)
def test_every_zoo_config_runs(config, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    # Small hidden layers: the configs' own sizes cost seconds per step on two CPU cores.
    small = [] if "sernn" in config or "reservoir" in config else ["--model.init_args.hidden=[16, 16]"]
    cli = fast_dev_run([config], tmp_path, ["--config", str(ROOT / "configs/trainer/cpu.yaml"), *small])
    assert cli.trainer.state.finished and cli.trainer.global_step == 1


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_dynamics_gnn_variant_runs(variant, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    cli = fast_dev_run(["configs/dynamics_gnn.yaml", variant], tmp_path)
    # the resident engine takes steps_per_batch Adam steps per trainer step (global_step counts them)
    hparams = cli.model.hparams
    steps = hparams.get("steps_per_batch", 1) if hparams.get("engine") == "resident" else 1
    assert cli.trainer.state.finished and cli.trainer.global_step == steps
    assert (tmp_path / "exports" / "metrics.json").exists()


def tiny_pairs(small_recording, tiny_cohort_folder):
    """(model name, model kwargs, datamodule name, datamodule kwargs) covering every registration."""
    dynamics = {"init": "random", "rollout_steps": 50, "rollout_horizons": [10, 20]}
    planted = Connectome((torch.rand(30, 30, generator=torch.Generator().manual_seed(0)) < 0.2).float())
    return [
        ("dynamics_gnn", dynamics, "activity", {"path": small_recording, "rollout_steps": 50}),
        (
            "dynamics_gnn",
            dynamics,
            "simulated_activity",
            {"n_neurons": 20, "n_frames": 2000, "rollout_steps": 50, "use_cache": False},
        ),
        ("connectome_mlp", {"hidden": [16]}, "digits", {"batch_size": 32}),
        (
            "connectome_gnn",
            {"hidden": 8},
            "connectome",
            {"dataset": str(tiny_cohort_folder), "target": "group", "n_folds": 3, "batch_size": 4},
        ),
        ("graph_autoencoder", {"latent_dim": 2, "hidden": 8}, "link_prediction", {"connectome": planted}),
        ("bimt_mlp", {"hidden": [8]}, "mnist1d", {"batch_size": 32}),
        ("connectome_mlp", {"hidden": [16]}, "mnist1d_shuffled", {"batch_size": 32}),
        ("spatial_net", {"hidden": [8]}, "two_task", {"variant": "parity_magnitude", "batch_size": 32}),
        ("dann_mlp", {"hidden": [8], "variant": "colei"}, "digits", {"batch_size": 32}),
        ("sernn", {"grid": [2, 2, 2]}, "delayed_match", {"n_train": 64, "n_val": 16, "n_test": 16}),
        (
            "connectome_reservoir",
            {"density": 0.05},
            "delayed_match",
            {"n_train": 64, "n_val": 16, "n_test": 16},
        ),
        (
            "sc_to_fc",
            {"predictor": "gnn", "hidden": 8},
            "structure_function",
            {"cohort": tiny_sc_fc_cohort()},
        ),
    ]


def tiny_sc_fc_cohort():
    """3 subjects × 5 regions with SC and BOLD (the structure-function datamodule's input)."""
    import numpy as np
    import pandas as pd

    from ccnn.data import ConnectomeCohort

    rng = np.random.default_rng(0)
    subjects = []
    for _ in range(3):
        weights = rng.uniform(0, 1, (5, 5))
        subjects.append(Connectome((weights + weights.T) / 2, node_attrs={"bold": rng.normal(size=(5, 50))}))
    return ConnectomeCohort("tiny", subjects, pd.DataFrame(index=pd.Index(["a", "b", "c"])))


def test_every_registered_model_and_datamodule_takes_a_training_step(
    small_recording, tiny_cohort_folder, tmp_path
):
    pairs = tiny_pairs(small_recording, tiny_cohort_folder)
    assert {p[0] for p in pairs} == set(models.list_models())
    assert {"bimt_mlp", "spatial_net", "dann_mlp", "sernn", "connectome_reservoir"} <= set(
        models.list_models()
    )
    assert {p[2] for p in pairs} == set(data.list_datamodules())
    for model_name, model_kwargs, data_name, data_kwargs in pairs:
        datamodule = data.get(data_name, **data_kwargs)
        linked = {name: getattr(datamodule, name) for name in LINKED_ATTRIBUTES if hasattr(datamodule, name)}
        if model_name in ("dynamics_gnn", "graph_autoencoder"):
            model_kwargs = {**model_kwargs, "output_dir": str(tmp_path / data_name)}
        model = models.get(model_name, **model_kwargs, **linked)
        before = [p.detach().clone() for p in model.parameters()]
        trainer = L.Trainer(
            max_steps=1,
            limit_val_batches=1,
            num_sanity_val_steps=0,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(model, datamodule)
        assert trainer.global_step == 1, (model_name, data_name)
        moved = [not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters(), strict=True)]
        assert any(moved), f"{model_name} on {data_name}: one step changed no parameter"


def test_registries_reject_unknown_names():
    with pytest.raises(ValueError, match="name: expected a registered model"):
        models.get("no_such_model")
    with pytest.raises(ValueError, match="name: expected a registered datamodule"):
        data.get("no_such_data")
