"""oneDNN's LSTM on a CPU (PyTorch's ``mkldnn_rnn``): what one call costs beyond its
kernels' FLOPs and bytes, as a calibrated profile measured it.

Per call of one implementation (the record's family) and phase, keyed ``"<family>.<phase>"``
in a profile written by ``costmodel calibrate``:

    call  = call_weight_passes    * weight_copy_s(all parameters)        weight re-layout
          + fresh_sequence_passes * fresh_sequence_s(gate buffer)        fresh gate buffers

- ``call_weight_passes``: buffers the size of all parameters freshly allocated and written
  per call: oneDNN re-lays the weights out into its own format on every call; in backward a
  training step's new gradient buffers (every family, the Transformer's too, fits a count).
  Each at the ``memory.weight_copy`` rate (a transposing copy into fresh memory, page faults
  included; ``memory.elementwise`` where a profile has no such curve).
- ``fresh_sequence_passes``: buffers of a recurrence's gate pre-activations over the whole
  sequence (n x batch x gates x H) newly allocated and written per call, each at the
  ``memory.weight_copy`` rate for that size: the measured rate of writing fresh memory,
  which on a CPU drops where the allocator stops reusing blocks and every page faults
  (glibc's mmap threshold, 30 MiB on the profiled machine).

The counts are fitted per family and phase by ``costmodel calibrate`` (``validation/fit.py``);
without a profile the tables are empty and both terms vanish.
"""

from __future__ import annotations

import numpy as np

from costmodel.cost import own_name
from costmodel.efficiency import Efficiency
from costmodel.hardware import Hardware
from costmodel.numeric import dtype_bytes_of

WEIGHT_COPY_KIND = "weight_copy"  # curve of copying weights (transposed) into fresh memory


def relayout_s(family: str, phase: str, weight_bytes, hw: Hardware, eff: Efficiency,
               dtype: str = "fp32"):
    """``call_weight_passes`` copies of ``weight_bytes`` per call (0.0 where none)."""
    passes = eff.call_weight_passes.get(f"{family}.{phase}", 0.0)
    return passes * weight_copy_s(weight_bytes, hw, eff, dtype) if passes else 0.0


def fresh_buffers_s(family: str, phase: str, kernels, hw: Hardware, eff: Efficiency,
                    dtype: str = "fp32"):
    """``fresh_sequence_passes`` gate buffers per call (0.0 where none)."""
    fresh = eff.fresh_sequence_passes.get(f"{family}.{phase}", 0.0)
    return fresh * fresh_sequence_s(kernels, hw, eff, dtype) if fresh else 0.0


def fresh_sequence_s(kernels, hw: Hardware, eff: Efficiency, dtype: str = "fp32"):
    """Writing one buffer of a recurrence's gate pre-activations over the whole sequence
    (n x batch x gates x H: the forward step GEMM's output, every step) into newly allocated
    memory, at the ``memory.weight_copy`` rate for that size (see :func:`weight_copy_s`);
    0 without a recurrence. ``kernels``: evaluated ones (``Cost.kernel_values``)."""
    steps = [k for k in kernels if k["phase"] == "forward"
             and own_name(k["name"]) == "step_gemm"]
    if not steps:
        return np.zeros(())
    k = steps[0]
    rows, cols = (np.asarray(v, dtype=float) for v in k["shape"][:2])
    nbytes = np.asarray(k["count"], dtype=float) * rows * cols * k["concurrent"] * (
        dtype_bytes_of(dtype))
    return weight_copy_s(nbytes, hw, eff, dtype)


def weight_copy_s(nbytes, hw: Hardware, eff: Efficiency, dtype: str = "fp32"):
    """Copying ``nbytes`` of weights into freshly allocated memory (a layout change; page
    faults where the buffers are new pages) at the ``memory.weight_copy`` curve's rate
    (``memory.elementwise`` where a profile has none)."""
    nbytes = np.asarray(nbytes, dtype=float)
    kind = WEIGHT_COPY_KIND if f"memory.{WEIGHT_COPY_KIND}" in eff.curves else "elementwise"
    return nbytes / (hw.hbm_bytes_per_s * eff.memory(nbytes, kind, dtype))
