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
regression of :mod:`ccnn.models.dynamics_gnn.solvers.library_regression` on the training frames, which is
exact when the functions lie in the libraries' span; gradient epochs then refine it. With a
learned stimulus the start is :mod:`ccnn.models.dynamics_gnn.solvers.stimulus_regression` (W, φ, ψ and Ω by
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

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor
from torchmetrics import R2Score

from ccnn._format import format_metric
from ccnn.analysis.neuron_types import cluster_medians
from ccnn.models.dynamics_gnn.evaluation import (
    EXPORT_FILES,
    FIGURE_NAMES,
    FIT_QUALITY_R2,
    HELD_OUT_FRAMES,
    TYPE_TABLE_COLUMNS,
    DynamicsEvaluation,
)
from ccnn.models.dynamics_gnn.solvers.library_regression import LibraryRegression, regress_dynamics
from ccnn.models.dynamics_gnn.solvers.spline_refinement import (
    refine_with_splines,
    regression_r2,
    regression_rollout_r2,
    spline_knots,
)
from ccnn.models.dynamics_gnn.solvers.stimulus_regression import (
    StimulusRegression,
    regress_stimulated_dynamics,
)
from ccnn.models.dynamics_gnn.start import distil_stimulus, initialise_from_regression
from ccnn.models.dynamics_gnn.training import (
    adam_options,
    configure_engine,
    dynamics_loss,
    resident_training_step,
)
from ccnn.nn.dynamics import DynamicsNetwork
from ccnn.nn.function_library import DEFAULT_PHI_TERMS, DEFAULT_PSI_TERMS, spline_terms
from ccnn.nn.siren import SIREN

__all__ = [
    "EXPORT_FILES",
    "FIGURE_NAMES",
    "FIT_QUALITY_R2",
    "HELD_OUT_FRAMES",
    "PAPER_LR",
    "REFINE_LR",
    "TYPE_TABLE_COLUMNS",
    "DynamicsGNN",
    "Schedule",
]

#: Learning rates: the paper's (random start) and for refining the regression's exact start.
PAPER_LR = {"W": 1e-3, "functions": 5e-4, "latents": 7.5e-4, "stimulus": 1e-4}
REFINE_LR = {"W": 1e-6, "functions": 1e-6, "latents": 1e-6, "stimulus": 1e-6}


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


class DynamicsGNN(DynamicsEvaluation, L.LightningModule):
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
        refine: after the library start, refine φ and ψ in a spline basis
            (:func:`~ccnn.models.dynamics_gnn.solvers.spline_refinement.refine_with_splines`):
            ``"auto"`` when the library fit leaves more than ``refine_tolerance`` of the
            held-out (validation) derivative variance unexplained, keeping whichever fit is
            better on the validation frames; ``"always"``; or ``"never"``. Shared ψ
            (``psi_inputs="x_j"``) without a learned stimulus only.
        spline_knots: knots per side of rest of the refinement's spline basis.
        refine_tolerance: the unexplained held-out share above which ``"auto"`` refines.
        lr_weight, lr_functions, lr_latents, lr_stimulus: Adam learning rates per group.
            ``None`` picks by ``init``: 1e-6 after the regression
            start (Adam's steps are about lr in size whatever the gradient, so larger rates
            undo an exact start), the paper's 1e-3 / 5e-4 / 7.5e-4 (and 1e-4 for Ω*) from
            a random start.
        phi_zero_weight, monotone_weight, l1_weight: regulariser weights or schedules.
        learn_stimulus: learn Ω* with a SIREN (needs neuron positions).
        stimulus_hidden, stimulus_layers, stimulus_omega0: the SIREN's shape.
        stimulus_bin_frames: the regression start takes Ω constant over bins of this many
            frames (:func:`ccnn.models.dynamics_gnn.solvers.stimulus_regression.regress_stimulated_dynamics`);
            best set to the stimulus movie's frame duration in recording frames.
        cluster_threshold: relative distance that separates types (None: the widest gap,
            see :func:`ccnn.analysis.neuron_types.cluster_profiles`).
        snap_latents: after the start, replace each latent by its type's median (the paper).
        rollout_steps, rollout_horizons: rollout length and the steps whose R² is reported.
        output_dir: where exports go (default: the trainer's log directory).
        engine: ``"loader"`` (one Adam step per loader batch) or ``"resident"`` (the training
            frames on the model's device, ``steps_per_batch`` Adam steps per trainer step on
            batches drawn there: :mod:`ccnn.models.dynamics_gnn.training`; the paper's route at speed).
        steps_per_batch: Adam steps per trainer step of the resident engine (logs every this many).
        compile_step: the resident engine's loss: ``"auto"`` (``"reduce-overhead"``, CUDA graphs,
            on CUDA; ``"off"`` elsewhere), ``"off"``, ``"default"``, ``"reduce-overhead"`` or
            ``"cuda-graph"`` (the whole step but Adam as one CUDA graph; one process).
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
        refine: Literal["auto", "always", "never"] = "auto",
        spline_knots: int = 8,
        refine_tolerance: float = 1e-5,
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
        engine: Literal["loader", "resident"] = "loader",
        steps_per_batch: int = 1,
        compile_step: Literal["auto", "off", "default", "reduce-overhead", "cuda-graph"] = "auto",
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
        if refine not in ("auto", "always", "never"):
            raise ValueError(f"refine: expected 'auto', 'always' or 'never', got {refine!r}")
        psi_terms = list(psi_terms)
        phi_terms = [*psi_terms, *[t for t in phi_terms if t not in psi_terms]]
        self.phi_terms = phi_terms  # the library regression's
        self.refines = refine != "never" and psi_inputs == "x_j" and not learn_stimulus
        if self.refines:  # the network also holds the terms a refined start is written in
            splines = spline_terms(spline_knots)
            psi_terms = [*psi_terms, *[t for t in splines if t not in psi_terms]]
            phi_terms = [*phi_terms, *[t for t in ["1", *splines] if t not in phi_terms]]
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
        self.n_frames.fill_(datamodule.recording.n_frames)
        self.x_range.copy_(torch.tensor(datamodule.activity_range()))
        if self.refines and self.network.functions == "library":
            # Knots from the data even when the library start is kept: the spline terms are then
            # zero but trainable, and knots far inside the activity range would make their
            # linear continuation (and any small step on them) large at the range's ends.
            frames = datamodule.regression_frames(self.hparams.regression_frames)["x"].to(self.device)
            knots = spline_knots(frames, self.hparams.spline_knots)
            for module in (self.network.phi, self.network.psi):
                module.knots.copy_(knots)
        if self.hparams.init == "regression":
            self._start_from_regression(datamodule)
        self.initialised.fill_(True)

    def _start_from_regression(self, datamodule) -> None:
        # The solvers run where the model is (a GPU when the trainer has one).
        batch = {
            k: v.to(self.device)
            for k, v in datamodule.regression_frames(self.hparams.regression_frames).items()
        }
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
        diagnostics = {
            "regression_seconds": time.perf_counter() - started,
            "regression_derivative_r2": result.derivative_r2,
            "regression_rank1_residual": result.rank1_residual,
        }
        if self.refines:
            result, refinement = self._refine(result, batch, datamodule)
            diagnostics.update(refinement)
        diagnostics.update(
            initialise_from_regression(self.network, result, distil_steps=self.hparams.distil_steps)
        )
        if stimulus_fit is not None:
            diagnostics.update(self._start_stimulus(stimulus_fit, batch["positions"]))
        if self.hparams.snap_latents:
            self._snap_latents()
        self.start_diagnostics = diagnostics
        rank_zero_info(
            "regression start: "
            + ", ".join(f"{k} {format_metric(v)}" for k, v in diagnostics.items())
            + f" ({len(batch['frame'])} frames)"
        )

    def _refine(self, result: LibraryRegression, batch: dict[str, Tensor], datamodule):
        """The residual test and the spline refinement of ``refine`` (class docstring). The
        library fit and, when it leaves too much of the held-out derivative unexplained, the
        refined one are scored on the validation block: derivative R² on its frames and R²
        of an Euler rollout from its start (``rollout_horizons[0]`` steps at most). The refined
        fit is kept when it predicts the derivative better and rolls out no worse (by 0.01):
        a flexible fit can predict each frame and still integrate to a diverging trajectory."""
        held_out = datamodule.held_out_frames(HELD_OUT_FRAMES, block="val")
        if not len(held_out["frame"]):  # no validation block: judge on the fitted frames
            held_out = batch
        x, target = held_out["x"].to(self.device), held_out["target"].to(self.device)
        library_r2 = regression_r2(result, x, target)
        out = {"library_heldout_r2": library_r2, "refined": 0.0}
        if self.hparams.refine == "auto" and 1 - library_r2 <= self.hparams.refine_tolerance:
            return result, out
        started = time.perf_counter()
        refined = refine_with_splines(
            batch["x"],
            batch["target"],
            result,
            latent_dim=self.hparams.latent_dim,
            n_knots=self.hparams.spline_knots,
        )
        refined_r2 = regression_r2(refined, x, target)
        out.update(refinement_seconds=time.perf_counter() - started, refined_heldout_r2=refined_r2)
        rollouts = (float("inf"), float("inf"))
        if len(datamodule.split.val) > 1 and "stimulus" not in batch:
            steps = min(min(self.hparams.rollout_horizons), len(datamodule.split.val) - 1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a short validation block only shortens the check
                trajectory = datamodule.rollout_reference(steps, block="val")["trajectory"]
            rollouts = tuple(
                regression_rollout_r2(fit, trajectory, datamodule.dt) for fit in (result, refined)
            )
            out.update(library_rollout_r2=rollouts[0], refined_rollout_r2=rollouts[1])
        if refined_r2 > library_r2 and rollouts[1] >= rollouts[0] - 0.01:
            out["refined"] = 1.0
            return refined, out
        return result, out

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
        # One definition of the loss (training.dynamics_loss), shared with the resident engine;
        # a regulariser whose weight is 0 at this epoch is not computed.
        epoch = self.current_epoch
        weights = {name: w for name in ("phi_zero", "monotone", "l1") if (w := self.weights[name].at(epoch))}
        prediction, terms = dynamics_loss(
            self.network, batch["x"], batch["target"], self.stimulus(batch), weights
        )
        loss = sum(terms.values())
        batch_size = batch["x"].shape[0]
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=batch_size, sync_dist=stage != "train")
        for name, value in terms.items():
            self.log(f"{stage}/{name}", value, batch_size=batch_size, sync_dist=stage != "train")
        if stage != "train":
            self.derivative_r2.update(prediction.flatten(), batch["target"].flatten())
        return loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        if self.hparams.get("engine", "loader") == "resident":
            # steps_per_batch Adam steps on batches drawn on the device; the loader's batch is unused
            return resident_training_step(self)
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
        configure_engine(self)  # checks the engine's options; manual optimisation when resident
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
        return torch.optim.Adam(groups, **adam_options(self))

    def on_fit_end(self) -> None:
        directory = self.output_directory()  # on every rank: trainer.log_dir is a collective
        if not self.trainer.is_global_zero:
            return
        metrics = self.export(directory, self._datamodule())
        keys = ("connectivity_r2", "type_accuracy", "rollout_r2@400", "rollout_r2@800")
        summary = ", ".join(f"{k} {format_metric(metrics[k])}" for k in keys if k in metrics)
        rank_zero_info(f"dynamics GNN: {summary or 'done'}; exports in {directory}")
