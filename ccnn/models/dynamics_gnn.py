r"""The dynamics GNN as a LightningModule: learn W, neuron types, φ, ψ and Ω from activity.

Allier, Heinrich, Schneider & Saalfeld, "Graph neural networks uncover structure and
functions underlying the activity of simulated neural assemblies", arXiv 2602.13325 (2026).
The network (:class:`ccnn.nn.DynamicsNetwork`) predicts

.. math:: \hat{\dot x}_i = \varphi(x_i, a_i) + \Omega^*_i(t) \sum_{j \ne i} W_{ij}\,\psi(\cdot)

and is trained on the derivative error :math:`\|\hat{\dot x} - \dot x\|^2` plus the paper's
regularisers (each weight a number or a :class:`Schedule`): :math:`|\varphi(0, a_i)|`,
the monotonicity penalty :math:`\mathrm{ReLU}(\psi(x) - \psi(x + \delta))` and L1 on W.
Adam uses one parameter group (and learning rate) each for W, the functions, the latents
and Ω* (a :class:`ccnn.nn.siren.SIREN` over (x, y, t), for neurons with positions).

Fitting starts, by default (``init="regression"``), from the closed-form library
regression of :mod:`ccnn.analysis.library_regression` on the training frames, which is
exact when the functions lie in the libraries' span; gradient epochs then refine it. With a
learned stimulus the start is :mod:`ccnn.analysis.stimulus_regression` (W, φ, ψ and Ω by
alternating least squares), and Ω* is distilled onto its Ω. With ``init="random"``
training is the paper's pure gradient descent.

Evaluation (every validation epoch, and ``metrics.json`` after ``fit``): derivative R²
and rollout R² at the given horizons (Euler integration from the first test frame) for any
recording; with ground truth also connectivity R² and slope (after the identifiability
normalisation: ψ rises by 2 over the activity range, W takes the scale), type accuracy and
adjusted Rand index of the clusters of learned φ profiles, the relative error of φ per
type and of ψ, and the R² of Ω* against Ω. ``metrics.json`` also holds the held-out
``derivative_r2`` (on the test split) and a ``fit_quality`` verdict ("good" / "fair" /
"poor", :data:`FIT_QUALITY_R2`); a fit that is not "good" warns with what to try. After
``fit`` the run directory gets ``connectivity.npy``, ``types.npy``, ``latents.npy``,
``functions.json`` (symbolic forms), ``metrics.json`` and PNG figures (also logged to W&B when
that is the logger).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import Tensor
from torchmetrics import R2Score
from torchmetrics.clustering import AdjustedRandScore
from torchmetrics.functional import r2_score

from ccnn._format import format_metric
from ccnn._io import atomic_write
from ccnn.analysis import dynamics_plots as plots
from ccnn.analysis.ground_truth import TrueDynamics, psi_plateau
from ccnn.analysis.library_regression import regress_dynamics
from ccnn.analysis.neuron_types import cluster_medians, cluster_profiles
from ccnn.analysis.stimulus_regression import StimulusRegression, regress_stimulated_dynamics
from ccnn.analysis.symbolic import symbolic_regression
from ccnn.metrics import ConnectivityR2, RolloutR2, TypeAccuracy, horizon_below, r2_by_horizon
from ccnn.models.dynamics_init import distil_stimulus, initialise_from_regression
from ccnn.nn.dynamics import DynamicsNetwork
from ccnn.nn.function_library import DEFAULT_PHI_TERMS, DEFAULT_PSI_TERMS
from ccnn.nn.siren import SIREN

__all__ = ["EXPORT_FILES", "DynamicsGNN", "Schedule"]

#: Learning rates: the paper's (random start) and for refining the regression's exact start.
PAPER_LR = {"W": 1e-3, "functions": 5e-4, "latents": 7.5e-4, "stimulus": 1e-4}
REFINE_LR = {"W": 1e-6, "functions": 1e-6, "latents": 1e-6, "stimulus": 1e-6}

#: Columns of the per-type table logged to loggers that have ``log_table`` (W&B).
TYPE_TABLE_COLUMNS = ["type", "neurons", "phi (symbolic)", "formula R²"]

#: Files written to the run directory after ``fit`` (besides the PNG figures).
EXPORT_FILES = ("connectivity.npy", "types.npy", "latents.npy", "functions.json", "metrics.json")
#: ``fit_quality`` in ``metrics.json``: "good" when the held-out derivative R² reaches the first
#: value and the rollout keeps R² >= 0.9 for at least the first horizon; "poor" below the second
#: value or when the rollout falls under 0.9 before the first horizon; "fair" in between.
FIT_QUALITY_R2 = (0.99, 0.9)
#: Test frames the held-out derivative R² is computed on (evenly spaced over the test split).
HELD_OUT_FRAMES = 2000

#: Figures an export may write to ``figures/``; one that this export does not write (no rollout
#: on a short test split, no learned stimulus) is removed, so no stale figure of an earlier run
#: in the same directory stays beside the new ones.
FIGURE_NAMES = ("connectivity", "latents", "functions", "rollout", "stimulus")


@dataclass
class Schedule:
    """A loss weight that is 0 before ``start_epoch`` and ramps linearly to ``value`` over
    ``ramp_epochs`` epochs (0: a step)."""

    value: float
    start_epoch: int = 0
    ramp_epochs: int = 0

    def at(self, epoch: int) -> float:
        if epoch < self.start_epoch:
            return 0.0
        if self.ramp_epochs <= 0:
            return self.value
        return self.value * min(1.0, (epoch - self.start_epoch + 1) / self.ramp_epochs)


def _schedule(value: float | Schedule | dict, name: str) -> Schedule:
    if isinstance(value, Schedule):
        return value
    if isinstance(value, dict):
        return Schedule(**value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return Schedule(float(value))
    raise ValueError(f"{name}: expected a non-negative number or a Schedule, got {value!r}")


class DynamicsGNN(L.LightningModule):
    """Learns the connectivity, types and functions of a neural assembly (module docstring).

    Args:
        n_neurons: N; linked from the datamodule by ``train.py``.
        latent_dim: size of each neuron's latent a_i.
        psi_inputs: ``"x_j"``, ``"x_j,a_j"`` or ``"x_j,a_i,a_j"``.
        functions: ``"library"`` (fast, exact in the libraries' span) or ``"mlp"`` (the paper).
        hidden, layers: the MLPs' width and depth.
        phi_terms, psi_terms: the libraries (φ also gets every ψ term: a neuron's own ψ
            term joins its φ in the regression).
        connectome: optional path of a saved :class:`ccnn.data.Connectome` whose edges W is
            restricted to.
        init: ``"regression"`` (closed-form start) or ``"random"``.
        regression_frames: training frames (evenly spaced) used by the regression.
        prune: relative size below which the regression drops a library term.
        distil_steps: Adam steps that fit MLP φ / ψ to the regression's functions.
        lr_weight, lr_functions, lr_latents, lr_stimulus: Adam learning rates per group.
            ``None`` picks by ``init``: 1e-6 after the regression
            start (Adam's steps are about lr in size whatever the gradient, so larger rates
            undo an exact start), the paper's 1e-3 / 5e-4 / 7.5e-4 (and 1e-4 for Ω*) from
            a random start.
        phi_zero_weight, monotone_weight, l1_weight: regulariser weights or schedules.
        learn_stimulus: learn Ω* with a SIREN (needs neuron positions).
        stimulus_hidden, stimulus_layers, stimulus_omega0: the SIREN's shape.
        stimulus_bin_frames: the regression start takes Ω constant over bins of this many
            frames (:func:`ccnn.analysis.stimulus_regression.regress_stimulated_dynamics`);
            best set to the stimulus movie's frame duration in recording frames.
        cluster_threshold: relative distance that separates types (None: the widest gap,
            see :func:`ccnn.analysis.neuron_types.cluster_profiles`).
        snap_latents: after the start, replace each latent by its type's median (the paper).
        rollout_steps, rollout_horizons: rollout length and the steps whose R² is reported.
        output_dir: where exports go (default: the trainer's log directory).
    """

    #: What ``train.py`` checkpoints as "best", and the metrics of its end-of-fit summary.
    monitor = ("val/derivative_r2", "max")
    summary_metrics = ("val/connectivity_r2", "val/type_accuracy", "val/rollout_r2@400", "val/derivative_r2")

    def __init__(
        self,
        n_neurons: int,
        *,
        latent_dim: int = 2,
        psi_inputs: Literal["x_j", "x_j,a_j", "x_j,a_i,a_j"] = "x_j",
        functions: Literal["library", "mlp"] = "library",
        hidden: int = 64,
        layers: int = 3,
        phi_terms: Sequence[str] = DEFAULT_PHI_TERMS,
        psi_terms: Sequence[str] = DEFAULT_PSI_TERMS,
        connectome: str | None = None,
        init: Literal["regression", "random"] = "regression",
        regression_frames: int = 20_000,
        prune: float = 0.05,
        distil_steps: int = 2000,
        lr_weight: float | None = None,
        lr_functions: float | None = None,
        lr_latents: float | None = None,
        lr_stimulus: float | None = None,
        phi_zero_weight: float | Schedule = 1.0,
        monotone_weight: float | Schedule = 1.0,
        l1_weight: float | Schedule = 0.0,
        learn_stimulus: bool = False,
        stimulus_hidden: int = 128,
        stimulus_layers: int = 5,
        stimulus_omega0: float = 30.0,
        stimulus_bin_frames: int = 50,
        cluster_threshold: float | None = None,
        snap_latents: bool = False,
        rollout_steps: int = 1000,
        rollout_horizons: Sequence[int] = (400, 800),
        output_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if init not in ("regression", "random"):
            raise ValueError(f"init: expected 'regression' or 'random', got {init!r}")
        self.weights = {
            "phi_zero": _schedule(phi_zero_weight, "phi_zero_weight"),
            "monotone": _schedule(monotone_weight, "monotone_weight"),
            "l1": _schedule(l1_weight, "l1_weight"),
        }
        psi_terms = list(psi_terms)
        phi_terms = [*psi_terms, *[t for t in phi_terms if t not in psi_terms]]
        self.phi_terms = phi_terms
        edge_index = None
        if connectome is not None:
            from ccnn.data.connectomes.connectome import Connectome

            edge_index = Connectome.load(connectome).to_pyg().edge_index
        self.network = DynamicsNetwork(
            n_neurons,
            latent_dim=latent_dim,
            psi_inputs=psi_inputs,
            functions=functions,
            hidden=hidden,
            layers=layers,
            phi_terms=phi_terms,
            psi_terms=psi_terms,
            edge_index=edge_index,
        )
        self.stimulus_field = (
            SIREN(
                3, 1, hidden=stimulus_hidden, layers=stimulus_layers, omega0=stimulus_omega0, output_bias=1.0
            )
            if learn_stimulus
            else None
        )
        # Set from the data at the start of fit; saved in checkpoints so resumes skip the start.
        self.register_buffer("x_range", torch.tensor([-1.0, 1.0]))
        self.register_buffer("n_frames", torch.tensor(1))
        self.register_buffer("initialised", torch.tensor(False))
        self.register_buffer("types", torch.zeros(n_neurons, dtype=torch.long))
        self.derivative_r2 = R2Score()
        self.start_diagnostics: dict[str, float] = {}
        self.last_evaluation: dict[str, Any] = {}

    # ------------------------------------------------------------------ model
    @property
    def n_neurons(self) -> int:
        return self.network.n_neurons

    def stimulus(self, batch: dict[str, Tensor]) -> Tensor | None:
        """Ω for a batch: learned Ω* (neurons with positions; 1 elsewhere), else the recorded Ω."""
        if self.stimulus_field is None:
            return batch.get("stimulus")
        return self.learned_stimulus(batch["frame"], batch["positions"])

    def learned_stimulus(self, frames: Tensor, positions: Tensor) -> Tensor:
        """Ω*_i(t) for frames (B,) and positions (N, 2) (NaN: no position) → (B, N)."""
        assert self.stimulus_field is not None
        placed = ~positions.isnan().any(1)
        coords = self._stimulus_coordinates(frames.to(positions.dtype), positions[placed])
        omega = torch.ones(len(frames), self.n_neurons, dtype=positions.dtype, device=positions.device)
        omega[:, placed] = self.stimulus_field(coords).squeeze(-1)
        return omega

    def _stimulus_coordinates(self, frames: Tensor, xy: Tensor) -> Tensor:
        """Ω*'s inputs (B, S, 3) in [-1, 1]: positions (S, 2) in [0, 1]², frames (B,) (may be
        fractional) over the recording."""
        t = 2 * frames / max(int(self.n_frames) - 1, 1) - 1
        xy = 2 * xy - 1
        points = xy.unsqueeze(0).expand(len(t), -1, -1)
        return torch.cat([points, t[:, None, None].expand(-1, len(xy), 1)], -1)

    def forward(self, x: Tensor, stimulus: Tensor | None = None) -> Tensor:
        return self.network(x, stimulus)

    # ------------------------------------------------------------------ data checks and the start
    def _datamodule(self):
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if datamodule is None or not hasattr(datamodule, "recording"):
            raise ValueError("datamodule: DynamicsGNN needs an ActivityDataModule (or one with .recording)")
        return datamodule

    def setup(self, stage: str) -> None:
        datamodule = self._datamodule()
        if datamodule.n_neurons != self.n_neurons:
            raise ValueError(
                f"n_neurons: the model has {self.n_neurons} neurons but the recording "
                f"{datamodule.path} has {datamodule.n_neurons}; set --model.init_args.n_neurons "
                f"to {datamodule.n_neurons} (train.py links it from the data)"
            )
        if self.stimulus_field is not None and not datamodule.has_positions:
            raise ValueError("learn_stimulus: Ω* needs neuron positions, but the recording has none")

    def on_fit_start(self) -> None:
        datamodule = self._datamodule()
        if bool(self.initialised):
            return
        recording = datamodule.recording
        self.n_frames.fill_(recording.n_frames)
        self.x_range.copy_(
            torch.tensor([float(np.min(recording.activity)), float(np.max(recording.activity))])
        )
        if self.hparams.init == "regression":
            self._start_from_regression(datamodule)
        self.initialised.fill_(True)

    def _start_from_regression(self, datamodule) -> None:
        train = datamodule.split.train
        frames = np.unique(
            np.linspace(0, len(train) - 1, min(self.hparams.regression_frames, len(train))).round()
        )
        batch = datamodule.batch(train[frames.astype(np.int64)])
        started = time.perf_counter()
        target = batch["target"]
        if "stimulus" in batch and self.stimulus_field is None:
            rank_zero_info(
                "regression start: the recording's stimulus multiplies the messages; it is ignored here"
            )
        options = {
            "phi_terms": self.phi_terms,
            "psi_terms": self.hparams.psi_terms,
            "per_sender_psi": self.hparams.psi_inputs != "x_j",
            "prune": self.hparams.prune,
        }
        stimulus_fit = None
        if self.stimulus_field is not None:
            stimulus_fit = regress_stimulated_dynamics(
                batch["x"],
                target,
                batch["frame"],
                batch["positions"],
                bin_frames=self.hparams.stimulus_bin_frames,
                **options,
            )
            result = stimulus_fit.dynamics
        else:
            result = regress_dynamics(batch["x"], target, **options)
        diagnostics = initialise_from_regression(
            self.network.cpu(), result, distil_steps=self.hparams.distil_steps
        )
        self.network.to(self.device)
        diagnostics.update(
            regression_seconds=time.perf_counter() - started,
            regression_derivative_r2=result.derivative_r2,
            regression_rank1_residual=result.rank1_residual,
        )
        if stimulus_fit is not None:
            diagnostics.update(self._start_stimulus(stimulus_fit, batch["positions"]))
        if self.hparams.snap_latents:
            self._snap_latents()
        self.start_diagnostics = diagnostics
        rank_zero_info(
            "regression start: "
            + ", ".join(f"{k} {format_metric(v)}" for k, v in diagnostics.items())
            + f" ({len(frames)} frames)"
        )

    def _start_stimulus(self, fit: StimulusRegression, positions: Tensor) -> dict[str, float]:
        """Distil Ω* onto the regression's Ω at the bin centres (bins that had frames)."""
        assert self.stimulus_field is not None
        fitted = ~fit.stimulus.isnan().any(1)
        coords = self._stimulus_coordinates(fit.bin_centres()[fitted], positions[fit.stimulated].double())
        field = self.stimulus_field.cpu()
        error = distil_stimulus(
            field,
            coords.to(next(field.parameters()).dtype),
            fit.stimulus[fitted].to(next(field.parameters()).dtype),
            steps=self.hparams.distil_steps,
        )
        field.to(self.device)
        return {
            "stimulus_steps": float(len(fit.residuals)),
            "stimulus_residual": fit.residuals[-1],
            "stimulus_distil_error": error,
        }

    def _snap_latents(self) -> None:
        labels = self.cluster_types()
        with torch.no_grad():
            self.network.latents.copy_(cluster_medians(self.network.latents, labels))

    # ------------------------------------------------------------------ training
    def _loss(self, batch: dict[str, Tensor], stage: str) -> Tensor:
        prediction = self(batch["x"], self.stimulus(batch))
        data = torch.nn.functional.mse_loss(prediction, batch["target"])
        epoch = self.current_epoch
        terms = {"derivative": data}
        if self.weights["phi_zero"].at(epoch):
            terms["phi_zero"] = self.weights["phi_zero"].at(epoch) * self.network.phi_at_zero()
        if self.weights["monotone"].at(epoch):
            terms["monotone"] = self.weights["monotone"].at(epoch) * self.network.psi_monotonicity(batch["x"])
        if self.weights["l1"].at(epoch):
            terms["l1"] = self.weights["l1"].at(epoch) * self.network.weight_l1()
        loss = sum(terms.values())
        batch_size = batch["x"].shape[0]
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=batch_size, sync_dist=stage != "train")
        for name, value in terms.items():
            self.log(f"{stage}/{name}", value, batch_size=batch_size, sync_dist=stage != "train")
        if stage != "train":
            self.derivative_r2.update(prediction.flatten(), batch["target"].flatten())
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        return self._loss(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._loss(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._loss(batch, "test")

    def predict_step(
        self, batch: dict[str, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> dict[str, Tensor]:
        """The predicted derivative ``derivative`` (B, N) at the batch's frames ``frame`` (B,)."""
        return {"frame": batch["frame"], "derivative": self(batch["x"], self.stimulus(batch))}

    def prediction_extras(self) -> dict[str, Tensor]:
        """For ``predictions.npz``: the Euler rollout from the first test frame, predicted
        (``rollout``) and recorded (``rollout_recorded``), (S + 1, N) each."""
        datamodule = self._datamodule()
        run = self.rollout(datamodule)
        start = torch.tensor(int(datamodule.split.test[0]))
        return {"rollout_start_frame": start, "rollout": run["predicted"], "rollout_recorded": run["true"]}

    def _epoch_end(self, stage: str) -> None:
        if self.trainer.sanity_checking:
            self.derivative_r2.reset()
            return
        self.log(f"{stage}/derivative_r2", self.derivative_r2.compute())
        self.derivative_r2.reset()
        evaluation = self.evaluate(self._datamodule())
        for name, value in evaluation["metrics"].items():
            if value is not None and math.isfinite(value):
                self.log(f"{stage}/{name}", float(value))

    def on_validation_epoch_end(self) -> None:
        self._epoch_end("val")

    def on_test_epoch_end(self) -> None:
        self._epoch_end("test")

    def learning_rates(self) -> dict[str, float]:
        """Adam learning rates of the W, functions, latents and Ω* groups (``None`` resolved)."""
        hp = self.hparams
        default = REFINE_LR if hp.init == "regression" else PAPER_LR
        given = {
            "W": hp.lr_weight,
            "functions": hp.lr_functions,
            "latents": hp.lr_latents,
            "stimulus": hp.lr_stimulus,
        }
        return {name: default[name] if lr is None else float(lr) for name, lr in given.items()}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        lr = self.learning_rates()
        groups = [
            {"params": [self.network.weight], "lr": lr["W"], "name": "W"},
            {
                "params": [*self.network.phi.parameters(), *self.network.psi.parameters()],
                "lr": lr["functions"],
                "name": "functions",
            },
            {"params": [self.network.latents], "lr": lr["latents"], "name": "latents"},
        ]
        if self.stimulus_field is not None:
            groups.append(
                {"params": list(self.stimulus_field.parameters()), "lr": lr["stimulus"], "name": "stimulus"}
            )
        return torch.optim.Adam(groups)

    # ------------------------------------------------------------------ interpretation
    def grid(self, points: int = 200) -> Tensor:
        low, high = self.x_range.tolist()
        return torch.linspace(low, high, points, device=self.device)

    @torch.no_grad()
    def phi_profiles(self, grid: Tensor) -> Tensor:
        """φ(x, a_i) on a grid: (G,) → (N, G)."""
        return self.network.phi_values(grid.unsqueeze(1).expand(-1, self.n_neurons)).T

    @torch.no_grad()
    def psi_profiles(self, grid: Tensor) -> Tensor:
        """Normalised ψ per sender on a grid (N, G); receiver-dependent ψ at the mean latent."""
        x = grid.unsqueeze(1).expand(-1, self.n_neurons)
        if self.hparams.psi_inputs == "x_j,a_i,a_j":
            mean = self.network.latents.mean(0).expand(self.n_neurons * len(grid), -1)
            senders = self.network.latents.repeat(len(grid), 1)
            values = self.network.psi(torch.cat([x.reshape(-1, 1), mean, senders], 1)).reshape(len(grid), -1)
        else:
            values = self.network.psi_values(x)
        return values.T

    @torch.no_grad()
    def psi_scale(self) -> Tensor:
        """Plateau of each sender's ψ over the activity range (N,) (see ground_truth.psi_plateau)."""
        ends = self.psi_profiles(self.x_range)
        return psi_plateau(ends[:, 0], ends[:, 1])

    @torch.no_grad()
    def normalised_connectivity(self) -> Tensor:
        """W with ψ normalised to a plateau of 1: column j scaled by ψ_j's plateau."""
        return self.network.connectivity() * self.psi_scale().unsqueeze(0)

    @torch.no_grad()
    def cluster_types(self) -> Tensor:
        """Recovered types: clusters of φ (and, when sender-dependent, normalised ψ) profiles."""
        grid = self.grid()
        profiles = self.phi_profiles(grid)
        if self.hparams.psi_inputs != "x_j":
            psi = self.psi_profiles(grid) / self.psi_scale().unsqueeze(1)
            profiles = torch.cat(
                [profiles / profiles.pow(2).mean().sqrt(), psi / psi.pow(2).mean().sqrt()], 1
            )
        return cluster_profiles(profiles, self.hparams.cluster_threshold).to(self.device)

    @torch.no_grad()
    def rollout(self, datamodule) -> dict[str, Tensor]:
        """Euler rollout from the first test frame: predicted and recorded (S + 1, N) trajectories."""
        reference = datamodule.rollout_reference(self.hparams.rollout_steps)
        x0 = reference["x0"].to(self.device, self.dtype)
        true = reference["trajectory"].to(self.device, self.dtype)
        stimulus = reference.get("stimulus")
        if self.stimulus_field is not None:
            frames = reference["start_frame"] + torch.arange(len(true))
            positions = torch.as_tensor(np.asarray(datamodule.recording.positions), device=self.device)
            stimulus = self.learned_stimulus(frames.to(self.device), positions.to(self.dtype))
        elif stimulus is not None:
            stimulus = stimulus.to(self.device, self.dtype)
        predicted = self.network.rollout(x0, len(true) - 1, datamodule.dt, stimulus)
        return {"predicted": predicted, "true": true, "stimulus": stimulus}

    @torch.no_grad()
    def evaluate(self, datamodule) -> dict[str, Any]:
        """Every metric that applies (module docstring), plus the arrays the figures need."""
        self.types = self.cluster_types()
        metrics: dict[str, float | None] = {"n_types": float(int(self.types.max()) + 1)}
        arrays: dict[str, Any] = {"types": self.types.cpu()}
        x_range = tuple(self.x_range.tolist())
        learned = self.normalised_connectivity()
        arrays["connectivity"] = learned.cpu()
        recording = datamodule.recording
        truth = (
            TrueDynamics(recording)
            if recording.neuron_params is not None and recording.connectivity is not None
            else None
        )
        if truth is not None:
            true_w = truth.effective_connectivity(x_range).to(learned)
            fit = ConnectivityR2().to(self.device)
            fit.update(learned, true_w)
            result = fit.compute()
            metrics["connectivity_r2"], metrics["connectivity_slope"] = (
                float(result["r2"]),
                float(result["slope"]),
            )
            arrays["true_connectivity"] = true_w.cpu()
            grid = self.grid().double()
            phi_true = truth.phi(grid.cpu()).to(self.device)
            phi = self.phi_profiles(grid.to(self.dtype)).double()
            arrays.update(grid=grid.cpu(), phi=phi.cpu(), phi_true=phi_true.cpu())
            if truth.types is not None:
                true_types = truth.types.to(self.device)
                accuracy = TypeAccuracy(int(self.types.max()) + 1, int(true_types.max()) + 1).to(self.device)
                accuracy.update(self.types, true_types)
                metrics["type_accuracy"] = float(accuracy.compute())
                ari = AdjustedRandScore().to(self.device)
                ari.update(self.types, true_types)
                metrics["type_ari"] = float(ari.compute())
                arrays["true_types"] = truth.types
                for t in truth.types.unique().tolist():
                    rows = (true_types == t).nonzero().squeeze(1)
                    error = (phi[rows] - phi_true[rows]).norm(dim=1) / phi_true[rows].norm(dim=1).clamp_min(
                        1e-12
                    )
                    metrics[f"phi_error/type_{t}"] = float(error.mean())
            psi = (self.psi_profiles(grid.to(self.dtype)) / self.psi_scale().unsqueeze(1)).double()
            psi_true = truth.psi_normalised(grid.cpu(), x_range).to(self.device)
            if psi_true.dim() == 3:  # receiver-dependent truth: compare at the mean over receivers
                psi_true = psi_true.mean(0)
            psi_true_rows = psi_true.expand_as(psi)
            metrics["psi_error"] = float(
                ((psi - psi_true_rows).norm(dim=1) / psi_true_rows.norm(dim=1)).mean()
            )
            arrays.update(psi=psi.cpu(), psi_true=psi_true.cpu())
        test = np.asarray(datamodule.split.test)
        if len(test):
            frames = test[:: max(1, len(test) // HELD_OUT_FRAMES)]
            batch = {k: v.to(self.device) for k, v in datamodule.batch(frames).items()}
            predicted = self(batch["x"].to(self.dtype), self.stimulus(batch))
            metrics["derivative_r2"] = float(
                r2_score(predicted.flatten().double(), batch["target"].flatten().double())
            )
        if len(datamodule.split.test) > max(self.hparams.rollout_horizons):
            run = self.rollout(datamodule)
            rollout = RolloutR2(self.hparams.rollout_horizons).to(self.device)
            rollout.update(run["predicted"], run["true"])
            # torchmetrics returns a one-element result as a 0-d tensor: one horizon is a float
            values = torch.atleast_1d(rollout.compute()).tolist()
            for horizon, value in zip(self.hparams.rollout_horizons, values, strict=True):
                metrics[f"rollout_r2@{horizon}"] = value
            curve = r2_by_horizon(run["predicted"].double(), run["true"].double())
            below = horizon_below(curve, 0.9)
            metrics["rollout_horizon_r2_0.9"] = float(below if below is not None else len(curve))
            arrays.update(rollout=run, rollout_curve=curve.cpu())
            if self.stimulus_field is not None and recording.stimulus is not None:
                placed = ~torch.as_tensor(np.asarray(recording.positions)).isnan().any(1)
                frames = datamodule.split.train[:: max(1, len(datamodule.split.train) // 500)]
                learned_omega = self.learned_stimulus(
                    torch.as_tensor(frames, device=self.device),
                    torch.as_tensor(np.asarray(recording.positions), device=self.device, dtype=self.dtype),
                )[:, placed.to(self.device)]
                true_omega = torch.as_tensor(np.asarray(recording.stimulus[frames]))[:, placed].to(
                    learned_omega
                )
                omega_fit = ConnectivityR2().to(self.device)
                omega_fit.update(learned_omega, true_omega)
                metrics["omega_r2"] = float(omega_fit.compute()["r2"])
                arrays.update(omega=learned_omega.cpu(), omega_true=true_omega.cpu())
        self.last_evaluation = {"metrics": metrics, "arrays": arrays, "step": self.global_step}
        return self.last_evaluation

    @torch.no_grad()
    def symbolic_functions(self, types: Tensor) -> dict[str, Any]:
        """Readable φ per recovered type and ψ (per type when sender-dependent), normalised."""
        grid = self.grid(400).double()
        phi = self.phi_profiles(grid.to(self.dtype)).double().cpu()
        psi = (self.psi_profiles(grid.to(self.dtype)) / self.psi_scale().unsqueeze(1)).double().cpu()
        grid = grid.cpu()
        out: dict[str, Any] = {"x_range": self.x_range.tolist(), "phi": {}, "psi": {}}
        for t in types.unique().tolist():
            rows = (types == t).cpu()
            out["phi"][f"type_{t}"] = symbolic_regression(grid, phi[rows].median(0).values).to_dict()
            if self.hparams.psi_inputs != "x_j":
                out["psi"][f"type_{t}"] = symbolic_regression(grid, psi[rows].median(0).values).to_dict()
        if self.hparams.psi_inputs == "x_j":
            out["psi"]["all"] = symbolic_regression(grid, psi[0]).to_dict()
        return out

    def figures(self, evaluation: dict[str, Any]) -> dict[str, Any]:
        arrays = evaluation["arrays"]
        figures = {
            "connectivity": plots.plot_connectivity(arrays["connectivity"], arrays.get("true_connectivity")),
            "latents": plots.plot_latents(
                self.network.latents.detach().cpu(), arrays["types"], arrays.get("true_types")
            ),
        }
        grid = arrays.get("grid", self.grid().cpu())
        phi = arrays.get("phi", self.phi_profiles(grid.to(self.device, self.dtype)).cpu())
        psi = arrays.get(
            "psi", (self.psi_profiles(grid.to(self.device, self.dtype)) / self.psi_scale().unsqueeze(1)).cpu()
        )
        figures["functions"] = plots.plot_functions(
            grid, phi, arrays["types"], psi, arrays.get("phi_true"), arrays.get("psi_true")
        )
        if "rollout" in arrays:
            run = arrays["rollout"]
            figures["rollout"] = plots.plot_rollout(
                run["predicted"].cpu(), run["true"].cpu(), arrays["rollout_curve"]
            )
        if "omega" in arrays:
            side = round(math.sqrt(arrays["omega"].shape[1]))
            figures["stimulus"] = plots.plot_stimulus(
                arrays["omega"],
                arrays["omega_true"],
                side if side * side == arrays["omega"].shape[1] else None,
            )
        return figures

    def type_table(self, functions: dict[str, Any]) -> list[list[Any]]:
        """One row per recovered type: size and symbolic φ (:data:`TYPE_TABLE_COLUMNS`)."""
        counts = torch.bincount(self.types.cpu())
        rows = []
        for t, count in enumerate(counts.tolist()):
            phi = functions.get("phi", {}).get(f"type_{t}", {})
            rows.append([t, count, phi.get("formula", ""), phi.get("r2", float("nan"))])
        return rows

    # ------------------------------------------------------------------ exports
    def output_directory(self) -> Path:
        if self.hparams.output_dir is not None:
            return Path(self.hparams.output_dir)
        return Path(self.trainer.log_dir or self.trainer.default_root_dir)

    def fit_quality(self, metrics: dict[str, Any], datamodule) -> tuple[str, str]:
        """A verdict on the fit from what needs no ground truth (:data:`FIT_QUALITY_R2`): the
        held-out derivative R² and how long the rollout tracks the recording; and, unless the
        verdict is "good", what to try."""
        r2 = metrics.get("derivative_r2")
        if r2 is None:
            return "unknown", ""
        good, poor = FIT_QUALITY_R2
        first = min(self.hparams.rollout_horizons)
        tracked = metrics.get("rollout_horizon_r2_0.9")
        diverges = tracked is not None and tracked < first
        if r2 >= good and not diverges:
            return "good", ""
        verdict = "poor" if r2 < poor or diverges else "fair"
        frames = len(datamodule.split.train)
        rollout = f"; the rollout stays above R² 0.9 for {tracked:.0f} steps" if tracked is not None else ""
        tips = [f"more frames (this fit had {frames} training frames)"]
        if self.network.functions == "library":
            tips.append(
                "the MLP functions (--model.init_args.functions mlp), if φ or ψ are not in the libraries"
            )
        tips.append("more epochs")
        return verdict, (
            f"dynamics GNN: fit_quality {verdict}: held-out derivative R² {r2:.3f}{rollout}. "
            f"Try {', '.join(tips)}."
        )

    def export(self, directory: str | Path, datamodule) -> dict[str, Any]:
        """Evaluate and write :data:`EXPORT_FILES` and the figures to ``directory``."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        # The last validation already evaluated these parameters: do not roll out twice.
        evaluation = self.last_evaluation
        if evaluation.get("step") != self.global_step or self._trainer is None:
            evaluation = self.evaluate(datamodule)
        metrics = {k: v for k, v in evaluation["metrics"].items() if v is not None}
        metrics.update({f"start/{k}": v for k, v in self.start_diagnostics.items()})
        metrics["fit_quality"], advice = self.fit_quality(metrics, datamodule)
        if advice:
            rank_zero_warn(advice)
        arrays = {
            "connectivity.npy": evaluation["arrays"]["connectivity"].float().numpy(),
            "types.npy": self.types.cpu().numpy(),
            "latents.npy": self.network.latents.detach().float().cpu().numpy(),
        }
        for name, array in arrays.items():
            with atomic_write(directory / name) as handle:
                np.save(handle, array)
        functions = self.symbolic_functions(self.types)
        if self.network.functions == "library":
            functions["library"] = self._library_formulas()
        for name, content in (("functions.json", functions), ("metrics.json", metrics)):
            with atomic_write(directory / name) as handle:
                handle.write(json.dumps(content, indent=2).encode())
        figures = self.figures(evaluation)
        logger = self.logger if self._trainer is not None else None
        if logger is not None and hasattr(logger, "log_image"):
            logger.log_image(key="dynamics", images=list(figures.values()), caption=list(figures))
        if logger is not None and hasattr(logger, "log_table"):
            logger.log_table(key="types", columns=TYPE_TABLE_COLUMNS, data=self.type_table(functions))
        plots.save_figures(figures, directory / "figures")
        for name in set(FIGURE_NAMES) - set(figures):
            (directory / "figures" / f"{name}.png").unlink(missing_ok=True)
        return metrics

    def _library_formulas(self) -> dict[str, str]:
        """The learned library functions at each recovered type's median latent."""
        out = {}
        latents = cluster_medians(self.network.latents.detach(), self.types)
        for t in self.types.unique().tolist():
            a = latents[(self.types == t).nonzero()[0, 0]]
            out[f"phi/type_{t}"] = self.network.phi.library.format(self.network.phi.coefficients(a).cpu())
        if self.hparams.psi_inputs == "x_j":
            out["psi"] = self.network.psi.library.format(self.network.psi.coefficients().cpu())
        return out

    def on_fit_end(self) -> None:
        directory = self.output_directory()  # on every rank: trainer.log_dir is a collective
        if not self.trainer.is_global_zero:
            return
        metrics = self.export(directory, self._datamodule())
        keys = ("connectivity_r2", "type_accuracy", "rollout_r2@400", "rollout_r2@800")
        summary = ", ".join(f"{k} {format_metric(metrics[k])}" for k in keys if k in metrics)
        rank_zero_info(f"dynamics GNN: {summary or 'done'}; exports in {directory}")
