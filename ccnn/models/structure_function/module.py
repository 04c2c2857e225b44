r"""``StructureFunctionModel`` (registry ``sc_to_fc``): one subject's SC in, that subject's FC out.

Three predictors, chosen by ``predictor``, all fitted on the training subjects of a
:class:`ccnn.data.StructureFunctionDataModule` and applied to a held-out subject's own SC:

* ``"communication"``: :class:`~ccnn.models.structure_function.communication.CommunicationRegression`,
  closed form, fitted once at the start of ``fit`` (no optimiser steps);
* ``"linear_dynamics"``: the linear stochastic network
  :math:`\dot x = (-I + g\,\tilde W_s)\,x + \sigma \odot \xi`, with :math:`\tilde W_s` the
  subject's SC scaled to spectral radius 1 (its coupling: masked by and built from SC), a
  global gain :math:`g = \mathrm{sigmoid}(\theta) < 1` (stable) and per-region noise
  :math:`\sigma_i = \mathrm{softplus}(\rho_i)`, shared by all subjects; model FC is the
  correlation matrix of the stationary covariance (a Lyapunov equation,
  :func:`~ccnn.models.structure_function.linear_dynamics.solve_lyapunov`), fitted by Adam;
* ``"gnn"``: :class:`~ccnn.models.structure_function.gnn.SCtoFCGNN`, trained by Adam.

Losses (``linear_dynamics``, ``gnn``): the mean squared error of the FC upper triangles.
Logged: ``train/loss``; ``val/…`` and ``test/…`` ``loss`` and ``individual_r`` (mean over the
split's subjects of the Pearson r between predicted and empirical upper triangles).
``predict_step`` returns the predicted FC (B, N, N).
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ccnn._validation import check_choice, check_int, check_real
from ccnn.models.structure_function.communication import CommunicationRegression
from ccnn.models.structure_function.evaluation import fc_similarity
from ccnn.models.structure_function.gnn import SCtoFCGNN
from ccnn.models.structure_function.linear_dynamics import covariance_to_correlation, solve_lyapunov

__all__ = ["PREDICTORS", "StructureFunctionModel"]

PREDICTORS = ("communication", "linear_dynamics", "gnn")


class StructureFunctionModel(L.LightningModule):
    """SC → FC per subject (module docstring).

    Args:
        n_regions: regions per subject (linked from the datamodule by ``train.py``).
        predictor: ``"communication"``, ``"linear_dynamics"`` or ``"gnn"``.
        coordinate_dim: coordinates fed to the GNN (3 for hcp / gw; 0: none).
        hidden, layers: the GNN's width and depth.
        alpha: the communication regression's ridge penalty.
        lr: Adam learning rate.

    Example:
        >>> model = StructureFunctionModel(n_regions=5, predictor="linear_dynamics")
        >>> sc = torch.rand(5, 5)
        >>> fc = model.predict_fc((sc + sc.T)[None])
        >>> tuple(fc.shape), bool(torch.allclose(fc.diagonal(dim1=1, dim2=2), torch.ones(1, 5)))
        ((1, 5, 5), True)
    """

    monitor = ("val/individual_r", "max")
    summary_metrics = ("val/individual_r", "val/loss")
    prediction_name = "fc"

    def __init__(
        self,
        *,
        n_regions: int,
        predictor: str = "gnn",
        coordinate_dim: int = 0,
        hidden: int = 64,
        layers: int = 2,
        alpha: float = 1e-6,
        lr: float = 1e-3,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        check_int(n_regions, "n_regions", minimum=2)
        self.predictor = check_choice(predictor, "predictor", PREDICTORS)
        self.lr = check_real(lr, "lr", positive=True)
        self.coordinate_dim = check_int(coordinate_dim, "coordinate_dim", minimum=0)
        self.regression: CommunicationRegression | None = None
        if predictor == "gnn":
            self.gnn = SCtoFCGNN(n_regions, coordinate_dim=coordinate_dim, hidden=hidden, layers=layers)
        elif predictor == "linear_dynamics":
            self.gain_logit = nn.Parameter(torch.zeros(()))  # g = 0.5 at the start
            self.noise_raw = nn.Parameter(torch.full((n_regions,), 0.5413))  # softplus -> 1
        else:
            self.regression = CommunicationRegression(alpha=check_real(alpha, "alpha", positive=False))
            self.automatic_optimization = False

    # ------------------------------------------------------------------ prediction
    def predict_fc(self, sc: Tensor, coords: Tensor | None = None, distances: Tensor | None = None) -> Tensor:
        """Predicted FC (B, N, N) of subjects with SC (B, N, N)."""
        if self.predictor == "gnn":
            use = coords if self.coordinate_dim else None
            return torch.stack([self.gnn(s, None if use is None else use[b]) for b, s in enumerate(sc)])
        if self.predictor == "linear_dynamics":
            return torch.stack([self._linear_fc(s) for s in sc])
        if self.regression is None or getattr(self.regression, "coef_", None) is None:
            raise RuntimeError(
                "the communication regression is fitted at the start of fit; fit the model first"
            )
        return torch.stack(
            [
                self.regression.predict(s, None if distances is None else distances[b])
                for b, s in enumerate(sc)
            ]
        ).to(sc.dtype)

    def _linear_fc(self, sc: Tensor) -> Tensor:
        w = sc.clamp(min=0).double()
        w = (w + w.T) / 2
        radius = torch.linalg.eigvalsh(w).abs().max().clamp(min=1e-12)
        a = (
            -torch.eye(len(w), dtype=w.dtype, device=w.device)
            + torch.sigmoid(self.gain_logit).double() * w / radius
        )
        q = torch.diag(F.softplus(self.noise_raw).double().pow(2))
        return covariance_to_correlation(solve_lyapunov(a, q)).to(sc.dtype)

    def forward(self, sc: Tensor, coords: Tensor | None = None, distances: Tensor | None = None) -> Tensor:
        return self.predict_fc(sc, coords, distances)

    # ------------------------------------------------------------------ steps
    def fc_loss(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor]:
        """(mean squared error of the FC upper triangles, predicted FC) of a batch of subjects
        (a dict with ``sc``, ``fc`` and optionally ``coords``, ``distances``)."""
        predicted = self(batch["sc"], batch.get("coords"), batch.get("distances"))
        n = predicted.shape[-1]
        rows, cols = torch.triu_indices(n, n, 1, device=predicted.device)
        loss = (predicted[:, rows, cols] - batch["fc"][:, rows, cols].to(predicted.dtype)).pow(2).mean()
        return loss, predicted

    def on_fit_start(self) -> None:
        if self.predictor != "communication":
            return
        data = self.trainer.datamodule
        if data is None or not hasattr(data, "arrays"):
            raise ValueError(
                "datamodule: the communication predictor fits on a StructureFunctionDataModule's training "
                f"subjects (its arrays('train')), got {type(data).__name__}"
            )
        train = data.arrays("train")
        self.regression.fit(train["sc"], train["fc"], train["distances"])

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor | None:
        if self.predictor == "communication":
            return None  # fitted in closed form at the start of fit
        loss, _ = self.fc_loss(batch)
        self.log("train/loss", loss, on_step=False, on_epoch=True, batch_size=len(batch["sc"]))
        return loss

    def _evaluate(self, batch: dict[str, Any], stage: str) -> None:
        loss, predicted = self.fc_loss(batch)
        similarity = fc_similarity(predicted.detach().double(), batch["fc"].double())
        r = similarity.mean() if isinstance(similarity, Tensor) else torch.tensor(similarity)
        size = len(batch["sc"])
        self.log(f"{stage}/loss", loss, on_epoch=True, sync_dist=True, batch_size=size)
        self.log(
            f"{stage}/individual_r", r.float(), on_epoch=True, sync_dist=True, batch_size=size, prog_bar=True
        )

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> Tensor:
        return self(batch["sc"], batch.get("coords"), batch.get("distances"))

    def configure_optimizers(self) -> torch.optim.Optimizer | None:
        if self.predictor == "communication":
            return None
        return torch.optim.Adam(self.parameters(), lr=self.lr)
