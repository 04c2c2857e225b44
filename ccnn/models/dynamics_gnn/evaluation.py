r"""Evaluation and exports of the dynamics GNN (a mixin of :class:`~.module.DynamicsGNN`).

Every validation epoch, and in ``metrics.json`` after ``fit``: derivative R² and rollout R²
at the given horizons (Euler integration from the first test frame) for any recording; with
ground truth (``datamodule.ground_truth()``) also connectivity R² and slope (after the
identifiability normalisation: ψ rises by 2 over the activity range, W takes the scale), type
accuracy and adjusted Rand index of the clusters of learned φ profiles, the relative error of
φ per type and of ψ, and the R² of Ω* against Ω. ``metrics.json`` also holds the held-out
``derivative_r2`` (on the test split) and a ``fit_quality`` verdict ("good" / "fair" /
"poor", :data:`FIT_QUALITY_R2`); a fit that is not "good" warns with what to try. The export
writes :data:`EXPORT_FILES` and the figures of :mod:`ccnn.analysis.dynamics_plots`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor
from torchmetrics.clustering import AdjustedRandScore
from torchmetrics.functional import r2_score

from ccnn._io import atomic_write
from ccnn.analysis import dynamics_plots as plots
from ccnn.analysis.neuron_types import cluster_medians, cluster_profiles
from ccnn.analysis.symbolic import symbolic_regression
from ccnn.data.activity.ground_truth import psi_plateau
from ccnn.metrics import ConnectivityR2, RolloutR2, TypeAccuracy, horizon_below, r2_by_horizon

__all__ = [
    "EXPORT_FILES",
    "FIGURE_NAMES",
    "FIT_QUALITY_R2",
    "HELD_OUT_FRAMES",
    "TYPE_TABLE_COLUMNS",
    "DynamicsEvaluation",
]

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

#: Metrics of :meth:`DynamicsEvaluation.evaluate` see the whole network on every rank, so they
#: compute without a collective: the export after ``fit`` runs on rank 0 alone, and a sync
#: there would wait for ranks that have finished.
LOCAL = {"sync_on_compute": False}


def _whitened(profiles: Tensor, floor: float = 1e-4) -> Tensor:
    """Principal scores of profiles (N, G), each divided by its spread: the components whose
    variance exceeds ``floor`` times the largest. Every direction in which the neurons really
    differ then counts alike, however small its share of φ's size (two types that differ in
    the self-excitation s near rest, beside types that differ in the leak −c·x at the range's
    ends); directions of rounding noise are left out."""
    centred = (profiles - profiles.mean(0)).double()
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    keep = singular.pow(2) > floor * singular[0].pow(2).clamp_min(1e-300)
    scores = centred @ vh[keep].T
    return scores / scores.std(0).clamp_min(1e-300)


class DynamicsEvaluation:
    """Interpretation, metrics and exports of a trained :class:`~.module.DynamicsGNN` (it
    provides ``network``, ``x_range``, ``types``, ``hparams`` and the Lightning attributes)."""

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
        """Recovered types: clusters of φ (and, when sender-dependent, normalised ψ) profiles,
        in whitened principal coordinates (:func:`_whitened`)."""
        grid = self.grid()
        profiles = self.phi_profiles(grid)
        if self.hparams.psi_inputs != "x_j":
            psi = self.psi_profiles(grid) / self.psi_scale().unsqueeze(1)
            profiles = torch.cat(
                [profiles / profiles.pow(2).mean().sqrt(), psi / psi.pow(2).mean().sqrt()], 1
            )
        profiles = _whitened(profiles)
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
            positions = datamodule.positions().to(self.device, self.dtype)
            stimulus = self.learned_stimulus(frames.to(self.device), positions)
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
        truth = datamodule.ground_truth()
        if truth is not None:
            true_w = truth.effective_connectivity(x_range).to(learned)
            fit = ConnectivityR2(**LOCAL).to(self.device)
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
                accuracy = TypeAccuracy(int(self.types.max()) + 1, int(true_types.max()) + 1, **LOCAL)
                accuracy = accuracy.to(self.device)
                accuracy.update(self.types, true_types)
                metrics["type_accuracy"] = float(accuracy.compute())
                ari = AdjustedRandScore(**LOCAL).to(self.device)
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
        if len(datamodule.split.test):
            batch = {k: v.to(self.device) for k, v in datamodule.held_out_frames(HELD_OUT_FRAMES).items()}
            predicted = self(batch["x"].to(self.dtype), self.stimulus(batch))
            metrics["derivative_r2"] = float(
                r2_score(predicted.flatten().double(), batch["target"].flatten().double())
            )
        if len(datamodule.split.test) > max(self.hparams.rollout_horizons):
            run = self.rollout(datamodule)
            rollout = RolloutR2(self.hparams.rollout_horizons, **LOCAL).to(self.device)
            rollout.update(run["predicted"], run["true"])
            # torchmetrics returns a one-element result as a 0-d tensor: one horizon is a float
            values = torch.atleast_1d(rollout.compute()).tolist()
            for horizon, value in zip(self.hparams.rollout_horizons, values, strict=True):
                metrics[f"rollout_r2@{horizon}"] = value
            curve = r2_by_horizon(run["predicted"].double(), run["true"].double())
            below = horizon_below(curve, 0.9)
            metrics["rollout_horizon_r2_0.9"] = float(below if below is not None else len(curve))
            arrays.update(rollout=run, rollout_curve=curve.cpu())
            sample = datamodule.regression_frames(500) if self.stimulus_field is not None else {}
            if "stimulus" in sample:
                positions = datamodule.positions().to(self.device, self.dtype)
                placed = ~positions.isnan().any(1)
                learned_omega = self.learned_stimulus(sample["frame"].to(self.device), positions)[:, placed]
                true_omega = sample["stimulus"].to(learned_omega)[:, placed]
                omega_fit = ConnectivityR2(**LOCAL).to(self.device)
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
