r"""The encoder of :class:`~ccnn.models.GraphAutoEncoder`: node features → latents.

.. math::
    h^{(0)}_i = W_x x_i + e_i, \qquad
    h^{(\ell+1)} = \mathrm{Dropout}(\mathrm{ReLU}(\mathrm{Conv}_\ell(h^{(\ell)}, \tilde A))),

where :math:`e_i` is an optional learned embedding of node :math:`i` (transductive, as with
identity features), :math:`\mathrm{Conv}` is PyG's ``GCNConv`` (Kipf & Welling 2017),
``GATConv`` (Veličković et al. 2018) or ``SAGEConv`` (Hamilton et al. 2017), and
:math:`\tilde A` the training graph made undirected (each edge in both directions, with its
weight for GCN). With ``directed=True`` the encoder also aggregates each node's out- and
in-neighbours separately (mean of :math:`h^{(L)}` over :math:`\{i: j \to i\}` and
:math:`\{j: j \to i\}`), so that the latent part read as "source" can differ from the "target"
part; the output head is linear:

.. math::
    z_i = W_o\,[h^{(L)}_i \,|\, \overline{h}^{\text{out}}_i \,|\, \overline{h}^{\text{in}}_i].

For a VGAE the head outputs :math:`\mu` and :math:`\log\sigma` (Kipf & Welling 2016).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv, SAGEConv
from torch_geometric.utils import scatter

__all__ = ["ENCODERS", "GraphEncoder"]

#: Values of ``encoder=``.
ENCODERS = ("gcn", "gat", "sage")


def _conv(kind: str, channels: int) -> nn.Module:
    if kind == "gcn":
        return GCNConv(channels, channels)
    if kind == "gat":
        return GATConv(channels, channels, heads=1, edge_dim=1)
    return SAGEConv(channels, channels, aggr="mean")


def _mean(values: Tensor, index: Tensor, num_nodes: int) -> Tensor:
    return scatter(values, index, dim=0, dim_size=num_nodes, reduce="mean")


class GraphEncoder(nn.Module):
    """Module docstring. Shapes: ``x`` (N, F), ``edge_index`` (2, E) directed training edges
    (row 0 sources), ``edge_weight`` (E,) → (N, out_dim), or ``(mu, logstd)`` when variational.
    """

    def __init__(
        self,
        in_channels: int,
        out_dim: int,
        *,
        kind: str = "gcn",
        hidden: int = 64,
        layers: int = 2,
        num_nodes: int | None = None,
        directed: bool = True,
        variational: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.kind, self.directed, self.variational, self.dropout = kind, directed, variational, dropout
        self.input = nn.Linear(in_channels, hidden)
        self.embedding = None if num_nodes is None else nn.Embedding(num_nodes, hidden)
        self.convs = nn.ModuleList(_conv(kind, hidden) for _ in range(layers))
        width = hidden * (3 if directed else 1)
        self.head = nn.Linear(width, out_dim)
        self.head_logstd = nn.Linear(width, out_dim) if variational else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.input.reset_parameters()
        if self.embedding is not None:
            nn.init.normal_(self.embedding.weight, std=0.1)
        for conv in self.convs:
            conv.reset_parameters()
        self.head.reset_parameters()
        if self.head_logstd is not None:
            self.head_logstd.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None):
        n = x.shape[0]
        both = torch.cat([edge_index, edge_index.flip(0)], 1)
        weight = None if edge_weight is None else torch.cat([edge_weight, edge_weight])
        h = self.input(x)
        if self.embedding is not None:
            h = h + self.embedding.weight
        h = F.dropout(h, self.dropout, self.training)
        for conv in self.convs:
            if self.kind == "gcn":
                h = conv(h, both, weight)
            elif self.kind == "gat":
                h = conv(h, both, None if weight is None else weight[:, None])
            else:
                h = conv(h, both)
            h = F.dropout(F.relu(h), self.dropout, self.training)
        if self.directed:
            source, target = edge_index
            out_neighbours = _mean(h[target], source, n)  # mean over {i : j -> i}, for node j
            in_neighbours = _mean(h[source], target, n)  # mean over {j : j -> i}, for node i
            h = torch.cat([h, out_neighbours, in_neighbours], 1)
        if self.variational:
            return self.head(h), self.head_logstd(h).clamp(max=10.0)
        return self.head(h)
