"""The closed-form solvers on the input's device, and their memory-bounded routes (issue 17)."""

import dataclasses
import itertools

import pytest
import torch
from test_library_regression import PHI, PSI, normalised_truth, planted
from test_stimulus_regression import planted as planted_stimulus

from ccnn.models.dynamics_gnn.solvers.library_regression import (
    _Applied,
    _lifted_bytes,
    _Normal,
    _normal_equations,
    _solve_lifted,
    available_memory,
    regress_dynamics,
)
from ccnn.models.dynamics_gnn.solvers.stimulus_regression import regress_stimulated_dynamics
from ccnn.nn.function_library import FunctionLibrary

F64 = torch.float64
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

#: regress_dynamics options that reach every route: the lifted rank-1 factor, the searches
#: after it (rank1_tolerance=0 forces them) and the search that replaces it (memory_limit).
ROUTES = {
    "lifted": {},
    "lifted, per sender": {"per_sender_psi": True},
    "shared search": {"rank1_tolerance": 0.0},
    "per-sender search": {"per_sender_psi": True, "rank1_tolerance": 0.0},
    "memory-bounded search": {"memory_limit": 1 << 20},
}


def tensors(result) -> dict[str, torch.Tensor]:
    """Every tensor field of a solver result (nested: StimulusRegression.dynamics)."""
    found = {}
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if isinstance(value, torch.Tensor):
            found[field.name] = value
        elif dataclasses.is_dataclass(value):
            found.update({f"{field.name}.{k}": v for k, v in tensors(value).items()})
    return found


@pytest.mark.parametrize("route", ROUTES)
def test_no_tensor_is_created_off_the_input_device(route):
    """Under a meta default device every factory call without ``device=`` makes a meta tensor,
    which fails as soon as it meets the (CPU) data: what a CPU tensor next to CUDA data does
    on a GPU. So this catches, without a GPU, each tensor that would not follow the input."""
    x, y, *_ = planted(n=8, frames=600, per_sender="per sender" in route)
    with torch.device("meta"):
        result = regress_dynamics(x, y, phi_terms=PHI, psi_terms=PSI, prune=0.01, **ROUTES[route])
    assert {t.device for t in tensors(result).values()} == {torch.device("cpu")}


def test_stimulus_regression_creates_no_tensor_off_the_input_device():
    x, y, _, _, positions = planted_stimulus(n=12, side=2, frames=600)
    frames = torch.arange(len(x))
    with torch.device("meta"):
        result = regress_stimulated_dynamics(
            x, y, frames, positions, phi_terms=PHI, psi_terms=PSI, bin_frames=20, prune=0,
            max_steps=3, neighbours=2, progress=False,
        )  # fmt: skip
        derived = [result.at(frames[:10], x.shape[1]), result.bin_centres(), result.bin_of(frames[:10])]
    assert {t.device for t in [*tensors(result).values(), *derived]} == {torch.device("cpu")}


@CUDA
@pytest.mark.parametrize("route", ROUTES)
def test_cuda_matches_cpu(route):
    x, y, *_ = planted(n=12, frames=3000, per_sender="per sender" in route)
    options = {"phi_terms": PHI, "psi_terms": PSI, "prune": 0.01, **ROUTES[route]}
    on_cpu = regress_dynamics(x, y, **options)
    on_cuda = regress_dynamics(x.cuda(), y.cuda(), **options)
    gpu = tensors(on_cuda)
    assert {t.device.type for t in gpu.values()} == {"cuda"}
    for name, value in tensors(on_cpu).items():
        torch.testing.assert_close(gpu[name].cpu(), value, rtol=1e-6, atol=1e-6 * float(value.abs().max()))
    assert on_cuda.derivative_r2 == pytest.approx(on_cpu.derivative_r2, rel=1e-6)


@CUDA
def test_stimulus_regression_cuda_matches_cpu():
    x, y, _, _, positions = planted_stimulus()
    options = {"phi_terms": PHI, "psi_terms": PSI, "bin_frames": 20, "prune": 0, "max_steps": 200}
    options.update(tolerance=1e-9, neighbours=1, progress=False)
    frames = torch.arange(len(x))
    on_cpu = regress_stimulated_dynamics(x, y, frames, positions, **options)
    on_cuda = regress_stimulated_dynamics(x.cuda(), y.cuda(), frames, positions, **options)
    gpu = tensors(on_cuda)
    assert {t.device.type for t in gpu.values()} == {"cuda"}
    for name, value in tensors(on_cpu).items():
        torch.testing.assert_close(gpu[name].cpu(), value, rtol=1e-6, atol=1e-6 * float(value.abs().max()))


@pytest.mark.parametrize("per_sender", [False, True])
def test_memory_limit_chooses_the_route(per_sender):
    """Below the lifted solve's estimate a shared ψ is searched from single library terms,
    which recovers a planted one-term ψ exactly without the lifted solve; one ψ per sender,
    which needs the lifted solve, says what to change."""
    x, _, w, phi, psi = planted(per_sender=per_sender)
    if not per_sender:
        psi = torch.tensor([[0.0, 1.0]], dtype=F64)  # ψ = tanh(x/2): a single library term
    y = (FunctionLibrary(PHI)(x) * phi).sum(-1) + (FunctionLibrary(PSI)(x) * psi).sum(-1) @ w.T
    n, k = x.shape[1], len(PSI)
    # Terms: K = K' = 2 ψ directions, one φ term ("x") outside ψ's library, 3 in the union;
    # frame blocks of 2048 frames, halved down to 256 before the lifted solve is given up.
    roomy_bytes, smallest = _lifted_bytes(n, k, k, 1, 3, 2048), _lifted_bytes(n, k, k, 1, 3, 256)
    assert smallest < roomy_bytes
    options = {"phi_terms": PHI, "psi_terms": PSI, "per_sender_psi": per_sender, "prune": 0}
    roomy = regress_dynamics(x, y, memory_limit=roomy_bytes, **options)
    smaller_blocks = regress_dynamics(x, y, memory_limit=smallest, **options)
    for result in (roomy, smaller_blocks):
        assert result.psi_source == "lifted" and result.rank1_residual < 1e-12
    if per_sender:
        with pytest.raises(MemoryError, match="memory_limit"):
            regress_dynamics(x, y, memory_limit=smallest - 1, **options)
        return
    tight = regress_dynamics(x, y, memory_limit=smallest - 1, **options)
    assert tight.psi_source == "search" and tight.rank1_residual != tight.rank1_residual  # NaN
    true_w, true_psi = normalised_truth(x, w, psi)
    for result in (roomy, smaller_blocks, tight):
        torch.testing.assert_close(result.weight, true_w, atol=1e-6, rtol=1e-6)
        torch.testing.assert_close(result.psi, true_psi[0], atol=1e-7, rtol=1e-6)
        torch.testing.assert_close(result.phi[:, [2, 0]], phi, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("limit", [0, -5, 2.5e9, True, "1GB"])
def test_bad_memory_limit_is_named(limit):
    x, y, *_ = planted(n=4, frames=100)
    with pytest.raises(ValueError, match="memory_limit"):
        regress_dynamics(x, y, phi_terms=PHI, psi_terms=PSI, memory_limit=limit)


def test_derivative_on_another_device_than_activity_is_named():
    x, y, *_ = planted(n=4, frames=100)
    with pytest.raises(ValueError, match="derivative: expected a tensor on activity's device"):
        regress_dynamics(x, y.to("meta"), phi_terms=PHI, psi_terms=PSI)


def test_available_memory_is_a_plausible_byte_count():
    free = available_memory("cpu")
    assert isinstance(free, int)
    with open("/proc/meminfo") as file:
        total = int(next(line for line in file if line.startswith("MemTotal:")).split()[1]) * 1024
    assert 0 < free <= total


def test_gram_upper_blocks_mirrored_equal_the_full_product():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 7, generator=g, dtype=F64)
    library = FunctionLibrary(["x", "tanh(x)", "tanh(x/2)"])
    eq = _normal_equations(x, x, library, 3, None, 64)
    design = library(x).permute(0, 2, 1).reshape(300, 21)  # column k·N + j
    torch.testing.assert_close(eq.gram, design.T @ design, rtol=1e-12, atol=1e-12)


def random_equations(seed: int, frames=60, columns=9, receivers=4, own=3):
    """Normal equations of random designs: shared F (T × C), own E_i (T × M) per receiver."""
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(frames, columns, generator=g, dtype=F64)
    e = torch.randn(frames, receivers, own, generator=g, dtype=F64)
    y = torch.randn(frames, receivers, generator=g, dtype=F64)
    eq = _Normal(
        gram=f.T @ f,
        cross_y=f.T @ y,
        cross_e=torch.einsum("tc,trm->mcr", f, e),
        e_gram=torch.einsum("trm,trl->rml", e, e),
        e_y=torch.einsum("trm,tr->rm", e, y),
        y_sq=(y * y).sum(0),
    )
    return eq, f, e, y


def least_squares(f, e, y, receiver, keep):
    design = torch.cat([f, e[:, receiver, keep]], 1)
    solution = torch.linalg.lstsq(design, y[:, receiver]).solution
    return solution, float(((y[:, receiver] - design @ solution) ** 2).sum())


def test_in_place_lifted_solve_matches_per_receiver_least_squares():
    eq, f, e, y = random_equations(1)
    factor = torch.linalg.cholesky(eq.gram)
    coef = _solve_lifted(eq, factor, ridge=0.0)
    assert coef.data_ptr() == eq.cross_y.data_ptr()  # written over the right-hand sides
    for receiver in range(y.shape[1]):
        solution, _ = least_squares(f, e, y, receiver, [0, 1, 2])
        torch.testing.assert_close(coef[:, receiver], solution[: f.shape[1]], rtol=1e-9, atol=1e-10)


def test_term_subsets_match_per_receiver_least_squares():
    """Backward elimination solves every subset of the own terms from one application of
    the inverse Gram matrix; each must equal a least-squares fit with only those terms."""
    eq, f, e, y = random_equations(2)
    applied = _Applied.build(eq, lambda rhs: torch.cholesky_solve(rhs, torch.linalg.cholesky(eq.gram)))
    for size in range(4):
        for keep in map(list, itertools.combinations(range(3), size)):
            own, sse = applied.solve(keep, ridge=0.0)
            coef = applied.senders(keep, own)
            for receiver in range(y.shape[1]):
                solution, expected = least_squares(f, e, y, receiver, keep)
                torch.testing.assert_close(coef[:, receiver], solution[: f.shape[1]], rtol=1e-9, atol=1e-10)
                torch.testing.assert_close(own[receiver], solution[f.shape[1] :], rtol=1e-9, atol=1e-10)
                assert float(sse[receiver]) == pytest.approx(expected, rel=1e-9)
