"""Composed models against torch: generated chains, input gradients, width checks, names.

A chain's first module reads data (no gradient); every module behind a trainable one computes
its input's gradient, as autograd does. The oracle is torch's FlopCounterMode on the meta
device (PyTorch decomposes nn.LSTM there; the CPU oneDNN kernel counts 0), attention forced to
the math backend (costmodel's ``attention="math"``).
"""

from __future__ import annotations

import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import costmodel as cm
from costmodel import symbols as S
from costmodel.compose import stack, with_input_grad
from costmodel.models.transformer import _config, build_layer

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn.attention import SDPBackend, sdpa_kernel  # noqa: E402

from oracle import matmul_flops, num_params  # noqa: E402

RECURRENT = {"rnn": (cm.RNN, nn.RNN), "lstm": (cm.LSTM, nn.LSTM), "gru": (cm.GRU, nn.GRU)}


class Stage(nn.Module):
    """One module of the torch chain on time-major [n, batch, features] activations; only
    permutes around a Conv1d (it reads [batch, channels, n]) and drops an RNN's state:
    permutes and views have no FLOPs."""

    def __init__(self, module: nn.Module, conv: bool):
        super().__init__()
        self.module, self.conv = module, conv

    def forward(self, x):
        if self.conv:
            return self.module(x.permute(1, 2, 0)).permute(2, 0, 1)
        out = self.module(x)
        return out[0] if isinstance(out, tuple) else out


def _recurrent(draw, kind, width):
    hidden = draw(st.integers(1, 5))
    kw = dict(input_size=width, hidden_size=hidden, num_layers=draw(st.integers(1, 2)),
              bidirectional=draw(st.booleans()), bias=draw(st.booleans()))
    if kind == "lstm" and hidden > 1 and draw(st.booleans()):
        kw["proj_size"] = draw(st.integers(1, hidden - 1))
    ours, theirs = RECURRENT[kind]
    out = (2 if kw["bidirectional"] else 1) * (kw.get("proj_size") or hidden)
    return ours(**kw), Stage(theirs(**kw), conv=False), out, lambda n: n


def _conv(draw, width):
    c_out, k = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    kw = dict(kernel_size=k, stride=draw(st.integers(1, 2)), padding=draw(st.integers(0, 1)),
              bias=draw(st.booleans()))
    # PyTorch's output length: floor((n + 2 p - k) / stride) + 1
    length = lambda n: (n + 2 * kw["padding"] - k) // kw["stride"] + 1  # noqa: E731
    return (cm.Conv1d(width, c_out, **kw), Stage(nn.Conv1d(width, c_out, **kw), conv=True),
            c_out, length)


def _encoder(draw, width):
    kw = dict(nhead=draw(st.sampled_from([h for h in range(1, width + 1) if width % h == 0])),
              dim_feedforward=draw(st.integers(1, 6)), dropout=0.0,
              activation=draw(st.sampled_from(["relu", "gelu"])),
              norm_first=draw(st.booleans()), bias=draw(st.booleans()))
    return (cm.TransformerEncoderLayer(width, **kw, attention="math"),
            Stage(nn.TransformerEncoderLayer(width, **kw), conv=False), width, lambda n: n)


@st.composite
def chains(draw):
    """(records, torch modules, input width, n, batch): 2-5 modules whose widths chain."""
    width = first = draw(st.integers(1, 5))
    n = draw(st.integers(3, 9))
    length = n
    records, modules = [], []
    for _ in range(draw(st.integers(2, 5))):
        kind = draw(st.sampled_from(["linear", "conv", "rnn", "lstm", "gru", "encoder"]))
        if kind == "linear":
            out, bias = draw(st.integers(1, 5)), draw(st.booleans())
            made = (cm.Linear(width, out, bias), Stage(nn.Linear(width, out, bias), False),
                    out, lambda n: n)
        elif kind == "conv":
            made = _conv(draw, width)
        elif kind == "encoder":
            made = _encoder(draw, width)
        else:
            made = _recurrent(draw, kind, width)
        record, module, width, shorten = made
        length = shorten(length)
        assume(length >= 1)
        records.append(record)
        modules.append(module)
    return records, nn.Sequential(*modules), first, n, draw(st.integers(1, 3))


@settings(max_examples=30, deadline=None)
@given(chains())
def test_generated_chains_equal_flop_counter(chain):
    records, module, width, n, batch = chain
    got = cm.Sequential(*records).evaluate(n=n, batch=batch)
    x = torch.randn(n, batch, width)  # data: no gradient
    with sdpa_kernel(SDPBackend.MATH):
        forward, backward = matmul_flops(module, x, device="meta")
    assert got["params"] == num_params(module)
    assert (got["matmul_flops"], got["matmul_flops_backward"]) == (forward, backward)


def test_readme_example_golden():
    """Conv1d(80, 256, 3, padding=1) then GRU(256, 256), n = 100, batch 4 (tokens 400):
    conv grad_weight 2*400*256*80*3 = 49,152,000; GRU dW_ih = dx = 2*400*768*256 =
    157,286,400 each; dh 99 steps * 2*4*768*256 = 155,713,536; dW_hh 100 * 2*768*4*256 =
    157,286,400. Sum 676,724,736 (without the GRU's dx: 519,438,336)."""
    model = cm.Sequential(cm.Conv1d(80, 256, 3, padding=1), cm.GRU(256, 256))
    got = model.evaluate(n=100, batch=4)["matmul_flops_backward"]
    assert got == 49_152_000 + 3 * 157_286_400 + 155_713_536 == 676_724_736
    torch.manual_seed(0)
    torch_model = nn.Sequential(Stage(nn.Conv1d(80, 256, 3, padding=1), True),
                                Stage(nn.GRU(256, 256), False))
    assert matmul_flops(torch_model, torch.randn(100, 4, 80), device="meta")[1] == got
    assert "layer0.grad_input" in {k.name for k in model.kernels}  # time follows the FLOPs


# ----- with_input_grad equals building with input_requires_grad=True ---------------------
def _same(a: cm.Cost, b: cm.Cost) -> None:
    for q in cm.FIELDS + ("saved_input_bytes",):
        assert sp.expand(getattr(a, q) - getattr(b, q)) == 0, q
    key = lambda k: (k.name, k.phase)  # noqa: E731
    assert sorted(map(key, a.kernels)) == sorted(map(key, b.kernels))
    for k, j in zip(sorted(a.kernels, key=key), sorted(b.kernels, key=key)):
        for f in ("flops", "bytes", "count", "concurrent", "resident_bytes"):
            assert sp.expand(getattr(k, f) - getattr(j, f)) == 0, (k.name, f)


BUILT_BOTH_WAYS = [
    lambda g: cm.Linear("d", 7, input_requires_grad=g),
    lambda g: cm.Conv1d(3, 5, 3, padding=1, input_requires_grad=g),
    lambda g: cm.Conv1d(3, 5, 3, padding=2, padding_mode="reflect", input_requires_grad=g),
    lambda g: cm.Conv2d(2, 4, 3, padding="same", dilation=2, input_height=9,
                        input_requires_grad=g),
    lambda g: cm.MaxPool2d(2, channels=3, input_height=8, input_requires_grad=g),
    lambda g: cm.MaxPool2d(3, 2, 1, return_indices=True, channels=3, input_height=8,
                           input_requires_grad=g),
    lambda g: cm.LSTM("d", "h", num_layers=2, bidirectional=True, input_requires_grad=g),
    lambda g: cm.GRU(5, 4, num_layers=3, schedule="layer", input_requires_grad=g),
    lambda g: cm.RNN(5, 4, num_layers=2, implementation="autograd", input_requires_grad=g),
    lambda g: cm.MultiheadAttention("d", 2, input_requires_grad=g),
    lambda g: cm.MultiheadAttention(8, 2, kdim=3, vdim=5, input_requires_grad=g),
    lambda g: build_layer(_config("encoder", 8, 2, 16, 0.1, "gelu", 1e-5, False, False, True,
                                  "flash", True, 1), input_grad=g),
]


@pytest.mark.parametrize("make", BUILT_BOTH_WAYS)
def test_adding_input_grad_equals_building_with_it(make):
    """The composed route and the constructor route give the same record; the constructor
    route is checked against torch in each family's tests."""
    without, built = make(False), make(True)
    assert without.input_grad_cost is not None and built.input_grad_cost is None
    _same(with_input_grad(without), built)


def test_memory_side_input_never_gets_a_gradient():
    decoder = cm.TransformerDecoderLayer(8, 2, dim_feedforward=16)
    grad = decoder.input_grad_cost
    # only the self-attention's packed in_proj dx: 2 * tokens * 3d * d, none for the memory
    assert sp.expand(grad.matmul_flops_backward - 2 * S.batch * S.n * 24 * 8) == 0


def test_stack_gives_later_copies_their_input_gradient():
    layer = cm.Linear(6, 6)
    four = stack(layer, 4, name="four")
    # 4 x (forward 2*t*36 + grad_weight 2*t*36) + 3 x grad_input 2*t*36, t = batch * n
    t = S.batch * S.n
    assert sp.expand(four.matmul_flops_backward - (4 + 3) * 2 * t * 36) == 0
    assert four.input_grad_cost == layer.input_grad_cost  # only the first copy reads the input
    model = cm.Sequential(cm.Linear(6, 6), four)  # behind a trainable layer: all four need dx
    assert sp.expand(model.matmul_flops_backward - (1 + 4 + 4) * 2 * t * 36) == 0


def test_parameter_free_front_passes_no_gradient():
    """Behind a module with no parameters and no backward (a view), the input still needs
    no gradient; the chain keeps the module's input-gradient cost for an outer chain."""
    view = cm.Cost(name="view")
    inner = cm.Sequential(view, cm.Linear(4, 3))
    assert inner.matmul_flops_backward == cm.Linear(4, 3).matmul_flops_backward
    outer = cm.Sequential(cm.Linear(4, 4), inner)
    assert sp.expand(outer.matmul_flops_backward - cm.Sequential(
        cm.Linear(4, 4), cm.Linear(4, 3)).matmul_flops_backward) == 0


# ----- widths ------------------------------------------------------------------------------
@pytest.mark.parametrize("modules, words", [
    ((cm.GRU(256, 256), cm.Linear(128, 10)), ["module 1", "128", "gives 256"]),
    ((cm.GRU(256, 256, bidirectional=True), cm.Linear(256, 10)), ["module 1", "gives 512"]),
    ((cm.Linear(3, 4), cm.ReLU(features=4), cm.Conv1d(5, 2, 1)), ["module 2", "5", "gives 4"]),
    ((cm.LSTM("d", "h", bidirectional=True), cm.Linear("h", 2)), ["takes h", "gives 2*h"]),
    ((cm.Embedding(100, 16), cm.TransformerEncoderLayer(32, 4)), ["module 1", "32", "16"]),
])
def test_sequential_refuses_widths_that_differ(modules, words):
    with pytest.raises(ValueError) as err:
        cm.Sequential(*modules)
    for word in words:
        assert word in str(err.value)


def test_sequential_accepts_widths_that_may_agree():
    cm.Sequential(cm.LSTM("d", "h"), cm.Linear("h", 10))
    cm.Sequential(cm.LSTM("d", "h"), cm.Linear("e", 10))  # e may equal h: bound later
    cm.Sequential(cm.Linear(3, 4), cm.ReLU(), cm.Linear(4, 2))  # ReLU's width is a symbol
    assert cm.CRNN(n_mels=16, channels=(2, 3)).in_features == 16


# ----- size names --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["n", "s", "batch", "n_src", "k_opt", "dtype", "optimizer"])
def test_reserved_size_names_are_refused(name):
    with pytest.raises(ValueError) as err:
        cm.LSTM(name, 8)
    assert f"input_size={name!r}" in str(err.value) and "reserved" in str(err.value)


def test_unknown_size_error_shows_the_value():
    with pytest.raises(ValueError, match="e=3 is not a symbol"):
        cm.LSTM("d", "d").evaluate(n=2, d=4, e=3)


def test_stack_refuses_a_layer_that_changes_width():
    with pytest.raises(ValueError, match="reads 4 features but writes 6"):
        stack(cm.Linear(4, 6), 3, name="three")
