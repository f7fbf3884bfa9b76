"""Which cuDNN library generation prices a recurrence's STANDARD steps: the stack a user runs.

The fitted cuDNN model (:mod:`costmodel.implementations.cudnn_rnn`) rests on Baidu DeepBench's
sheets: cuDNN 5 (Maxwell), 6 (Pascal) and 7.6.2 (V100, 2019). Its per-step floor on Volta is
36k cycles (about 24 us on a V100, 26 us on an A100 that borrows Volta's set), and its
wavefront charges ONE floor per diagonal step for all L layers (their cells side by side).

The only public cuDNN 8 STANDARD timings, the BEFORE column of PyTorch PR #62143's benchmark
(``costmodel/data/reference/xwang233-cudnn-small-h.json``, :mod:`costmodel.reference.
xwang233_standard`), disagree on both counts, on a GPU the benchmark does NOT name: one-layer
steps of 8-14 us, and steps that grow about linearly with the layers (7.9, 15.4, 21.4, 28.2 us
per step for 1-4 layers). No named GPU with cuDNN >= 8 was found (docs/validation.md lists what
was checked). Three choices:

    auto       (default) what PyTorch can run on the device: ``pr62143`` on the architectures
               no cuDNN before 8.0 supports (:data:`CUDNN8_ONLY`), ``deepbench`` on the older
               ones, whose floors were measured there (with cuDNN 5-7.6)
    deepbench  the fitted DeepBench floors, one per wavefront diagonal step
    pr62143    the floor x ``floor_scale`` (per phase), paid once per layer of a wavefront
               diagonal and once per direction of a bidirectional layer: fitted by ``python -m costmodel.reference.fit xwang233-standard`` on
               the unnamed GPU's STANDARD rows priced as an A100 (the assumption it rests on)

Why ``auto`` is not ``deepbench`` everywhere: on an A100 or H100 the DeepBench-era stack is a
library that cannot run there (Ampere support arrived with cuDNN 8.0.0, Ada and Hopper with
8.6; NVIDIA cuDNN release notes / support matrix), and both cuDNN 8 sources disagree with its
floors on every catalogue GPU they are priced on (docs/validation.md, "which cuDNN
generation"): an evidence-backed model of the stack that exists beats a fitted model of one
that does not. On Maxwell/Pascal/Volta/Turing the DeepBench floors are measurements of those
chips and stay the default.

Directions (since session 9): PR #62143's rows are all unidirectional. The pr62143 stack
first paid one floor for a bidirectional layer's two directions (side by side, like
DeepBench's), and now pays one per direction, as it pays one per wavefront layer: the named
measurements of cuDNN 8/9 find a bidirectional layer taking twice a unidirectional one, not
the work-only increment: the session-6 H200 (``h200-cudnn-rnn``, its bidirectional rows 82 %
too fast before) and, out of sample, KernelBench's 6-layer LSTM/GRU on seven named GPUs
(``kernelbench-rnn``: measured bidirectional / unidirectional 1.5-2.5, median 2.0). A floor is the
issue cost of a step's kernels (docs/validation.md, "Where an H200 call's time goes"), and
one host thread issues both directions' kernels.

Only the step floor changes: the step GEMM, the per-batch terms, the call cost, the bulk GEMMs
and the small-h share are the same in both (a test checks the option moves nothing else).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

FITTED = "cudnn_stack"  # costmodel/data/fitted/<FITTED>.toml
AUTO = "auto"
DEEPBENCH = "deepbench"
CUDNN8 = "pr62143"
DEFAULT = AUTO
STACKS = (AUTO, DEEPBENCH, CUDNN8)
#: architectures that no cuDNN before 8.0 runs on (Ampere: cuDNN 8.0.0; Ada, Hopper: 8.6.0,
#: NVIDIA cuDNN release notes; Blackwell: no cuDNN 8 at all, 9.x only): ``auto`` prices them
#: with the cuDNN 8 stack (Blackwell's step floor is an extrapolation: no cuDNN RNN timing of
#: a Blackwell GPU was found beyond KernelBench's B200 rows, scored in docs/validation.md)
CUDNN8_ONLY = ("ampere", "ada", "hopper", "blackwell")
PHASES = ("forward", "backward_data")  # the calls with dependent steps
NOTES = {
    "deepbench": "DeepBench-era stack (cuDNN 5-7.6): fitted floors, one per wavefront "
                 "diagonal step",
    "pr62143": "cuDNN 8 stack as PR #62143's STANDARD timings show it on an UNNAMED GPU "
               "(priced as an A100): floor x {forward:.3g} forward, x {backward_data:.3g} "
               "backward, one per layer of a wavefront step and per direction",
}
#: what the one named-GPU measurement of a newer cuDNN says of the pr62143 stack's times
#: (docs/validation.md, "GPU, measured: one named H200"; reference source h200-cudnn-rnn)
MEASURED_CAVEAT = ("; measured on an H200 (cuDNN 9.19, cloud VM) the calls ran host-bound: "
                   "these times 18-25 % low at n 512, up to 2x low at 50 steps (--host: a "
                   "profile calibrated there bounds them by its host)")


@dataclass(frozen=True)
class StackParams:
    """The step floor of one library generation: ``floor_scale`` per phase (of the fitted
    DeepBench floor), paid by each layer of a wavefront step."""

    name: str
    floor_scale: dict


def check_stack(stack: str) -> str:
    """``stack`` if it is one of :data:`STACKS`, else a ValueError naming them."""
    if stack not in STACKS:
        raise ValueError(f"cudnn_stack={stack!r} is not one of {', '.join(STACKS)}")
    return stack


@lru_cache(maxsize=1)
def fitted_table() -> dict:
    """``costmodel/data/fitted/cudnn_stack.toml``'s ``[params.<phase>]`` tables."""
    path = resources.files("costmodel").joinpath("data", "fitted", f"{FITTED}.toml")
    return tomllib.loads(path.read_text(encoding="utf-8"))["params"]


def resolve(stack: str, hw) -> str:
    """The stack that prices ``hw``: ``stack`` itself, or for ``auto`` the cuDNN 8 stack on
    :data:`CUDNN8_ONLY` architectures and the DeepBench one elsewhere."""
    if check_stack(stack) != AUTO:
        return stack
    return CUDNN8 if getattr(hw, "architecture", "") in CUDNN8_ONLY else DEEPBENCH


def params_of(stack: str, table: dict | None = None) -> StackParams | None:
    """The :class:`StackParams` of a resolved ``stack`` (None: the DeepBench floors as
    fitted); ``table``: a fit's ``{phase: {"floor_scale": x}}`` in place of the fitted file's."""
    if check_stack(stack) == AUTO:
        raise ValueError("cudnn_stack='auto' names no floors: resolve it for a device first")
    if stack == DEEPBENCH:
        return None
    table = fitted_table() if table is None else table
    return StackParams(stack, {p: float(table[p]["floor_scale"]) for p in PHASES})


def floor_factor(stack: StackParams | None, call: str, copies) -> np.ndarray:
    """What multiplies the fitted step floor of a ``call``'s step: 1 for the DeepBench stack;
    ``floor_scale`` times the step's ``copies`` (a kernel's ``concurrent``: the layers of a
    wavefront diagonal, or the two directions of a bidirectional layer) else: each copy's
    kernels are issued one after another, so each pays its floor (the module docstring, "Directions")."""
    if stack is None:
        return np.ones(())
    return stack.floor_scale[call] * np.asarray(copies, dtype=float)


def note(stack: str, hw=None) -> str:
    """One line for ``compare``: the stack assumed on ``hw`` and what it rests on."""
    used = resolve(stack, hw)
    text = (NOTES[DEEPBENCH] if used == DEEPBENCH
            else NOTES[used].format(**params_of(used).floor_scale))
    if stack == AUTO:
        why = ("no cuDNN before 8.0 runs on " if used == CUDNN8 else "measured on ")
        text += f" (auto: {why}{getattr(hw, 'architecture', '') or 'this device'})"
    return text + (MEASURED_CAVEAT if used == CUDNN8 else "")
