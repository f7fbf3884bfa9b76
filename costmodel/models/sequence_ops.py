"""Pointwise pieces the linear-time and hybrid families share: SiLU, softplus, GLU,
BatchNorm, a constant scale, the real FFT, and the depth of a scan.

Each returns a :class:`~costmodel.cost.Cost` with its forward and backward launches; the
per-element FLOPs are the named conventions of :mod:`costmodel.conventions`.
"""

from __future__ import annotations

import sympy as sp

from costmodel import conventions as C
from costmodel import symbols as S
from costmodel.checks import check_choice
from costmodel.cost import Cost, Kernel
from costmodel.models.layers import with_backward_kernel
from costmodel.models.primitives import pointwise_part

SCANS = ("sequential", "parallel")
#: A work-efficient (Blelloch) parallel scan: an up-sweep and a down-sweep of log2(n) levels.
PARALLEL_SCAN_SWEEPS = 2
#: BatchNorm keeps a mean and an inverse standard deviation per channel.
BATCHNORM_STATS_PER_CHANNEL = 2


def pointwise(name: str, elements, forward, backward, *, saves="input", inputs=1,
              saved_elements=0, kind="activation") -> Cost:
    """A pointwise op with its backward launch (see ``primitives.pointwise_part``)."""
    return with_backward_kernel(pointwise_part(name, elements, forward, backward, saves=saves,
                                               inputs=inputs, saved_elements=saved_elements,
                                               kind=kind))


def silu(name: str, elements, saved_elements=0) -> Cost:
    """``F.silu``: saves its input (its backward recomputes the sigmoid); ``saved_elements``
    when that input is a view of a larger storage."""
    return pointwise(name, elements, C.SILU_FLOPS, C.SILU_BACKWARD_FLOPS,
                     saved_elements=saved_elements)


def softplus(name: str, elements) -> Cost:
    """``F.softplus``: saves its input."""
    return pointwise(name, elements, C.SOFTPLUS_FLOPS, C.SOFTPLUS_BACKWARD_FLOPS)


def glu(name: str, outputs) -> Cost:
    """``F.glu``: halves the channels; ``outputs`` elements written, twice that read and
    saved (its input)."""
    return pointwise(name, outputs, C.GLU_FLOPS, C.GLU_BACKWARD_FLOPS, inputs=2,
                     saved_elements=2 * sp.sympify(outputs))


def batchnorm(name: str, channels, elements) -> Cost:
    """``BatchNorm1d`` in training over ``elements`` values of ``channels`` channels: an
    affine weight and bias per channel (2 params each channel); saves its input and a mean
    and inverse std per channel in fp32 (``STATISTICS_BYTES``). Running statistics are
    buffers, not parameters; their O(channels) update is not counted."""
    part = pointwise_part(name, elements, C.BATCHNORM_FLOPS, C.BATCHNORM_BACKWARD_FLOPS,
                          saves="input", kind="reduction")
    stats = sp.sympify(channels) * BATCHNORM_STATS_PER_CHANNEL * C.STATISTICS_BYTES
    bn = Cost(name=name, params=2 * sp.sympify(channels),
              elementwise_flops=part.elementwise_flops,
              elementwise_flops_backward=part.elementwise_flops_backward,
              bytes=part.bytes, activation_bytes=part.activation_bytes + stats,
              saved_input_bytes=part.saved_input_bytes, kernels=part.kernels)
    return with_backward_kernel(bn)


def fold_copy(*sizes) -> sp.Expr:
    """1 where reshaping a transposed view into rows for a matmul needs a copy, else 0: the
    copy is made unless one of ``sizes`` (the dimensions being merged across the transpose)
    is 1. Min(x - 1, 1) is 0 at x = 1, else 1."""
    return sp.Mul(*[sp.Min(sp.sympify(x) - 1, 1) for x in sizes])


def real_fft_flops(length) -> sp.Expr:
    """FLOPs of one real FFT (or inverse) of ``length`` points (``REAL_FFT_FLOPS_PER_POINT_LOG2``
    * m * ceil(log2 m); see conventions)."""
    m = sp.sympify(length)
    return C.REAL_FFT_FLOPS_PER_POINT_LOG2 * m * sp.ceiling(sp.log(m, 2))


def fft_kernel(name: str, phase: str, signals, length) -> Kernel:
    """``signals`` real FFTs of ``length`` points in one launch: reads the real signal, writes
    length/2 + 1 complex bins (2 reals each), about 2 * length values moved."""
    flops = sp.sympify(signals) * real_fft_flops(length)
    return Kernel(name, "fft", phase, flops, 2 * sp.sympify(signals) * length * S.dtype_bytes)


def scan_depth(scan: str, length=S.n) -> sp.Expr:
    """Dependent steps of a linear recurrence over ``length`` steps: ``"sequential"``, one per
    step (n); ``"parallel"``, a work-efficient scan's two sweeps of ceil(log2 n) levels."""
    check_choice("scan", scan, SCANS)
    if scan == "sequential":
        return sp.sympify(length)
    return PARALLEL_SCAN_SWEEPS * sp.ceiling(sp.log(length, 2))
