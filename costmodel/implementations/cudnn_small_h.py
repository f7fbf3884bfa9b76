"""cuDNN's CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H step, relative to the STANDARD step
(:mod:`costmodel.implementations.cudnn_rnn` prices a step whose algorithm resolves to it).

The only public timings of that algorithm are the benchmark of PyTorch PR #62143
(``costmodel/data/reference/xwang233-cudnn-small-h.json``): the same modules timed with
ALGO_STANDARD (BEFORE) and PERSIST_STATIC_SMALL_H (AFTER) on one GPU that is not named. So the
step is priced as a ratio of the STANDARD step the fitted model prices on the device:

    small-h step = ratio[phase][class] x STANDARD step (its floor, per-batch terms and GEMM)

``class`` is ``on_chip`` where the recurrent weights W_hh (G*H x H elements) number at most
``on_chip_max_elements``, else ``spilled``: the measured AFTER/BEFORE ratio falls to 0.03-0.5
for weights up to 65,536 elements (an LSTM up to H = 128, an RNN up to H = 256) and is about 1
(0.8-1.3; an LSTM at batch 44-62 2-5x slower) above. The boundary and the four ratios are
fitted by ``python -m costmodel.reference.fit xwang233-small-h`` into
``costmodel/data/fitted/cudnn_small_h.toml``: device-independent only as far as the ratio is.
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


@dataclass(frozen=True)
class SmallHParams:
    """The fitted boundary (W_hh elements) and, per step phase, ``(on_chip, spilled)``
    ratios of a small-h step to the STANDARD step."""

    on_chip_max_elements: float
    forward: tuple[float, float]
    backward_data: tuple[float, float]

    def ratio(self, call: str, weight_elements):
        """The ratio per element of ``weight_elements`` (W_hh's G*H*H) for cuDNN ``call``."""
        on_chip, spilled = getattr(self, call)
        return np.where(np.asarray(weight_elements, dtype=float) <= self.on_chip_max_elements,
                        on_chip, spilled)


def from_table(table: Mapping) -> SmallHParams:
    """A :class:`SmallHParams` from a fitted table (``{"on_chip_max_elements": .., phase:
    {"on_chip": .., "spilled": ..}}``)."""
    try:
        return SmallHParams(float(table["on_chip_max_elements"]),
                            *(tuple(float(table[p][c]) for c in CLASSES) for p in PHASES))
    except KeyError as err:
        raise ValueError(f"small-h parameters: missing field {err}; need "
                         f"'on_chip_max_elements' and {', '.join(CLASSES)} per phase "
                         f"{', '.join(PHASES)}") from None


@lru_cache(maxsize=1)
def fitted() -> SmallHParams:
    """``costmodel/data/fitted/cudnn_small_h.toml``'s parameters."""
    path = resources.files("costmodel").joinpath("data", "fitted", f"{FITTED}.toml")
    return from_table(tomllib.loads(path.read_text(encoding="utf-8"))["params"])


def weight_elements(gates_hidden, gates: int):
    """W_hh's elements, G*H x H, from a step GEMM's G*H and the cell's gate count G."""
    gates_hidden = np.asarray(gates_hidden, dtype=float)
    return gates_hidden * gates_hidden / gates


def scale(small, call: str, gates_hidden, gates: int, params: SmallHParams | None = None):
    """1 per element, or the small-h ratio of ``call`` where ``small`` (the step's algorithm
    resolved to PERSIST_STATIC_SMALL_H); ``params``: default the fitted file's."""
    small = np.asarray(small)
    if not np.any(small):
        return 1.0
    params = params or fitted()
    return np.where(small, params.ratio(call, weight_elements(gates_hidden, gates)), 1.0)
