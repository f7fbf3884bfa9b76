"""An S4 layer in the diagonal S4D parameterisation (Gu et al. 2022, the state-spaces
repository's minimal ``s4d.py``), in convolution mode (FFT) or recurrent mode.

On ``batch`` sequences of ``n`` steps of ``d_model`` (H) channels, with ``d_state`` (N, even)
real state dimensions per channel, kept as N/2 complex modes (conjugate pairs)::

    parameters   C: [H, N/2] complex (H*N reals), log_dt: [H], log_A_real: [H, N/2],
                 A_imag: [H, N/2], D: [H], output_linear: Linear(H, 2H) then GLU
    discretize   dtA = A dt;  C' = C (exp(dtA) - 1) / A                       O(H N)
    convolution  K[h, l] = 2 Re sum_m C'[h, m] exp(dtA[h, m] l)  (Vandermonde, O(H N n))
                 y = irfft(rfft(u, 2n) * rfft(K, 2n), 2n)[:n]       (FFT, O(batch H n log n))
    recurrent    h_t = exp(dtA) h_{t-1} + B' u_t;  y_t = 2 Re(C' h_t)     (O(batch H N n))
    then         y = y + D u;  y = gelu(y);  y = glu(output_linear(y))

``mode="convolution"`` (training's choice) or ``"recurrent"`` (step-by-step inference, or
training through a scan) is an explicit option; ``scan`` ("sequential" | "parallel") sets
the recurrent mode's depth. FFT FLOPs are not matmul FLOPs (FlopCounterMode counts none):
they are ``elementwise_flops``, 5/2 m ceil(log2 m) per real FFT of m points
(``conventions.REAL_FFT_FLOPS_PER_POINT_LOG2``), in kernels of kind "fft". The Vandermonde
sum and the recurrence are elementwise too (``s4d.py`` writes the sum as an einsum, which
FlopCounterMode would count as a complex bmm of 2*H*(N/2)*n "FLOPs"). Only output_linear
is matmul FLOPs.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from costmodel import conventions as C
from costmodel import symbols as S
from costmodel.checks import check_bool, check_choice, check_size, is_known
from costmodel.compose import combine
from costmodel.cost import Cost, Kernel
from costmodel.models.layers import GELU, named
from costmodel.models.primitives import linear_part, tokens_of
from costmodel.models.sequence_ops import (fft_kernel, glu, pointwise, real_fft_flops,
                                           scan_depth)

MODES = ("convolution", "recurrent")
#: Real numbers per complex value.
REALS_PER_COMPLEX = 2
#: The FFT length: the input and kernel are zero-padded to 2n (a linear, not circular,
#: convolution).
FFT_PADDING = 2
#: Discretisation per (channel, mode): dtA = A * dt (complex times real, 2), exp(dtA) =
#: exp(a)(cos b + i sin b) (3 transcendentals and 2 multiplies, 5), minus 1 (1), divided
#: by A (a complex division: 6 multiplies, 3 adds, 2 divides, 11), times C (6) = 25.
#: Backward: each of these ops sends a gradient to both operands, counted 2 x forward (50).
DISCRETIZE_FLOPS = 25
DISCRETIZE_BACKWARD_FLOPS = 50
#: Vandermonde kernel per (channel, mode, step): dtA * l (2), complex exp (5), the real
#: part of C' times it accumulated (2 multiplies, a subtract, an add: 4) = 11. Backward:
#: dC' += g * conj(exp term) (a complex multiply-add, 8), d(dtA) += g * C' exp(.) * l
#: (6 + 2 + 2) = 18.
VANDERMONDE_FLOPS = 11
VANDERMONDE_BACKWARD_FLOPS = 18
#: Recurrence per (batch, step, channel, mode): exp(dtA) h (6), B' u (complex times real,
#: 2), the add (2), 2 Re(C' h) accumulated (3 + 1) = 14. Backward: dh = conj(dA) dh' +
#: conj(C') dy (6 + 2 + 2), dC' += dy conj(h) (4), d(dA) += dh conj(h_prev) (8),
#: dB' += dh u (4), du += Re(conj(B') dh) (4) = 30.
RECURRENCE_FLOPS = 14
RECURRENCE_BACKWARD_FLOPS = 30
#: Skip y + D u: multiply and add (2); backward dD += g u, du += g D (4).
SKIP_FLOPS = 2
SKIP_BACKWARD_FLOPS = 4
#: Complex [H, N/2] tensors autograd keeps while discretising (A, exp(dtA), exp(dtA) - 1,
#: the quotient by A), and in recurrent mode besides the states (dA and C').
DISCRETIZE_COMPLEX_SAVED = 4
RECURRENCE_COMPLEX_SAVED = 2
#: Parameter vectors of length H: log_dt and D; of shape [H, N/2]: log_A_real and A_imag.
CHANNEL_VECTORS = 2
MODE_MATRICES = 2


def _discretize(H, modes) -> Cost:
    """Saves exp(log_A_real) [H, N/2] and exp(log_dt) [H] (real), and A, exp(dtA),
    exp(dtA) - 1 and their quotient by A (complex [H, N/2] each)."""
    saved = H * modes + H + DISCRETIZE_COMPLEX_SAVED * REALS_PER_COMPLEX * H * modes
    return pointwise("discretize", H * modes, DISCRETIZE_FLOPS, DISCRETIZE_BACKWARD_FLOPS,
                     saved_elements=saved, kind="elementwise")


def _convolution(H, modes, input_grad: bool) -> Cost:
    """Kernel generation, the FFT convolution of u with K, and its backward."""
    b, n, s = S.batch, S.n, S.dtype_bytes
    m, bins = FFT_PADDING * n, n + 1  # FFT length; rfft of 2n points gives n + 1 bins
    # saves exp(dtA l) [H, N/2, n] and C' [H, N/2] (complex) and the step index l (int64)
    vander = pointwise("kernel", H * modes * n, VANDERMONDE_FLOPS, VANDERMONDE_BACKWARD_FLOPS,
                       saved_elements=REALS_PER_COMPLEX * H * modes * (n + 1),
                       kind="elementwise")
    vander = dataclasses.replace(vander, activation_bytes=vander.activation_bytes
                                 + n * C.INDEX_BYTES)
    fft = real_fft_flops(m)
    products = b * H * bins  # u_f * k_f, complex
    fwd = (2 * b * H + H) * fft + products * C.COMPLEX_MUL_FLOPS  # rfft u, rfft K, irfft y
    # backward: rfft of dy (b H), dk_f = dY conj(u_f) summed over batch, rfft^T for K (H);
    # du_f = dY conj(k_f) and its irfft (b H) only when u needs a gradient
    bwd = (b * H + H) * fft + products * (C.COMPLEX_MUL_FLOPS + C.COMPLEX_ADD_FLOPS)
    if input_grad:
        bwd += b * H * fft + products * C.COMPLEX_MUL_FLOPS
    # u_f * k_f keeps u_f; rfft keeps the zero-padded K [H, 2n]; with an input that needs a
    # gradient also k_f and the zero-padded u [b, H, 2n]
    saved = (REALS_PER_COMPLEX * b * H * bins + H * m
             + ((REALS_PER_COMPLEX * H * bins + b * H * m) if input_grad else 0)) * s
    kernels = _fft_kernels(H, m, products, input_grad)
    conv = Cost(name="fft_conv", elementwise_flops=fwd, elementwise_flops_backward=bwd,
                bytes=sum(k.bytes for k in kernels[:3]), activation_bytes=saved,
                depth_forward=2, depth_backward=2,  # rfft (u and K side by side), irfft
                kernels=kernels)
    return combine("convolution", (dataclasses.replace(vander, depth_forward=1,
                                                       depth_backward=1), conv))


def _fft_kernels(H, m, products, input_grad: bool) -> tuple[Kernel, ...]:
    """rfft of u and K, the spectral product, irfft; backward rfft of dy (as irfft's
    adjoint) and irfft of the spectral gradients (K's, and u's when it needs one)."""
    b, s = S.batch, S.dtype_bytes
    return (fft_kernel("rfft", "forward", b * H + H, m),
            Kernel("spectral_product", "elementwise", "forward",
                   products * C.COMPLEX_MUL_FLOPS, 3 * REALS_PER_COMPLEX * products * s),
            fft_kernel("irfft", "forward", b * H, m),
            fft_kernel("irfft.backward", "backward", b * H, m),
            fft_kernel("rfft.backward", "backward", H + (b * H if input_grad else 0), m))


def _recurrence(H, modes, scan: str) -> Cost:
    """h_t = dA h_{t-1} + B' u_t, y_t = 2 Re(C' h_t): every h_t (h_0 included), dA and C'
    saved (complex)."""
    b, n, s = S.batch, S.n, S.dtype_bytes
    cells = b * n * H * modes
    sequential = scan == "sequential"
    launches = n if sequential else 1
    fwd, bwd = cells * RECURRENCE_FLOPS, cells * RECURRENCE_BACKWARD_FLOPS
    moved = (2 * b * n * H + REALS_PER_COMPLEX * cells) * s  # u in, y out, h_t written
    depth = scan_depth(scan)
    return Cost(name="recurrence", elementwise_flops=fwd, elementwise_flops_backward=bwd,
                bytes=moved, activation_bytes=REALS_PER_COMPLEX * (
                    b * (n + 1) * H * modes + RECURRENCE_COMPLEX_SAVED * H * modes) * s,
                depth_forward=depth, depth_backward=depth,
                kernels=(Kernel("recurrence", "scan", "forward", fwd / launches,
                                moved / launches, count=launches),
                         Kernel("recurrence.backward", "scan", "backward", bwd / launches,
                                2 * moved / launches, count=launches)))


def S4(d_model, d_state=64, *, mode="convolution", scan="sequential",
       input_requires_grad=False) -> Cost:
    """One S4D layer (``s4d.py``'s ``S4D(d_model, d_state)``, no dropout), training mode.

    ``mode``: "convolution" (FFT) or "recurrent"; ``scan``: the recurrent mode's
    "sequential" (depth n) or "parallel" (depth 2 ceil(log2 n)) scan.
    ``input_requires_grad``: whether the layer computes its input's gradient.
    """
    H = check_size("d_model", d_model)
    N = check_size("d_state", d_state)
    if is_known(N) and N % 2:
        raise ValueError(f"d_state={N} must be even (S4D keeps d_state/2 complex modes)")
    check_choice("mode", mode, MODES)
    scan_depth(scan)
    check_bool("input_requires_grad", input_requires_grad)
    modes = sp.sympify(N) / 2
    t = tokens_of()
    core = _convolution(H, modes, input_requires_grad) if mode == "convolution" \
        else _recurrence(H, modes, scan)
    ssm_params = H * N + CHANNEL_VECTORS * H + MODE_MATRICES * H * modes  # C, log_dt, D, A
    parts = (
        dataclasses.replace(_discretize(H, modes), params=ssm_params),
        core,
        pointwise("skip", t * H, SKIP_FLOPS, SKIP_BACKWARD_FLOPS, saves="input", inputs=2,
                  kind="elementwise"),  # D * u keeps u
        named(GELU(features=H), "activation"),
        # y: [t, H] @ W^T: [H, 2H] -> [t, 2H] (s4d.py's Conv1d(H, 2H, kernel_size=1))
        linear_part("output_linear", t, H, 2 * H, bias=True),
        glu("glu", t * H),
    )
    name = f"S4(d_model={H}, d_state={N}, mode={mode!r}" + (
        f", scan={scan!r})" if mode == "recurrent" else ")")
    record = combine(name, parts)
    # inference carries the complex state h: [H, N/2] per sequence
    return dataclasses.replace(record, state_bytes=S.batch * H * N * S.dtype_bytes)
