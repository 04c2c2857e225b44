r"""Edge decoders of graph auto-encoders: a score (logit) for each directed pair :math:`j \to i`.

Every decoder maps node embeddings ``z`` (N, D) and edges ``edge_index`` (2, E) (row 0 the
sources :math:`j`, row 1 the targets :math:`i`, PyG's layout) to logits (E,); the probability
of the edge is :math:`\sigma(\text{logit})`. ``latent_dim`` d below is what each decoder
needs per node: ``D = decoder.input_dim(d)``.

* :class:`InnerProductDecoder` (Kipf & Welling 2016, "Variational graph auto-encoders"):
  :math:`s_{j \to i} = z_j^\top z_i`. Symmetric: it cannot tell :math:`j \to i` from
  :math:`i \to j`.
* :class:`DirectedInnerProductDecoder` (source and target embeddings, as in directed
  spectral embedding and DiGAE, Kollias et al. 2022): :math:`z = [u \,|\, v \,|\, a \,|\, b]`
  with :math:`u, v \in \mathbb R^d` and scalars :math:`a, b`;
  :math:`s_{j \to i} = u_j^\top v_i + a_j + b_i` (the biases carry out- and in-degree).
* :class:`GravityDecoder` (Salha et al. 2019, "Gravity-inspired graph autoencoders for
  directed link prediction"): :math:`z = [p \,|\, m]`, :math:`p \in \mathbb R^d` a position and
  :math:`m` a mass; :math:`s_{j \to i} = m_i - \lambda \log(\lVert p_j - p_i \rVert^2 + \epsilon)`:
  a massive target attracts edges from nearby sources.
"""

from __future__ import annotations

from torch import Tensor, nn

from ccnn._validation import check_real

__all__ = [
    "DECODERS",
    "DirectedInnerProductDecoder",
    "GravityDecoder",
    "InnerProductDecoder",
    "build_decoder",
]


class InnerProductDecoder(nn.Module):
    """:math:`s_{j \\to i} = z_j^\\top z_i` (symmetric). ``z``: (N, d)."""

    directed = False

    @staticmethod
    def input_dim(latent_dim: int) -> int:
        return latent_dim

    def forward(self, z: Tensor, edge_index: Tensor) -> Tensor:
        return (z[edge_index[0]] * z[edge_index[1]]).sum(-1)


class DirectedInnerProductDecoder(nn.Module):
    """:math:`s_{j \\to i} = u_j^\\top v_i + a_j + b_i`. ``z``: (N, 2d + 2) = ``[u | v | a | b]``."""

    directed = True

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    @staticmethod
    def input_dim(latent_dim: int) -> int:
        return 2 * latent_dim + 2

    def split(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(source (N, d), target (N, d), source bias (N,), target bias (N,))``."""
        d = self.latent_dim
        return z[:, :d], z[:, d : 2 * d], z[:, 2 * d], z[:, 2 * d + 1]

    def forward(self, z: Tensor, edge_index: Tensor) -> Tensor:
        source, target, out_bias, in_bias = self.split(z)
        j, i = edge_index
        return (source[j] * target[i]).sum(-1) + out_bias[j] + in_bias[i]

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}"


class GravityDecoder(nn.Module):
    """:math:`s_{j \\to i} = m_i - \\lambda \\log(\\lVert p_j - p_i \\rVert^2 + \\epsilon)`.
    ``z``: (N, d + 1) = ``[p | m]``."""

    directed = True

    def __init__(self, latent_dim: int, lam: float = 1.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.lam = check_real(lam, "lam", positive=True)
        self.eps = check_real(eps, "eps", positive=True)

    @staticmethod
    def input_dim(latent_dim: int) -> int:
        return latent_dim + 1

    def forward(self, z: Tensor, edge_index: Tensor) -> Tensor:
        position, mass = z[:, :-1], z[:, -1]
        j, i = edge_index
        distance2 = (position[j] - position[i]).pow(2).sum(-1)
        return mass[i] - self.lam * (distance2 + self.eps).log()

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}, lam={self.lam:g}"


#: Names accepted by :func:`build_decoder` (and ``GraphAutoEncoder(decoder=...)``).
DECODERS = ("inner", "directed", "gravity")


def build_decoder(name: str, latent_dim: int, **kwargs: float) -> nn.Module:
    """The decoder called ``name`` (one of :data:`DECODERS`) for ``latent_dim``-dimensional latents."""
    if name == "inner":
        return InnerProductDecoder()
    if name == "directed":
        return DirectedInnerProductDecoder(latent_dim)
    if name == "gravity":
        return GravityDecoder(latent_dim, **kwargs)
    raise ValueError(f"decoder: expected one of {DECODERS}, got {name!r}")
