r"""The network of the dynamics GNN: learned neuron latents, signalling functions and W.

Allier, Heinrich, Schneider & Saalfeld, "Graph neural networks uncover structure and
functions underlying the activity of simulated neural assemblies", arXiv 2602.13325 (2026):

.. math::
    \hat{\dot x}_i = \varphi(x_i, a_i) + \Omega_i(t) \sum_{j \ne i} W_{ij}\, \psi(\cdot)

with a learnable latent :math:`a_i \in \mathbb R^d` per neuron (its "type"), functions
:math:`\varphi` and :math:`\psi` (MLPs as in the paper, or combinations of library terms
whose coefficients are linear in the latents, :class:`~ccnn.nn.function_library.LibraryFunction`),
a learnable connectivity :math:`W` (dense with a masked
diagonal, or restricted to a known edge set) and an optional stimulus :math:`\Omega`. The
inputs of :math:`\psi` are :math:`x_j`, :math:`(x_j, a_j)` or :math:`(x_j, a_i, a_j)`.

Two message paths compute the same sum:

* ``"dense"``: when :math:`\psi` does not depend on the receiver, the sum is the matrix
  product :math:`W \psi(x)`: N evaluations of :math:`\psi` per frame instead of one per
  edge (N² for a dense W), which is what makes training on a CPU possible;
* ``"message_passing"``: a torch-geometric ``MessagePassing`` layer that evaluates
  :math:`\psi` on every edge, for receiver-dependent :math:`\psi` and sparse edge sets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn
from torch_geometric.nn import MLP, MessagePassing

from ccnn._validation import as_tensor, check_shape, describe
from ccnn.nn.function_library import DEFAULT_PHI_TERMS, DEFAULT_PSI_TERMS, LibraryFunction

__all__ = ["FUNCTIONS", "PSI_INPUTS", "DynamicsNetwork", "EdgeMessages"]

PsiInputs = Literal["x_j", "x_j,a_j", "x_j,a_i,a_j"]
PSI_INPUTS: tuple[str, ...] = ("x_j", "x_j,a_j", "x_j,a_i,a_j")
FUNCTIONS: tuple[str, ...] = ("mlp", "library")


def _mlp(in_channels: int, hidden: int, layers: int) -> MLP:
    """``layers`` hidden layers of ``hidden`` ReLU units, then one linear output."""
    return MLP([in_channels, *([hidden] * layers), 1], act="relu", norm=None, plain_last=True)


class EdgeMessages(MessagePassing):
    """Σ_j W_ji ψ(inputs of edge j → i) for a batch of frames, one ψ evaluation per edge.

    Node features are the B frames of each neuron, ``x`` [N, B]; messages are [E, B].
    """

    def __init__(self, psi: nn.Module, psi_inputs: str) -> None:
        super().__init__(aggr="add", node_dim=0)
        self.psi, self.psi_inputs = psi, psi_inputs

    def forward(self, x: Tensor, latents: Tensor, edge_index: Tensor, edge_weight: Tensor) -> Tensor:
        return self.propagate(edge_index, x=x, a=latents, edge_weight=edge_weight)

    def message(self, x_j: Tensor, a_i: Tensor, a_j: Tensor, edge_weight: Tensor) -> Tensor:  # type: ignore[override]
        n_frames = x_j.shape[1]
        parts = [x_j.unsqueeze(-1)]  # [E, B, 1]
        if self.psi_inputs == "x_j,a_i,a_j":
            parts.append(a_i.unsqueeze(1).expand(-1, n_frames, -1))
        if self.psi_inputs != "x_j":
            parts.append(a_j.unsqueeze(1).expand(-1, n_frames, -1))
        return edge_weight.unsqueeze(1) * self.psi(torch.cat(parts, -1)).squeeze(-1)


class DynamicsNetwork(nn.Module):
    r"""Predicts :math:`\dot x` from :math:`x` for N neurons (see the module docstring).

    Args:
        n_neurons: N.
        latent_dim: dimension of each neuron's latent :math:`a_i`.
        psi_inputs: ``"x_j"``, ``"x_j,a_j"`` or ``"x_j,a_i,a_j"``.
        functions: ``"mlp"`` (the paper) or ``"library"`` (sums of ``phi_terms`` /
            ``psi_terms`` with coefficients linear in the latents: exact and fast when the true
            functions lie in their span).
        hidden, layers: width and number of hidden layers of the φ and ψ MLPs (the paper:
            64 and 3).
        phi_terms, psi_terms: the libraries of ``functions="library"``.
        edge_index: optional (2, E) edges (source j, target i) that W is restricted to,
            e.g. ``Connectome.to_pyg().edge_index``; self-loops are dropped.
        path: ``"auto"`` (dense whenever ψ ignores the receiver and W is dense),
            ``"dense"`` or ``"message_passing"``.

    Shapes:
        x (B, N), optional stimulus Ω (B, N) → (B, N).
    """

    def __init__(
        self,
        n_neurons: int,
        *,
        latent_dim: int = 2,
        psi_inputs: PsiInputs = "x_j",
        functions: Literal["mlp", "library"] = "mlp",
        hidden: int = 64,
        layers: int = 3,
        phi_terms: Sequence[str] = DEFAULT_PHI_TERMS,
        psi_terms: Sequence[str] = DEFAULT_PSI_TERMS,
        edge_index: Tensor | None = None,
        path: Literal["auto", "dense", "message_passing"] = "auto",
    ) -> None:
        super().__init__()
        if isinstance(n_neurons, bool) or not isinstance(n_neurons, int) or n_neurons < 2:
            raise ValueError(f"n_neurons: expected an int >= 2, got {describe(n_neurons)}")
        if psi_inputs not in PSI_INPUTS:
            raise ValueError(f"psi_inputs: expected one of {PSI_INPUTS}, got {psi_inputs!r}")
        if path not in ("auto", "dense", "message_passing"):
            raise ValueError(f"path: expected 'auto', 'dense' or 'message_passing', got {path!r}")
        if functions not in FUNCTIONS:
            raise ValueError(f"functions: expected one of {FUNCTIONS}, got {functions!r}")
        self.n_neurons, self.latent_dim, self.psi_inputs = n_neurons, latent_dim, psi_inputs
        self.functions = functions
        self.latents = nn.Parameter(torch.empty(n_neurons, latent_dim))
        psi_condition = latent_dim * {"x_j": 0, "x_j,a_j": 1, "x_j,a_i,a_j": 2}[psi_inputs]
        if functions == "mlp":
            self.phi = _mlp(1 + latent_dim, hidden, layers)
            self.psi = _mlp(1 + psi_condition, hidden, layers)
        else:
            self.phi = LibraryFunction(phi_terms, latent_dim)
            self.psi = LibraryFunction(psi_terms, psi_condition)
        self.messages = EdgeMessages(self.psi, psi_inputs)

        if edge_index is None:
            self.weight = nn.Parameter(torch.empty(n_neurons, n_neurons))  # W[i, j]: j → i
            self.register_buffer("off_diagonal", ~torch.eye(n_neurons, dtype=torch.bool))
            self.register_buffer("edge_index", None)
        else:
            edges = as_tensor(edge_index, "edge_index").long()
            check_shape(edges, (2, None), "edge_index", meaning="(2, E): rows source j, target i")
            if edges.numel() and (int(edges.min()) < 0 or int(edges.max()) >= n_neurons):
                raise ValueError(
                    f"edge_index: expected node indices in [0, {n_neurons - 1}], got out-of-range ones"
                )
            edges = edges[:, edges[0] != edges[1]]
            self.weight = nn.Parameter(torch.empty(edges.shape[1]))
            self.register_buffer("off_diagonal", None)
            self.register_buffer("edge_index", edges)
        receiver_free = psi_inputs != "x_j,a_i,a_j"
        if path == "dense" and not (receiver_free and edge_index is None):
            raise ValueError(
                "path: 'dense' needs a dense W and a ψ that ignores the receiver (psi_inputs 'x_j' or "
                f"'x_j,a_j') and no edge_index, got psi_inputs={psi_inputs!r} and "
                f"edge_index={'given' if edge_index is not None else None}"
            )
        self.path = (
            ("dense" if receiver_free and edge_index is None else "message_passing")
            if path == "auto"
            else path
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Latents start spread (so types can separate); W starts small, at the scale of the
        # published connectivity (max |W| ≈ 0.2 at N = 1000).
        nn.init.normal_(self.latents, std=1.0)
        nn.init.normal_(self.weight, std=1.0 / self.n_neurons)
        self.phi.reset_parameters()
        self.psi.reset_parameters()

    # ------------------------------------------------------------------ connectivity
    def connectivity(self) -> Tensor:
        """The learned W as a dense (N, N) matrix with a zero diagonal (W[i, j]: j → i)."""
        if self.edge_index is None:
            return self.weight * self.off_diagonal
        dense = self.weight.new_zeros(self.n_neurons, self.n_neurons)
        return dense.index_put((self.edge_index[1], self.edge_index[0]), self.weight)

    def _edges(self) -> tuple[Tensor, Tensor]:
        """(edge_index, edge_weight) in PyG's (source, target) convention."""
        if self.edge_index is not None:
            return self.edge_index, self.weight
        target, source = self.off_diagonal.nonzero(as_tuple=True)
        return torch.stack([source, target]), self.weight[target, source]

    # ------------------------------------------------------------------ functions
    def phi_values(self, x: Tensor) -> Tensor:
        """φ(x_i, a_i) for x (B, N) → (B, N)."""
        a = self.latents.unsqueeze(0).expand(x.shape[0], -1, -1)
        return self.phi(torch.cat([x.unsqueeze(-1), a], -1)).squeeze(-1)

    def psi_values(self, x: Tensor) -> Tensor:
        """ψ(x_j[, a_j]) per sender for x (B, N) → (B, N); receiver-free ψ only."""
        if self.psi_inputs == "x_j,a_i,a_j":
            raise ValueError("psi_inputs: ψ depends on the receiver ('x_j,a_i,a_j'); use messages()")
        parts = [x.unsqueeze(-1)]
        if self.psi_inputs == "x_j,a_j":
            parts.append(self.latents.unsqueeze(0).expand(x.shape[0], -1, -1))
        return self.psi(torch.cat(parts, -1)).squeeze(-1)

    def messages_sum(self, x: Tensor, path: str | None = None) -> Tensor:
        """Σ_{j≠i} W_ij ψ(·) for x (B, N) → (B, N), by the chosen (or the module's) path."""
        path = path or self.path
        if path == "dense":
            return self.psi_values(x) @ self.connectivity().T
        edge_index, edge_weight = self._edges()
        return self.messages(x.T, self.latents, edge_index, edge_weight).T

    def forward(self, x: Tensor, stimulus: Tensor | None = None, *, path: str | None = None) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.n_neurons:
            raise ValueError(f"x: expected shape (batch, n_neurons={self.n_neurons}), got {tuple(x.shape)}")
        messages = self.messages_sum(x, path)
        if stimulus is not None:
            messages = messages * stimulus
        return self.phi_values(x) + messages

    @torch.no_grad()
    def rollout(self, x0: Tensor, steps: int, dt: float, stimulus: Tensor | None = None) -> Tensor:
        """Euler-integrate the learned model: (N,) start → (steps + 1, N) trajectory.

        ``stimulus`` (steps + 1, N), when given, is Ω at each step.
        """
        states = [x0.reshape(1, -1)]
        for k in range(steps):
            omega = None if stimulus is None else stimulus[k : k + 1]
            states.append(states[-1] + dt * self(states[-1], omega))
        return torch.cat(states)

    # ------------------------------------------------------------------ regularisers
    def phi_at_zero(self) -> Tensor:
        r""":math:`\frac1N\sum_i |\varphi(0, a_i)|`: removes the offset that φ and ψ could trade."""
        return self.phi_values(self.latents.new_zeros(1, self.n_neurons)).abs().mean()

    def psi_monotonicity(self, x: Tensor, delta: float = 0.1) -> Tensor:
        r"""Mean of :math:`\mathrm{ReLU}(\psi(x) - \psi(x + \delta))`: fixes ψ's sign (increasing)."""
        if self.psi_inputs == "x_j,a_i,a_j":
            grid = x.reshape(-1, 1)
            pair = self.latents[torch.randint(0, self.n_neurons, (grid.shape[0], 2), device=grid.device)]
            low = self.psi(torch.cat([grid, pair[:, 0], pair[:, 1]], -1))
            high = self.psi(torch.cat([grid + delta, pair[:, 0], pair[:, 1]], -1))
            return torch.relu(low - high).mean()
        return torch.relu(self.psi_values(x) - self.psi_values(x + delta)).mean()

    def weight_l1(self) -> Tensor:
        """Mean |W| over the learnable connections."""
        return self.weight.abs().mean() if self.edge_index is not None else self.connectivity().abs().mean()

    def extra_repr(self) -> str:
        connectivity = "dense" if self.edge_index is None else f"{self.weight.numel()} edges"
        return (
            f"n_neurons={self.n_neurons}, latent_dim={self.latent_dim}, psi_inputs={self.psi_inputs!r}, "
            f"functions={self.functions!r}, path={self.path}, connectivity={connectivity}"
        )
