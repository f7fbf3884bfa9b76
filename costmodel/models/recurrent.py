"""``RNN``, ``LSTM`` and ``GRU`` with ``torch.nn``'s signatures, stacked and bidirectional.

A layer runs as PyTorch and cuDNN run it: one GEMM projects the inputs of all n steps
(x: [batch*n, in] @ W_ih^T: [in, gates*H]), then n dependent steps, each a GEMM
h_{t-1}: [batch, P] @ W_hh^T: [P, gates*H] plus the gate arithmetic (and, for an LSTM with
``proj_size``, h: [batch, H] @ W_hr^T: [H, P]). costmodel-only keywords, all with defaults that
follow PyTorch's training step:

bias_vectors          2 (PyTorch/cuDNN: b_ih and b_hh) or 1 (textbook, Keras LSTM).
schedule              "wavefront" (default; cuDNN overlaps the layers of a unidirectional
                      stack: layer l runs step t while layer l+1 runs step t-1) or "layer"
                      (PyTorch's CPU kernels: one layer after another). Bidirectional stacks
                      are always layer by layer: a layer needs both directions of the one below.
implementation        "fused" (cuDNN/oneDNN reserve space, default) or "autograd" (PyTorch's
                      decomposed cell graph): what ``activation_bytes`` counts.
input_requires_grad   False: the model input needs no gradient (no dx GEMM in layer 0).
h0_requires_grad      False: the initial state needs no gradient (no dh_0 GEMM).
nonlinearity_flops    overrides of ``conventions.NONLINEARITY_FLOPS`` (and ``..._backward``).
input_mode            "linear" (default: layer 0 projects its input, x_t W_ih^T) or "skip"
                      (cuDNN's CUDNN_SKIP_INPUT: layer 0 adds x_t to the gates unprojected, so
                      input_size must equal hidden_size; no W_ih, no input GEMM, and the
                      weight-gradient GEMM covers W_hh only). Baidu DeepBench times this mode.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping

import sympy as sp

from costmodel import conventions as C
from costmodel import symbols as S
from costmodel.checks import check_bool, check_choice, check_probability, check_size
from costmodel.compose import combine, with_input_grad
from costmodel.cost import Cost
from costmodel.models.cells import CELLS, Cell, nonlinearity_table
from costmodel.models.primitives import linear_part, mm_flops, pointwise_part
from costmodel.models.recurrent_kernels import depth_of, grad_input_kernel, kernels_of

SCHEDULES = ("wavefront", "layer")
INPUT_MODES = ("linear", "skip")
IMPLEMENTATIONS = ("fused", "autograd")


@dataclass(frozen=True)
class _Config:
    cell: Cell
    input_size: object
    hidden: object
    out: object  # P: proj_size, or hidden when there is no projection
    num_layers: object
    directions: int
    bias_vectors: int  # 0 when bias=False
    nonlinearity: str
    dropout: float
    schedule: str
    implementation: str
    input_grad: bool
    h0_grad: bool
    reset_after: bool
    batch_first: bool
    input_mode: str
    act: dict
    act_backward: dict

    @property
    def projected(self) -> bool:
        return self.out != self.hidden

    def layer_input(self, layer: int):
        return self.input_size if layer == 0 else self.directions * self.out

    def projects_input(self, layer: int) -> bool:
        """False for layer 0 under CUDNN_SKIP_INPUT: x_t goes to the gates as it is."""
        return layer > 0 or self.input_mode == "linear"

    @property
    def gemms_per_step(self) -> int:
        """Dependent GEMMs inside one step: the gates GEMM, then W_hr (projection) or, for a
        GRU with the reset gate before the matmul, W_hn (r * h)."""
        return 1 + int(self.projected) + int(self.cell.kind == "gru" and not self.reset_after)


def _recurrent_part(cfg: _Config) -> Cost:
    """n dependent GEMMs h_{t-1}: [batch, P] @ W_hh^T: [P, GH], plus b_hh when kept."""
    B, N, s = S.batch, S.n, S.dtype_bytes
    GH, P = cfg.cell.gates * cfg.hidden, cfg.out
    bias = GH if cfg.bias_vectors == 2 else 0
    grad_h_steps = N if cfg.h0_grad else N - 1  # dh_0 only when h0 needs a gradient
    step_bytes = (GH * P + bias + B * P + B * GH) * s  # W_hh re-read every step
    return Cost(
        name="recurrent",
        params=GH * P + bias,
        matmul_flops=N * mm_flops(B, P, GH),
        elementwise_flops=N * B * bias,
        # dh: [B, GH] @ W_hh: [GH, P] per step; dW_hh: dgates^T: [GH, B] @ h: [B, P] per step
        matmul_flops_backward=grad_h_steps * mm_flops(B, GH, P) + N * mm_flops(GH, B, P),
        elementwise_flops_backward=N * B * bias,
        bytes=N * step_bytes,
    )


def _direction(cfg: _Config, layer: int, direction: int) -> Cost:
    B, N = S.batch, S.n
    H, P, GH = cfg.hidden, cfg.out, cfg.cell.gates * cfg.hidden
    in_size = cfg.layer_input(layer)
    parts = [_recurrent_part(cfg)]
    if cfg.projects_input(layer):
        parts.insert(0, linear_part("input_projection", B * N, in_size, GH,
                                    bias=cfg.bias_vectors >= 1,
                                    input_grad=layer > 0 or cfg.input_grad, save_input=False,
                                    kind="rnn_gemm"))
    if cfg.projected:
        parts.append(linear_part("projection", B * N, H, P, bias=False, save_input=False,
                                 kind="rnn_gemm"))
    fwd = cfg.cell.forward(H, cfg.act, cfg.nonlinearity)
    bwd = cfg.cell.backward(H, cfg.act_backward, cfg.nonlinearity)
    if cfg.implementation == "autograd":
        # a layer's input is saved once for both directions, except that batch_first makes
        # each direction copy the transposed model input; with batch 1 or n 1 the transpose
        # is already contiguous and no copy is made: Min(x - 1, 1) is 0 at x = 1, else 1
        if direction == 0:
            copies = 1
        elif layer == 0 and cfg.batch_first:
            copies = sp.Min(B - 1, 1) * sp.Min(N - 1, 1)
        else:
            copies = 0
        saved = B * (in_size * N * copies + cfg.cell.autograd_saved(N, H, P))
    else:
        per_step = GH + cfg.cell.fused_extra * H + P + (H if cfg.projected else 0)
        first_input = in_size * N if layer == 0 and direction == 0 else 0
        saved = B * (N * per_step + first_input)
    parts.append(pointwise_part("gates", B * N * GH, 0, 0, saved_elements=saved, inputs=2))
    parts[-1] = dataclasses.replace(parts[-1], elementwise_flops=B * N * fwd,
                                    elementwise_flops_backward=B * N * bwd)
    tag = f"layer{layer}" + (".reverse" if direction else "")
    return combine(tag, parts)


def _initial_state(cfg: _Config) -> Cost:
    """h0 (and c0): [L*D, batch, P] zeros that autograd keeps for the first step's GEMM; also
    the recurrent state inference carries from step to step."""
    B, s = S.batch, S.dtype_bytes
    LD = cfg.num_layers * cfg.directions
    elements = LD * B * (cfg.out + (cfg.hidden if cfg.cell.carries_cell else 0))
    return Cost(name="initial_state", activation_bytes=elements * s, state_bytes=elements * s)


def _dropout(cfg: _Config) -> Cost:
    """Dropout between layers (not after the last), training mode. PyTorch's RNN kernels use
    ``at::dropout``, whose scaled noise mask is kept in the activation dtype (measured on CPU;
    ``nn.Dropout`` keeps a 1-byte bool mask instead)."""
    if cfg.dropout == 0 or cfg.num_layers == 1:
        return Cost(name="dropout")
    elements = (cfg.num_layers - 1) * S.batch * S.n * cfg.directions * cfg.out
    return Cost(
        name="dropout",
        elementwise_flops=elements * C.DROPOUT_FLOPS,
        elementwise_flops_backward=elements * C.DROPOUT_FLOPS,
        bytes=2 * elements * S.dtype_bytes,
        activation_bytes=elements * S.dtype_bytes,
    )


def _input_grad(record: Cost, cfg: _Config) -> Cost | None:
    """Layer 0's dx GEMMs (the FLOPs from the parts' input projections, one per direction),
    as one launch running the directions side by side; None under CUDNN_SKIP_INPUT (dx is
    the gates' gradient itself: no GEMM)."""
    if not cfg.projects_input(0):
        return None
    return Cost(name="layer0.grad_input",
                matmul_flops_backward=record.input_grad_cost.matmul_flops_backward,
                kernels=(grad_input_kernel(cfg, 0),))


def _build(title: str, cfg: _Config) -> Cost:
    """The record; built without layer 0's input gradient, which is then added as
    ``with_input_grad`` adds it in a chain, so both routes give the same record."""
    given = cfg.input_grad
    cfg = dataclasses.replace(cfg, input_grad=False)
    parts = [_direction(cfg, layer, d)
             for layer in range(_layers_int(cfg.num_layers)) for d in range(cfg.directions)]
    parts += [_initial_state(cfg), _dropout(cfg)]
    depth = depth_of(cfg)
    record = combine(title, parts, depth_forward=depth, depth_backward=depth,
                     kernels=kernels_of(cfg))
    # The input tensor itself is what the first GEMM saves, unless batch_first forces a
    # transposed copy (PyTorch makes the time-major input contiguous).
    first = S.batch * S.n * cfg.input_size * S.dtype_bytes
    record = dataclasses.replace(
        record, saved_input_bytes=0 if cfg.batch_first else first,
        in_features=cfg.input_size, out_features=cfg.directions * cfg.out,
        input_grad_cost=_input_grad(record, cfg))
    return with_input_grad(record) if given else record


def _layers_int(num_layers) -> int:
    if not isinstance(num_layers, int):
        raise ValueError(f"num_layers={num_layers} must be a number: each layer has its own "
                         "input size, so a symbolic layer count is not supported")
    return num_layers


def _config(kind, input_size, hidden_size, num_layers, bias, dropout, bidirectional,
            proj_size=0, nonlinearity="tanh", reset_after=True, *, batch_first, bias_vectors,
            schedule, implementation, input_requires_grad, h0_requires_grad,
            nonlinearity_flops, nonlinearity_backward_flops, input_mode) -> _Config:
    input_size = check_size("input_size", input_size)
    hidden = check_size("hidden_size", hidden_size)
    layers = _layers_int(check_size("num_layers", num_layers))
    check_bool("bias", bias)
    check_bool("bidirectional", bidirectional)
    check_bool("reset_after", reset_after)
    dropout = check_probability("dropout", dropout)
    check_choice("bias_vectors", bias_vectors, (1, 2))
    check_choice("schedule", schedule, SCHEDULES)
    check_choice("implementation", implementation, IMPLEMENTATIONS)
    check_bool("input_requires_grad", input_requires_grad)
    check_bool("h0_requires_grad", h0_requires_grad)
    check_choice("input_mode", input_mode, INPUT_MODES)
    if input_mode == "skip" and input_size != hidden:
        raise ValueError(f"input_mode='skip' needs input_size={input_size} equal to "
                         f"hidden_size={hidden} (cuDNN adds x_t to the gates unprojected)")
    out = hidden
    if not (isinstance(proj_size, int) and not isinstance(proj_size, bool) and proj_size == 0):
        if kind != "lstm":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        out = check_size("proj_size", proj_size)
        if isinstance(out, int) and isinstance(hidden, int) and out >= hidden:
            raise ValueError(f"proj_size={out} has to be smaller than hidden_size={hidden}")
    return _Config(
        cell=CELLS[kind], input_size=input_size, hidden=hidden, out=out, num_layers=layers,
        directions=2 if bidirectional else 1, bias_vectors=bias_vectors if bias else 0,
        nonlinearity=nonlinearity, dropout=dropout, schedule=schedule,
        implementation=implementation, input_grad=input_requires_grad,
        h0_grad=h0_requires_grad, reset_after=reset_after,
        batch_first=check_bool("batch_first", batch_first), input_mode=input_mode,
        act=nonlinearity_table(nonlinearity_flops, backward=False),
        act_backward=nonlinearity_table(nonlinearity_backward_flops, backward=True),
    )


def _title(cls, input_size, hidden_size, **options) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in options.items() if v not in (None, False))
    return f"{cls}({input_size}, {hidden_size}" + (f", {shown})" if shown else ")")


_EXTRAS = dict(bias_vectors=C.DEFAULT_BIAS_VECTORS, schedule="wavefront",
               implementation="fused", input_requires_grad=False, h0_requires_grad=False,
               nonlinearity_flops=None, nonlinearity_backward_flops=None,
               input_mode="linear")


def RNN(input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
        batch_first=False, dropout=0.0, bidirectional=False, device=None, dtype=None,
        **costmodel_options) -> Cost:
    """Elman RNN, ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, like torch.nn.RNN."""
    check_choice("nonlinearity", nonlinearity, ("tanh", "relu"))
    opts = _options(costmodel_options)
    cfg = _config("rnn", input_size, hidden_size, num_layers, bias, dropout, bidirectional,
                  nonlinearity=nonlinearity, batch_first=batch_first, **opts)
    title = _title("RNN", input_size, hidden_size, num_layers=num_layers if num_layers != 1
                   else None, nonlinearity=nonlinearity if nonlinearity != "tanh" else None,
                   bidirectional=bidirectional)
    return _build(title, cfg)


def LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
         bidirectional=False, proj_size=0, device=None, dtype=None,
         **costmodel_options) -> Cost:
    """Long short-term memory, gates (i, f, g, o), like torch.nn.LSTM (incl. ``proj_size``)."""
    opts = _options(costmodel_options)
    cfg = _config("lstm", input_size, hidden_size, num_layers, bias, dropout, bidirectional,
                  proj_size=proj_size, batch_first=batch_first, **opts)
    title = _title("LSTM", input_size, hidden_size, num_layers=num_layers if num_layers != 1
                   else None, bidirectional=bidirectional, proj_size=proj_size or None)
    return _build(title, cfg)


def GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
        bidirectional=False, device=None, dtype=None, reset_after=True,
        **costmodel_options) -> Cost:
    """Gated recurrent unit, gates (r, z, n), like torch.nn.GRU: the reset gate multiplies
    ``h W_hn^T + b_hn`` after the matmul (``reset_after=True``, PyTorch/cuDNN/Keras 2 default).
    ``reset_after=False`` is the original cell (r * h before the matmul): the same FLOPs but a
    second dependent GEMM in every step."""
    opts = _options(costmodel_options)
    cfg = _config("gru", input_size, hidden_size, num_layers, bias, dropout, bidirectional,
                  reset_after=reset_after, batch_first=batch_first, **opts)
    title = _title("GRU", input_size, hidden_size, num_layers=num_layers if num_layers != 1
                   else None, bidirectional=bidirectional)
    return _build(title, cfg)


def _options(given: Mapping) -> dict:
    unknown = sorted(set(given) - set(_EXTRAS))
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown}; costmodel options are "
                         f"{sorted(_EXTRAS)}")
    return {**_EXTRAS, **given}
