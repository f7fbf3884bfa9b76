"""Per-step formulas of the three recurrent cells, per batch element, PyTorch's layout.

Each cell says how many gate blocks it has, what one step costs in pointwise FLOPs forward and
backward, and how many elements training keeps per step under the two implementations:

``fused``    cuDNN (GPU) and oneDNN (CPU LSTM): the kernel's reserve space keeps each step's
             gate activations, the states, and (GRU) the hidden-side candidate term.
``autograd`` PyTorch's decomposed cell graph (CPU ``nn.RNN``/``nn.GRU``, a Python cell loop,
             ``nn.LSTM`` with oneDNN disabled): what ``saved_tensors_hooks`` sees, storage by
             storage; derived in docs/conventions.md and checked exactly in tests.

Symbols: H hidden size, P output size (``proj_size`` or H), GH = gates*H, nb bias vectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import sympy as sp

from costmodel import conventions as C


@dataclass(frozen=True)
class Cell:
    kind: str  # rnn, lstm, gru
    gates: int
    #: forward pointwise FLOPs per step per batch element: f(H, act, nonlinearity) with act the FLOP table
    forward: Callable
    #: backward pointwise FLOPs per step per batch element: f(H, act_backward, nonlinearity)
    backward: Callable
    #: extra H-sized tensors a fused kernel keeps per step besides gates and h_t
    fused_extra: int
    #: autograd: elements saved per layer-direction for n steps, f(n, H, P), h0/c0 excluded
    autograd_saved: Callable
    #: state tensors carried between steps: h (and c for the LSTM)
    carries_cell: bool


# Bias adds and bias-gradient sums are not here: they belong to the GEMM parts that own
# b_ih and b_hh (see recurrent.py). What is here joins the two GEMMs and applies the gates.


def _rnn_forward(H, act, nonlinearity):
    # h = act(x W_ih^T + h W_hh^T): one add joins the two GEMMs
    return H + H * act[nonlinearity]


def _rnn_backward(H, act_b, nonlinearity):
    # dh_total = dh + dh_from_next (1), then through the nonlinearity
    return H + H * act_b[nonlinearity]


def _lstm_forward(H, act, _):
    GH = C.GATES["lstm"] * H
    # join the GEMMs (GH); i, f, o sigmoid; g tanh; c = f*c + i*g (3); h = o * tanh(c) (1)
    products = 4
    return GH + 3 * H * act["sigmoid"] + 2 * H * act["tanh"] + products * H


def _lstm_backward(H, act_b, _):
    # dh_total (1), do = dh*tanh(c) (1), dtanh = dh*o (1), dc_total add (1),
    # di = dc*g, dg = dc*i, df = dc*c_prev, dc_prev = dc*f (4): 8 per element,
    # then the derivative of 3 sigmoids and 2 tanh
    products = 8
    return products * H + 3 * H * act_b["sigmoid"] + 2 * H * act_b["tanh"]


def _gru_forward(H, act, _):
    # r, z = sigmoid(gi + gh) (2 adds); n = tanh(gi_n + r * gh_n) (2 ops);
    # h' = n + z * (h - n) (3 ops): 7 per element
    products = 7
    return products * H + 2 * H * act["sigmoid"] + H * act["tanh"]


def _gru_backward(H, act_b, _):
    # dh_total (1), dz = dh*(h-n) (1), dn = dh*(1-z) (2), dh_prev += dh*z (1),
    # dr = dn_pre*gh_n (1), dgh_n = dn_pre*r (1): 7, plus the activations
    products = 7
    return products * H + 2 * H * act_b["sigmoid"] + H * act_b["tanh"]


def _rnn_saved(n, H, P):
    # tanh/relu keep their outputs h_1..h_n; h_{t-1} for the next GEMM is the same storage
    return n * H


def _lstm_saved(n, H, P):
    GH = C.GATES["lstm"] * H
    # per step: gate activations (one storage of GH, sigmoid_/tanh_ in place on its chunks),
    # tanh(c_t) (H); c_1..c_{n-1} (H) and h_1..h_{n-1} (P) for the next step's products/GEMM;
    # with a projection the pre-projection h (H) for the W_hr GEMM
    projected = H if P != H else 0
    return n * GH + n * H + (n - 1) * H + (n - 1) * P + n * projected


def _gru_saved(n, H, P):
    GH = C.GATES["gru"] * H
    # per step: the hidden-gate storage (GH, sigmoid_ in place on r and z), a copy of gh_n
    # (saved before the in-place r * gh_n), n_t = tanh(...), (h - n_t); plus h_1..h_{n-1}
    copies = 3
    return n * GH + copies * n * H + (n - 1) * H


CELLS: Mapping[str, Cell] = {
    "rnn": Cell("rnn", C.GATES["rnn"], _rnn_forward, _rnn_backward, 0, _rnn_saved, False),
    "lstm": Cell("lstm", C.GATES["lstm"], _lstm_forward, _lstm_backward, 1, _lstm_saved, True),
    # the fused GRU also keeps gh_n = h W_hn^T + b_hn, needed for dr (reset after the GEMM)
    "gru": Cell("gru", C.GATES["gru"], _gru_forward, _gru_backward, 1, _gru_saved, False),
}


def nonlinearity_table(overrides: Mapping[str, int] | None, backward: bool) -> dict:
    base = dict(C.NONLINEARITY_BACKWARD_FLOPS if backward else C.NONLINEARITY_FLOPS)
    for key, value in (overrides or {}).items():
        if key not in base:
            raise ValueError(f"nonlinearity_flops key {key!r} is not one of: {', '.join(base)}")
        base[key] = sp.sympify(value)
    return base
