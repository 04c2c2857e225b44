r"""The dynamics GNN's gradient route at speed: frames resident on the device, k Adam steps per
trainer step, the loss compiled.

The paper's route (``functions="mlp"``, ``init="random"``; Allier, Heinrich, Schneider &
Saalfeld, arXiv 2602.13325, 2026) fits the network by about 10⁶ Adam steps on batches of
B = 8 frames, each minimising

.. math::
    L = \frac{1}{BN}\sum_{b,i} \big(\hat{\dot x}_{bi} - \dot x_{bi}\big)^2
      + w_0 \frac1N \sum_i |\varphi(0, a_i)|
      + w_m \frac{1}{BN}\sum_{b,i} \mathrm{ReLU}\big(\psi(x_{bi}) - \psi(x_{bi} + \delta)\big)
      + w_1 \frac{1}{N^2}\sum_{ij} |W_{ij}|

(:func:`dynamics_loss`; the weights are the model's :class:`~.module.Schedule` s). At N = 1000
one step is an (8, N) @ (N, N) product and small MLPs over 8·N points: microseconds of GPU
work. A loop that builds every batch on the host, copies it over and logs every step spends
its time in Python instead (83 steps/s on an H200). :class:`ResidentEngine` takes those costs
out of the step:

* the training block is copied to the model's device once
  (:meth:`ccnn.data.ActivityDataModule.resident_training_frames`) and batches are drawn there
  (:class:`FrameSampler`: B frames uniformly with replacement, ``torch.randint`` on a device
  generator seeded from the run's seed and the rank);
* one trainer step runs ``steps_per_batch`` = k Adam steps (Lightning's manual optimisation),
  so Lightning's per-step work and the logging (the means of the loss terms over the k steps)
  are paid once per k steps; between them nothing is read back to the host;
* the loss, forward and backward (AOTAutograd), is compiled by :func:`torch.compile`
  (``compile_step``: ``"reduce-overhead"`` also replays it as CUDA graphs; ``"cuda-graph"``
  captures the whole step but Adam, the batch's gather included, as one CUDA graph), Adam is
  ``fused`` on CUDA; a mode that fails warns and falls back (:class:`ResidentEngine`);
* under DDP each rank draws from its own shard of the training block and
  ``manual_backward`` all-reduces the gradients at every step. The mean of the ranks' gradients
  is the gradient of the loss on their concatenated batches (every term is a mean over equal
  batches or independent of the batch), so R ranks with batch B step as one process with
  batch R·B.

A trainer step of this engine consumes one loader batch and ignores it (its cost, building 8
frames, is paid once per k steps), so an epoch of the loader is k times as many Adam steps as
loader batches; ``trainer.global_step`` counts Adam steps. The sampler's state is not
checkpointed: a resumed run draws other batches than an uninterrupted one.
"""

from __future__ import annotations

import time
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from ccnn._validation import check_choice, check_int, describe

__all__ = [
    "COMPILE_MODES",
    "ENGINES",
    "LOSS_TERMS",
    "FrameSampler",
    "ResidentEngine",
    "adam_options",
    "configure_engine",
    "dynamics_loss",
    "resident_training_step",
    "sampler_seed",
]

#: ``engine``: "loader" (one Adam step per loader batch, automatic optimisation) or "resident".
ENGINES = ("loader", "resident")
#: ``compile_step`` (:class:`ResidentEngine`): "auto" is "reduce-overhead" on CUDA and "off"
#: elsewhere (on the CPU compiling takes ~30 s and made the step slower:
#: ``benchmarks/dynamics_gnn_mlp_speed.py --compile``).
COMPILE_MODES = ("auto", "off", "default", "reduce-overhead", "cuda-graph")
#: The loss terms, in the order of :func:`dynamics_loss` and of the engine's loss vector.
LOSS_TERMS = ("derivative", "phi_zero", "monotone", "l1")


def dynamics_loss(
    network, x: Tensor, target: Tensor, stimulus: Tensor | None, weights: Mapping[str, float | Tensor]
) -> tuple[Tensor, dict[str, Tensor]]:
    """The prediction (B, N) and the weighted loss terms of the module docstring.

    ``weights`` maps the regularisers to include ("phi_zero", "monotone", "l1") to their
    weights (numbers or 0-d tensors); an absent one is not computed. The terms come in the
    order of :data:`LOSS_TERMS`; the loss is their sum.
    """
    prediction = network(x, stimulus)
    terms = {"derivative": F.mse_loss(prediction, target)}
    if "phi_zero" in weights:
        terms["phi_zero"] = weights["phi_zero"] * network.phi_at_zero()
    if "monotone" in weights:
        terms["monotone"] = weights["monotone"] * network.psi_monotonicity(x)
    if "l1" in weights:
        terms["l1"] = weights["l1"] * network.weight_l1()
    return prediction, terms


def sampler_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s frame sampler in a run seeded with ``seed``: independent
    streams per rank (``numpy.random.SeedSequence``), the same on every rerun."""
    state = np.random.SeedSequence([int(seed) % 2**64, int(rank)]).generate_state(1, np.uint64)[0]
    return int(state) & (2**63 - 1)


class FrameSampler:
    """Batches of frames drawn on the frames' device: B frames uniformly, with replacement.

    Args:
        frames: per-frame tensors on one device with a common first dimension T (those of
            :meth:`ccnn.data.ActivityDataModule.resident_training_frames`; ``positions``,
            which is per neuron, is left out).
        batch_size: B.
        seed: the generator's seed (see :func:`sampler_seed`).

    ``draw(k)`` returns, for every per-frame tensor, the (k, B, ...) values of k batches; it
    launches one ``randint`` and one gather per tensor and never synchronises with the host.
    """

    def __init__(self, frames: Mapping[str, Tensor], batch_size: int, seed: int) -> None:
        self.batch_size = check_int(batch_size, "batch_size", minimum=1)
        self.frames = {name: value for name, value in frames.items() if name != "positions"}
        if "x" not in self.frames:
            raise ValueError(f"frames: expected a dict with 'x' (and 'target'), got keys {sorted(frames)}")
        self.n_frames = len(self.frames["x"])
        if self.n_frames < 1:
            raise ValueError("frames: expected at least one frame, got an empty 'x'")
        for name, value in self.frames.items():
            if len(value) != self.n_frames or value.device != self.frames["x"].device:
                raise ValueError(
                    f"frames: {name!r} has {len(value)} frames on {value.device}, expected "
                    f"{self.n_frames} on {self.frames['x'].device} (as 'x')"
                )
        self.device = self.frames["x"].device
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(seed)

    def indices(self, steps: int) -> Tensor:
        """(steps, B) frame positions (rows of the resident tensors), on the device."""
        return torch.randint(
            self.n_frames, (steps, self.batch_size), generator=self.generator, device=self.device
        )

    def draw(self, steps: int) -> dict[str, Tensor]:
        index = self.indices(steps)
        return {name: value[index] for name, value in self.frames.items()}


def _resolve_mode(mode: str, device: torch.device, capturable: bool = True) -> str:
    """The mode that runs: CUDA graphs need CUDA (elsewhere the compiled kernels still help), and
    the whole-step graph needs one process and a precision without loss scaling."""
    if mode == "auto":
        return "reduce-overhead" if device.type == "cuda" else "off"
    if mode in ("reduce-overhead", "cuda-graph") and device.type != "cuda":
        return "default"
    if mode == "cuda-graph" and not capturable:
        return "reduce-overhead"
    return mode


class _CudaGraphs:
    """The CUDA calls of the whole-step graph (replaced by an eager stand-in in CPU tests)."""

    @staticmethod
    @contextmanager
    def side_stream() -> Iterator[None]:
        # warm-up off the current stream, as the documentation of CUDA graphs in torch does it
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            yield
        torch.cuda.current_stream().wait_stream(stream)

    @staticmethod
    def capture(body: Callable[[], None], parameters: list[Tensor]) -> Callable[[], None]:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            body()
        return graph.replay


#: Adam steps taken eagerly (compiling the loss, setting up autograd and cuBLAS) before a capture.
GRAPH_WARMUP = 3


class ResidentEngine:
    """k Adam steps of the dynamics GNN on batches drawn from device-resident frames.

    Args:
        module: a :class:`~.module.DynamicsGNN` (its ``network``, ``weights`` schedules and,
            for a learned Ω*, ``stimulus_field`` / ``learned_stimulus``).
        frames: the resident training frames (:meth:`ccnn.data.ActivityDataModule.resident_training_frames`),
            moved here to the module's device and floating dtype.
        batch_size: frames per Adam step.
        seed: the sampler's seed (:func:`sampler_seed`).
        compile_mode: one of :data:`COMPILE_MODES`:

            * ``"off"``: the eager loss;
            * ``"default"``: the loss compiled by inductor (fused kernels);
            * ``"reduce-overhead"``: and replayed as CUDA graphs (forward and backward; the
              optimizer and, under DDP, the all-reduce stay outside);
            * ``"cuda-graph"``: the whole step but the optimizer (the batch's gather, the
              compiled loss, the backward and the running sums of the terms) captured as one
              CUDA graph after :data:`GRAPH_WARMUP` eager steps, replayed once per Adam step; the
              gradients stay in the graph's buffers (nothing may set them to None: the engine
              captures again if something does). One process only, no loss scaling
              (``capturable``), else "reduce-overhead";
            * ``"auto"``: "reduce-overhead" on CUDA, "off" elsewhere.

            A mode that fails warns and falls back ("cuda-graph" to "reduce-overhead", the others
            to "off"), keeping the steps already taken.
        capturable: whether the whole-step graph may be used (see above).

    :meth:`run` needs only an optimizer and a backward function, so the engine also runs
    without a trainer (``benchmarks/dynamics_gnn_gpu.py`` times it that way).
    """

    graphs = _CudaGraphs

    def __init__(
        self,
        module,
        frames: Mapping[str, Tensor],
        *,
        batch_size: int,
        seed: int,
        compile_mode: str = "auto",
        capturable: bool = True,
    ) -> None:
        parameter = next(module.network.parameters())
        device, dtype = parameter.device, parameter.dtype
        moved = {
            name: value.to(device, dtype if value.is_floating_point() else None)
            for name, value in frames.items()
        }
        self.module = module
        self.sampler = FrameSampler(moved, batch_size, seed)
        self.positions = moved.get("positions")
        if module.stimulus_field is not None and (self.positions is None or "frame" not in moved):
            raise ValueError(
                "frames: a learned stimulus needs 'frame' and 'positions' in the resident frames"
            )
        if "target" not in moved:
            raise ValueError(f"frames: expected 'x' and 'target', got keys {sorted(moved)}")
        # What the loss reads per frame: the recorded stimulus, or the frame index of a learned one.
        learned = module.stimulus_field is not None
        wanted = ("x", "target", None if learned else "stimulus", "frame" if learned else None)
        self.inputs = tuple(name if name in moved else None for name in wanted)
        # Regularisers whose schedule is ever non-zero are computed at every step, weighted by a
        # device tensor (0 before their start): the compiled loss never changes its graph.
        self.active = tuple(name for name in LOSS_TERMS[1:] if module.weights[name].value > 0)
        self.terms = ("derivative", *self.active)
        self.weight_values = torch.zeros(len(self.active), device=device, dtype=dtype)
        self._weights_epoch: int | None = None
        self.requested_mode = check_choice(compile_mode, "compile_step", COMPILE_MODES)
        self.compile_mode = _resolve_mode(compile_mode, device, capturable)
        self._loss = self._compiled(self.compile_mode)
        self._total = torch.zeros(len(self.terms) + 1, device=device, dtype=dtype)
        self._index = torch.zeros(batch_size, device=device, dtype=torch.long)  # the graph's batch
        self._replay: Callable[[], None] | None = None
        self._graph_grads: list[tuple[Tensor, Tensor | None]] = []
        self.steps = 0

    def __deepcopy__(self, memo: dict) -> None:
        # A copy of the model (or a pickle of it) gets no engine: compiled functions and CUDA
        # graphs do not copy, and the copy builds its own at its first resident training step.
        return None

    def __reduce__(self):
        return (type(None), ())

    def _compiled(self, mode: str) -> Callable[..., Tensor]:
        if mode == "off":
            return self.loss_vector
        # the whole-step graph captures inductor's kernels itself
        inner = None if mode in ("default", "cuda-graph") else mode
        return torch.compile(self.loss_vector, mode=inner, dynamic=False)

    # ------------------------------------------------------------------ the loss
    def loss_vector(
        self, x: Tensor, target: Tensor, stimulus: Tensor | None, frame: Tensor | None, weights: Tensor
    ) -> Tensor:
        """[loss, *terms] for one batch (x, target (B, N)): what is compiled."""
        module = self.module
        if module.stimulus_field is not None:
            stimulus = module.learned_stimulus(frame, self.positions)
        _, terms = dynamics_loss(
            module.network, x, target, stimulus, dict(zip(self.active, weights.unbind(), strict=True))
        )
        values = torch.stack(list(terms.values()))
        return torch.cat([values.sum().unsqueeze(0), values])

    def set_epoch(self, epoch: int) -> None:
        """The regularisers' weights at ``epoch`` (written on the device only when they change)."""
        if epoch == self._weights_epoch:
            return
        for i, name in enumerate(self.active):
            self.weight_values[i].fill_(self.module.weights[name].at(epoch))
        self._weights_epoch = epoch

    def _fall_back(self, error: BaseException) -> None:
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        fallback = "reduce-overhead" if self.compile_mode == "cuda-graph" else "off"
        warnings.warn(
            f"compile_step: {self.compile_mode!r} failed ({type(error).__name__}: {first_line[:300]}); "
            f"training continues with {fallback!r}",
            RuntimeWarning,
            stacklevel=4,
        )
        self._replay, self._graph_grads = None, []
        self.compile_mode = fallback
        self._loss = self._compiled(fallback)

    def _batch(self, index: Tensor) -> tuple[Tensor | None, ...]:
        frames = self.sampler.frames
        return tuple(None if name is None else frames[name].index_select(0, index) for name in self.inputs)

    # ------------------------------------------------------------------ the steps
    def run(self, steps: int, optimizer, backward: Callable[[Tensor], Any] = Tensor.backward) -> Tensor:
        """``steps`` Adam steps, each on a freshly drawn batch; returns the mean over them of
        [loss, *terms] (a device tensor: reading it is the only synchronisation).

        ``optimizer`` needs ``zero_grad()`` and ``step()`` (a torch optimizer or Lightning's
        wrapper); ``backward`` takes the loss (``module.manual_backward`` under Lightning,
        which all-reduces the gradients under DDP; the whole-step graph calls the loss's
        ``backward`` inside the graph instead).
        """
        steps = check_int(steps, "steps", minimum=1)
        index = self.sampler.indices(steps)
        self._total.zero_()
        done = self._graph_steps(index, optimizer) if self.compile_mode == "cuda-graph" else 0
        for s in range(done, steps):
            optimizer.zero_grad()
            values = self._forward_backward(self._batch(index[s]), backward)
            optimizer.step()
            self._total += values.detach()
        self.steps += steps
        return self._total / steps

    def _forward_backward(self, batch: tuple, backward: Callable[[Tensor], Any]) -> Tensor:
        try:
            if self.compile_mode == "reduce-overhead":
                # a new training iteration: outputs of the previous replay may be overwritten
                torch.compiler.cudagraph_mark_step_begin()
            values = self._loss(*batch, self.weight_values)
            backward(values[0])
        except Exception as error:  # compilers raise many types; eager errors are re-raised
            if self.compile_mode == "off":
                raise
            self._fall_back(error)
            return self._forward_backward(batch, backward)
        return values

    def _graph_body(self) -> None:
        values = self._loss(*self._batch(self._index), self.weight_values)
        values[0].backward()
        self._total.add_(values.detach())

    def _graph_intact(self, parameters: list[Tensor]) -> bool:
        """A graph was captured and every parameter's gradient is still the graph's buffer."""
        if self._replay is None or len(self._graph_grads) != len(parameters):
            return False
        return all(p.grad is g for p, g in self._graph_grads)

    def _graph_steps(self, index: Tensor, optimizer) -> int:
        """Adam steps by the whole-step graph (capturing it first when needed); the number taken."""
        parameters = [p for group in optimizer.param_groups for p in group["params"]]
        done = 0
        try:
            if not self._graph_intact(parameters):
                with self.graphs.side_stream():
                    for s in range(min(GRAPH_WARMUP, len(index))):
                        optimizer.zero_grad(set_to_none=True)
                        self._index.copy_(index[s])
                        self._graph_body()
                        optimizer.step()
                        done += 1
                # Gradients set to None: the captured backward allocates the ones it rewrites.
                optimizer.zero_grad(set_to_none=True)
                self._replay = self.graphs.capture(self._graph_body, parameters)
                self._graph_grads = [(p, p.grad) for p in parameters]
            for s in range(done, len(index)):
                self._index.copy_(index[s])
                self._replay()
                optimizer.step()
                done += 1
        except Exception as error:
            self._fall_back(error)
        return done


# ---------------------------------------------------------------------- the module's side
def configure_engine(module) -> None:
    """Check the engine's hyperparameters and switch the module to manual optimisation for the
    resident engine (called by ``configure_optimizers``, so at the start of every fit)."""
    hp = module.hparams
    engine = check_choice(hp.get("engine", "loader"), "engine", ENGINES)
    check_int(hp.get("steps_per_batch", 1), "steps_per_batch", minimum=1)
    check_choice(hp.get("compile_step", "auto"), "compile_step", COMPILE_MODES)
    module.automatic_optimization = engine != "resident"
    trainer = module._trainer
    if engine == "resident" and trainer is not None:
        # Lightning checked these before the switch to manual optimisation: check them here.
        if trainer.gradient_clip_val:
            raise ValueError(
                "engine: the resident engine does not clip gradients; got "
                f"trainer.gradient_clip_val={trainer.gradient_clip_val!r} (remove it or use engine='loader')"
            )
        if trainer.accumulate_grad_batches != 1:
            raise ValueError(
                "engine: the resident engine takes one Adam step per batch; got "
                f"trainer.accumulate_grad_batches={trainer.accumulate_grad_batches!r} (use a larger "
                "data batch_size instead)"
            )


def adam_options(module) -> dict[str, Any]:
    """Adam's implementation: ``fused`` (one kernel for all parameters) when every parameter is a
    floating CUDA tensor, else PyTorch's default."""
    parameters = list(module.parameters())
    if parameters and all(p.is_cuda and p.is_floating_point() for p in parameters):
        return {"fused": True}
    return {}


def _engine_for(module) -> ResidentEngine:
    trainer = module.trainer
    datamodule = getattr(trainer, "datamodule", None)
    if datamodule is None or not hasattr(datamodule, "resident_training_frames"):
        raise ValueError(
            "engine: 'resident' needs a datamodule with resident_training_frames() (an "
            f"ActivityDataModule), got {describe(datamodule)}"
        )
    key = (module.device, trainer.global_rank, trainer.world_size, datamodule.batch_size)
    engine = getattr(module, "_resident_engine", None)
    if engine is not None and engine.key == key and engine.datamodule() is datamodule:
        return engine
    started = time.perf_counter()
    frames = datamodule.resident_training_frames(
        module.device, rank=trainer.global_rank, world=trainer.world_size
    )
    engine = ResidentEngine(
        module,
        frames,
        batch_size=datamodule.batch_size,
        seed=sampler_seed(torch.initial_seed(), trainer.global_rank),
        compile_mode=module.hparams.get("compile_step", "auto"),
        # the whole-step graph bypasses manual_backward: no DDP all-reduce, no loss scaling
        capturable=trainer.world_size == 1 and str(trainer.precision) in ("32-true", "64-true"),
    )
    engine.key, engine.datamodule = key, weakref.ref(datamodule)
    module._resident_engine = engine
    rank_zero_info(
        f"resident engine: {engine.sampler.n_frames} training frames per rank on {module.device} "
        f"({time.perf_counter() - started:.1f} s), {module.hparams.get('steps_per_batch', 1)} Adam steps of "
        f"batch {datamodule.batch_size} per trainer step, compile {engine.compile_mode!r}"
    )
    return engine


def resident_training_step(module) -> Tensor:
    """A trainer step of the resident engine: ``steps_per_batch`` Adam steps; logs the means of
    ``train/loss`` and each ``train/<term>`` over them; returns the mean loss (detached)."""
    engine = _engine_for(module)
    engine.set_epoch(module.current_epoch)
    means = engine.run(module.hparams.get("steps_per_batch", 1), module.optimizers(), module.manual_backward)
    batch_size = engine.sampler.batch_size
    for name, value in zip(("loss", *engine.terms), means.unbind(), strict=True):
        module.log(f"train/{name}", value, prog_bar=name == "loss", batch_size=batch_size)
    return means[0]
