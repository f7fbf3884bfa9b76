"""A Mamba block (Gu and Dao 2023, ``mamba_ssm.modules.mamba_simple.Mamba``): a selective
state-space model with input-dependent step size, B and C.

On ``batch`` sequences of ``n`` tokens of width ``d_model`` (D), with ``d_inner = expand * D``
(E), ``d_state`` (N) and ``dt_rank`` (R, "auto" = ceil(D / 16))::

    in_proj   Linear(D, 2E, bias=bias)             x, z = split(u W_in^T)
    conv1d    Conv1d(E, E, d_conv, groups=E, padding=d_conv - 1), first n outputs kept
    silu      x = silu(conv(x))
    x_proj    Linear(E, R + 2N, bias=False)        dt, B, C = split(x W_x^T)
    dt_proj   Linear(R, E, bias=True); dt = softplus(dt)
    A         A = -exp(A_log), A_log: [E, N]
    scan      h_t = exp(dt_t A) * h_{t-1} + dt_t B_t x_t;  y_t = h_t . C_t   (per channel)
    skip      y = y + D * x,  D: [E]
    gate      y = y * silu(z)
    out_proj  Linear(E, D, bias=bias)

FLOPs: the five linear maps and the depthwise convolution are matmul FLOPs (FlopCounterMode
counts them); the scan is elementwise (Mamba's fused kernel does it in registers, no GEMM).
The convolution counts what ``nn.Conv1d`` with padding d_conv - 1 computes, n + d_conv - 1
outputs per channel (Mamba's PyTorch path, which then keeps the first n); the fused
causal-conv1d kernel computes n. FlopCounterMode counts the depthwise grad_weight E times
(it ignores groups, see :mod:`costmodel.models.conv`); we count the kernel's work.

Options (costmodel-only): ``scan="parallel"`` (a work-efficient parallel scan, depth
2 * ceil(log2 n)) or ``"sequential"`` (depth n, one step after another);
``implementation="fused"`` (Mamba's CUDA kernel: one launch, saves the scan's inputs and
recomputes the states in backward; a model, not measured) or ``"autograd"`` (a PyTorch loop
over time: n launches, every state h_t and decay exp(dt_t A) saved; equal to the bytes
autograd saves for the reference loop in tests/test_ssm.py).

``state_bytes`` is what step-by-step inference carries per sequence: mamba_simple's conv
state [E, d_conv] and ssm state [E, N], O(batch * E * (d_conv + N)), independent of n.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from costmodel import symbols as S
from costmodel.checks import check_bool, check_choice, check_size
from costmodel.compose import combine
from costmodel.cost import Cost, Kernel
from costmodel.models.attention import saving
from costmodel.models.conv import Conv1d
from costmodel.models.layers import named
from costmodel.models.primitives import linear_part, tokens_of
from costmodel.models.sequence_ops import fold_copy, pointwise, scan_depth, silu, softplus

IMPLEMENTATIONS = ("fused", "autograd")
#: dt_rank="auto": ceil(d_model / DT_RANK_DIVISOR), mamba_simple's rule.
DT_RANK_DIVISOR = 16
#: x and z: in_proj writes both halves.
IN_PROJ_HALVES = 2
#: dt, B, C from x_proj: dt has R columns, B and C N each.
B_AND_C = 2
#: Scan, forward, per state element (batch, n, channel, state): exp(dt*A) (multiply, exp: 2),
#: (dt*x) * B (1), h = dA * h + dBx (2), y += h * C (2) = 7; per channel: dt * x (1).
SCAN_FLOPS_PER_STATE = 7
SCAN_FLOPS_PER_CHANNEL = 1
#: Scan, backward, per state element: dh_t = dA_{t+1} dh_{t+1} + C_t dy_t (3), dC += h dy (2),
#: d(dA) = dh h_{t-1} (1), times dA for the exp (1), ddt += . * A (2), dA_log path += . * dt
#: (2), dB += dh * (dt x) (2), d(dt x) += dh * B (2) = 15; per channel: ddt += d(dt x) * x and
#: dx += d(dt x) * dt (4).
SCAN_BACKWARD_FLOPS_PER_STATE = 15
SCAN_BACKWARD_FLOPS_PER_CHANNEL = 4
#: A = -exp(A_log): exp and negate (2); backward: times exp, negate (2).
A_FLOPS = 2
#: Skip y + D * x: multiply and add (2); backward dD += g * x, dx += g * D (4).
SKIP_FLOPS = 2
SKIP_BACKWARD_FLOPS = 4
#: Gate y * silu(z): a multiply (1); backward g * a and g * b (2).
GATE_FLOPS = 1
GATE_BACKWARD_FLOPS = 2
#: Tensors the fused scan saves per channel (x, dt) and per state column (B, C).
FUSED_SAVED_PER_CHANNEL = 2
FUSED_SAVED_PER_STATE_COLUMN = 2
#: Tensors a PyTorch scan loop saves per state element: h_{t-1} (for d(dA)) and exp(dt A).
AUTOGRAD_SAVED_PER_STATE = 2


def dt_rank_of(d_model, dt_rank="auto"):
    """``dt_rank``: a size, or "auto" = ceil(d_model / 16)."""
    if dt_rank != "auto":
        return check_size("dt_rank", dt_rank)
    rank = sp.ceiling(sp.sympify(d_model) / DT_RANK_DIVISOR)
    return int(rank) if rank.is_number else rank


def _scan(E, N, scan: str, implementation: str) -> Cost:
    """The selective scan over (batch, n, E channels, N states)."""
    b, n, s = S.batch, S.n, S.dtype_bytes
    channels, states = b * n * E, b * n * E * N
    fwd = states * SCAN_FLOPS_PER_STATE + channels * SCAN_FLOPS_PER_CHANNEL
    bwd = states * SCAN_BACKWARD_FLOPS_PER_STATE + channels * SCAN_BACKWARD_FLOPS_PER_CHANNEL
    inputs = FUSED_SAVED_PER_CHANNEL * channels + FUSED_SAVED_PER_STATE_COLUMN * b * n * N
    saved = inputs + E * N  # and A itself
    if implementation == "autograd":  # every h_t (and h_0), exp(dt_t A), dt_t x_t
        saved += AUTOGRAD_SAVED_PER_STATE * states + b * E * N + channels
    moved = (inputs + channels) * s  # read x, dt, B, C; write y
    if implementation == "autograd":
        moved += AUTOGRAD_SAVED_PER_STATE * states * s  # each step writes h_t and exp(dt A)
    launches = n if implementation == "autograd" else 1
    depth = scan_depth(scan)
    return Cost(
        name="selective_scan", elementwise_flops=fwd, elementwise_flops_backward=bwd,
        bytes=moved, activation_bytes=saved * s, depth_forward=depth, depth_backward=depth,
        kernels=(Kernel("selective_scan", "scan", "forward", fwd / launches, moved / launches,
                        count=launches),
                 Kernel("selective_scan.backward", "scan", "backward", bwd / launches,
                        2 * moved / launches, count=launches)))


def _conv(E, d_conv, conv_bias) -> Cost:
    """Depthwise causal conv: padding d_conv - 1, first n outputs kept (out_len n)."""
    conv = Conv1d(E, E, d_conv, padding=d_conv - 1, groups=E, bias=conv_bias,
                  input_requires_grad=True)
    return dataclasses.replace(named(conv, "conv1d"), out_len=S.n)


def _parts(D, E, N, K, R, conv_bias, bias, scan, implementation, input_grad):
    """in_proj, conv1d, silu, x_proj, dt_proj, softplus, A, scan, skip, gate, out_proj."""
    t = tokens_of()
    channels = t * E
    return (
        # u: [t, D] @ W_in^T: [D, 2E] -> xz: [t, 2E]
        linear_part("in_proj", t, D, IN_PROJ_HALVES * E, bias=bias, input_grad=input_grad),
        _conv(E, K, conv_bias),
        # silu saves its input, a view of the conv's whole n + d_conv - 1 outputs
        silu("silu", channels, saved_elements=S.batch * E * (S.n + K - 1)),
        # x: [t, E] @ W_x^T: [E, R + 2N] -> dt, B, C; x is a transposed view of the conv's
        # [b, E, n] layout: folded into rows it is copied (and the copy saved) unless b, n or E
        # is 1; the view itself is saved by the scan
        saving(linear_part("x_proj", t, E, R + B_AND_C * N, bias=False),
               fold_copy(S.batch, S.n, E)),
        # dt: [t, R] @ W_dt^T: [R, E] -> [t, E]
        linear_part("dt_proj", t, R, E, bias=True),
        softplus("softplus", channels),
        dataclasses.replace(pointwise("A", E * N, A_FLOPS, A_FLOPS, saves="output",
                                      kind="elementwise"), params=E * N),  # A_log
        _scan(E, N, scan, implementation),
        dataclasses.replace(pointwise("skip", channels, SKIP_FLOPS, SKIP_BACKWARD_FLOPS,
                                      saves="none", inputs=2, kind="elementwise"), params=E),
        silu("gate.silu", channels),
        pointwise("gate", channels, GATE_FLOPS, GATE_BACKWARD_FLOPS, inputs=2,
                  saved_elements=2 * channels, kind="elementwise"),
        # y: [t, E] @ W_out^T: [E, D] -> [t, D]
        linear_part("out_proj", t, E, D, bias=bias),
    )


def Mamba(d_model, d_state=16, d_conv=4, expand=2, dt_rank="auto", conv_bias=True, bias=False,
          *, scan="parallel", implementation="fused", input_requires_grad=False) -> Cost:
    """One Mamba block (``mamba_simple.Mamba``'s arguments and defaults), training mode.

    ``input_requires_grad`` (costmodel-only): whether in_proj computes its input gradient
    (False for a model's first layer).
    """
    D = check_size("d_model", d_model)
    N = check_size("d_state", d_state)
    K = check_size("d_conv", d_conv)
    E = check_size("expand", expand) * D
    R = dt_rank_of(D, dt_rank)
    for flag, value in (("conv_bias", conv_bias), ("bias", bias),
                        ("input_requires_grad", input_requires_grad)):
        check_bool(flag, value)
    check_choice("implementation", implementation, IMPLEMENTATIONS)
    scan_depth(scan)  # checks the choice
    parts = _parts(D, E, N, K, R, conv_bias, bias, scan, implementation, input_requires_grad)
    name = (f"Mamba(d_model={D}, d_state={N}, d_conv={K}, expand={expand}, scan={scan!r}, "
            f"implementation={implementation!r})")
    # inference carries the last d_conv inputs of each channel and the scan state h
    state = S.batch * E * (K + N) * S.dtype_bytes
    return dataclasses.replace(combine(name, parts), state_bytes=state)
