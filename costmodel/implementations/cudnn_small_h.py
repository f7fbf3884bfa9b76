"""cuDNN's CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H step, relative to the STANDARD step
(:mod:`costmodel.implementations.cudnn_rnn` prices a step whose algorithm resolves to it).

The only public timings of that algorithm are the benchmark of PyTorch PR #62143
(``costmodel/data/reference/xwang233-cudnn-small-h.json``): the same modules timed with
ALGO_STANDARD (BEFORE) and PERSIST_STATIC_SMALL_H (AFTER) on one GPU that is not named. So the
step is priced relative to the STANDARD step the fitted model prices on the device:

    small-h step = step_ratio x STANDARD step (its floor, per-batch terms and GEMM)
                 + work_factor x the step's FLOPs at the device's cuDNN math peak

the persistent kernel's share of a step and its own work, serial with it (the measured ratio
grows with batch x G*H*H: an LSTM at H = 112 and batch 55 keeps 0.5 of the STANDARD step, at
H = 40 and batch 3 0.09), both per phase and class: ``on_chip`` where the recurrent weights
W_hh (G*H x H elements) number at most ``on_chip_max_elements``, else ``spilled``. The
measured AFTER/BEFORE ratio is 0.03-0.5 for W_hh up to 65,536 elements (an LSTM up to H =
128, an RNN up to H = 256, PyTorch's backward limits) and about 1 above (0.8-1.3; an LSTM at
batch 44-62 2-5x slower). The boundary and the eight terms are fitted by ``python -m
costmodel.reference.fit xwang233-small-h`` into ``costmodel/data/fitted/cudnn_small_h.toml``:
device-independent only as far as the ratio is (GPU not stated).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Mapping

import numpy as np

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

FITTED = "cudnn_small_h"  # costmodel/data/fitted/<FITTED>.toml
PHASES = ("forward", "backward_data")  # the step phases (backward_weights is one bulk GEMM)
CLASSES = ("on_chip", "spilled")
TERMS = ("step_ratio", "work_factor")


@dataclass(frozen=True)
class SmallHParams:
    """The fitted boundary (W_hh elements) and, per step phase, ``((step_ratio, work_factor)
    on chip, (step_ratio, work_factor) spilled)``."""

    on_chip_max_elements: float
    forward: tuple[tuple[float, float], tuple[float, float]]
    backward_data: tuple[tuple[float, float], tuple[float, float]]

    def terms(self, call: str, weight_elements):
        """(step_ratio, work_factor) per element of ``weight_elements`` (W_hh's G*H*H) for
        cuDNN ``call``."""
        on_chip, spilled = getattr(self, call)
        inside = np.asarray(weight_elements, dtype=float) <= self.on_chip_max_elements
        return tuple(np.where(inside, a, b) for a, b in zip(on_chip, spilled))


def from_table(table: Mapping) -> SmallHParams:
    """A :class:`SmallHParams` from a fitted table (``{"on_chip_max_elements": .., phase:
    {class: {"step_ratio": .., "work_factor": ..}}}``)."""
    try:
        return SmallHParams(float(table["on_chip_max_elements"]), *(
            tuple(tuple(float(table[p][c][t]) for t in TERMS) for c in CLASSES)
            for p in PHASES))
    except (KeyError, TypeError) as err:
        raise ValueError(f"small-h parameters: missing field {err}; need "
                         f"'on_chip_max_elements' and {', '.join(TERMS)} per class "
                         f"({', '.join(CLASSES)}) and phase ({', '.join(PHASES)})") from None


@lru_cache(maxsize=1)
def fitted() -> SmallHParams:
    """``costmodel/data/fitted/cudnn_small_h.toml``'s parameters."""
    path = resources.files("costmodel").joinpath("data", "fitted", f"{FITTED}.toml")
    return from_table(tomllib.loads(path.read_text(encoding="utf-8"))["params"])


def weight_elements(gates_hidden, gates: int):
    """W_hh's elements, G*H x H, from a step GEMM's G*H and the cell's gate count G."""
    gates_hidden = np.asarray(gates_hidden, dtype=float)
    return gates_hidden * gates_hidden / gates


def step_terms(small, call: str, gates_hidden, gates: int, params: SmallHParams | None = None):
    """(step_ratio, work_factor) per element: (1, 0) where not ``small`` (the step's algorithm
    resolved to PERSIST_STATIC_SMALL_H), else the fitted terms of ``call`` and W_hh's class;
    ``params``: default the fitted file's."""
    small = np.asarray(small)
    if not np.any(small):
        return 1.0, 0.0
    ratio, work = (params or fitted()).terms(call, weight_elements(gates_hidden, gates))
    return np.where(small, ratio, 1.0), np.where(small, work, 0.0)
