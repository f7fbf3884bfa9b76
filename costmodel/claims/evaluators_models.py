"""Evaluators on recurrent models and the CRNN: parameters, FLOPs, bytes, sequential steps.

Every number comes from a costmodel constructor (``RNN``, ``LSTM``, ``GRU``, ``Linear``,
``CRNN``) evaluated with the claim's parameters. The primary value uses costmodel's defaults
(PyTorch's two bias vectors, 2 FLOPs per multiply-add, fp32); other readings a document may
have used are returned as named alternatives, so a verdict can say "holds under a stated
convention" and name it.
"""

from __future__ import annotations

from typing import Mapping

import sympy as sp

import costmodel as cm
from costmodel import conventions as C
from costmodel import symbols as S
from costmodel.claims.evaluators import Outcome, evaluator, fmt, need
from costmodel.cost import Cost

RECURRENT = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
MAC_CONVENTION = "1 multiply-add = 1 FLOP (MACs, fvcore)"
ONE_BIAS = "one bias vector per gate (textbook cell, Keras LSTM)"


def recurrent(params: Mapping, **override) -> Cost:
    """The recurrent record of ``params``: kind, input_size, hidden_size, num_layers,
    bidirectional, bias_vectors, implementation (defaults: PyTorch's)."""
    p = {**params, **override}
    kind, d, h = p["kind"], p["input_size"], p["hidden_size"]
    options = {k: p[k] for k in ("bias_vectors", "implementation", "schedule") if k in p}
    return getattr(cm, RECURRENT[kind])(d, h, num_layers=p.get("num_layers", 1),
                                        bidirectional=p.get("bidirectional", False),
                                        bias=p.get("bias", True), **options)


def run(record: Cost, params: Mapping) -> dict:
    """``record.evaluate`` at the claim's n (default 1), batch (1) and dtype (fp32)."""
    return record.evaluate(n=params.get("n", 1), batch=params.get("batch", 1),
                           dtype=params.get("dtype", "fp32"))


def part(record: Cost, name: str) -> Cost:
    """The first part called ``name`` in a depth-first walk of ``record.parts``."""
    for p in record.parts:
        if p.name == name:
            return p
        try:
            return part(p, name)
        except KeyError:
            continue
    raise KeyError(name)


@evaluator("recurrent_params")
def recurrent_params(params: Mapping) -> Outcome:
    two = run(recurrent(params), params)["params"]
    one = run(recurrent(params, bias_vectors=1), params)["params"]
    none = run(recurrent(params, bias=False), params)["params"]
    return Outcome(value=two, detail=f"{recurrent(params).name}: {fmt(two)} with b_ih and b_hh "
                   f"(PyTorch), {fmt(one)} with one bias, {fmt(none)} without",
                   alternatives=((ONE_BIAS, one), ("no bias vectors", none)))


@evaluator("recurrent_weight")
def recurrent_weight(params: Mapping) -> Outcome:
    """One weight matrix of layer 0: ``matrix`` = "ih" (W_ih, gates*H x input) or "hh"."""
    (matrix,) = need(params, "matrix")
    name = {"ih": "input_projection", "hh": "recurrent"}[matrix]
    value = int(part(recurrent(params, bias=False), name).params)
    return Outcome(value=value, detail=f"W_{matrix} of {recurrent(params).name}: {fmt(value)}")


@evaluator("linear_params")
def linear_params(params: Mapping) -> Outcome:
    d_in, d_out = need(params, "in_features", "out_features")
    with_bias = run(cm.Linear(d_in, d_out), params)["params"]
    weights = run(cm.Linear(d_in, d_out, bias=False), params)["params"]
    value = with_bias if params.get("bias", True) else weights
    return Outcome(value=value, detail=f"Linear({d_in}, {d_out}): {fmt(weights)} weights, "
                   f"{fmt(with_bias - weights)} bias")


@evaluator("rnn_lm_params")
def rnn_lm_params(params: Mapping) -> Outcome:
    """An RNN plus its output layer ``Linear(hidden_size, vocab)``; ``only="biases"`` counts
    the bias vectors alone."""
    (vocab,) = need(params, "vocab")
    biases = params.get("only") == "biases"

    def count(**override) -> int:
        total = run(recurrent(params, **override), params)["params"] + \
            run(cm.Linear(params["hidden_size"], vocab), params)["params"]
        if biases:
            total -= run(recurrent(params, bias=False), params)["params"] + \
                run(cm.Linear(params["hidden_size"], vocab, bias=False), params)["params"]
        return total

    two, one = count(), count(bias_vectors=1)
    what = "biases" if biases else "params"
    return Outcome(value=two, detail=f"{recurrent(params).name} + Linear({params['hidden_size']}"
                   f", {vocab}) {what}: {fmt(two)} (b_ih and b_hh), {fmt(one)} (one hidden bias)",
                   alternatives=((ONE_BIAS, one),))


@evaluator("recurrent_flops")
def recurrent_flops(params: Mapping) -> Outcome:
    """Forward ``field`` (default matmul_flops) of the whole sequence."""
    field = params.get("field", "matmul_flops")
    values = run(recurrent(params), params)
    alternatives = [(MAC_CONVENTION, values[field] / C.FLOPS_PER_MAC)]
    if field == "flops":
        alternatives.append(("matrix products only", values["matmul_flops"]))
    return Outcome(value=values[field], alternatives=tuple(alternatives),
                   detail=f"{recurrent(params).name}, n={params.get('n', 1)}, batch="
                   f"{params.get('batch', 1)}: {field} = {fmt(values[field])}")


@evaluator("recurrent_step_flops")
def recurrent_step_flops(params: Mapping) -> Outcome:
    """One step's FLOPs (batch 1): ``part`` = ih, hh, activation or total."""
    (which,) = need(params, "part")
    record, h = recurrent(params), params["hidden_size"]
    one = {**params, "n": 1, "batch": 1}
    if which in ("ih", "hh"):
        name = {"ih": "input_projection", "hh": "recurrent"}[which]
        value = run(part(record, name), one)["matmul_flops"]
        return Outcome(value=value, detail=f"W_{which} product, one step: {fmt(value)}",
                       alternatives=((MAC_CONVENTION, value / C.FLOPS_PER_MAC),))
    tanh = C.NONLINEARITY_FLOPS["tanh"] * h
    if which == "activation":
        return Outcome(value=tanh, detail=f"tanh on {h} units at "
                       f"{C.NONLINEARITY_FLOPS['tanh']} FLOPs each",
                       alternatives=(("tanh counted 1 FLOP per element", h),))
    values = run(record, one)
    bare = values["matmul_flops"] + h
    return Outcome(value=values["flops"], detail=f"matmul {fmt(values['matmul_flops'])} + "
                   f"elementwise {fmt(values['elementwise_flops'])} (bias adds, tanh)",
                   alternatives=(("matmuls + 1 FLOP per tanh, bias adds not counted", bare),))


def sequential_steps(record: Cost) -> sp.Expr:
    """Dependent recurrence steps: the part of the critical path that grows with n."""
    depth = record.depth_forward
    return sp.expand(depth - depth.subs(S.n, 0))


@evaluator("recurrent_sequential_steps")
def recurrent_sequential_steps(params: Mapping) -> Outcome:
    record = recurrent(params)
    n = params["n"]
    steps = int(sequential_steps(record).subs(S.n, n))
    depth = int(record.depth_forward.subs(S.n, n))
    return Outcome(value=steps, detail=f"{record.name}, n={n}: {fmt(steps)} dependent steps "
                   f"(critical path {record.depth_forward} = {depth} with input projections)",
                   alternatives=(("critical path including the input-projection GEMMs",
                                  depth),))


@evaluator("recurrent_kernel_launches")
def recurrent_kernel_launches(params: Mapping) -> Outcome:
    """Forward launches one after another: sum of ``count`` over forward kernels."""
    record, n = recurrent(params), params["n"]
    launches = sum(int(sp.sympify(k.count).subs(S.n, n)) for k in record.kernels
                   if k.phase == "forward")
    steps = int(sequential_steps(record).subs(S.n, n))
    names = ", ".join(f"{k.name} x {k.count}" for k in record.kernels if k.phase == "forward")
    return Outcome(value=launches, detail=f"{names} = {fmt(launches)} at n={n}",
                   alternatives=(("one fused kernel per step (GEMM and cell fused)", steps),))


@evaluator("state_sequence_bytes")
def state_sequence_bytes(params: Mapping) -> Outcome:
    """The states of every step kept for BPTT: n x state_bytes (h, and c for an LSTM)."""
    values = run(recurrent(params), params)
    n = params.get("steps", params.get("n", 1))
    value = n * values["state_bytes"]
    return Outcome(value=value, detail=f"{fmt(n)} steps x state_bytes {fmt(values['state_bytes'])}"
                   f" ({recurrent(params).name}, batch={params.get('batch', 1)}, "
                   f"{params.get('dtype', 'fp32')}) = {fmt(value)} B")


@evaluator("recurrent_activation_bytes")
def recurrent_activation_bytes(params: Mapping) -> Outcome:
    fused = run(recurrent(params, implementation="fused"), params)["activation_bytes"]
    autograd = run(recurrent(params, implementation="autograd"), params)["activation_bytes"]
    return Outcome(value=fused, detail=f"activation_bytes, fused cuDNN kernel {fmt(fused)} B, "
                   f"PyTorch autograd cell {fmt(autograd)} B",
                   alternatives=(("autograd cell graph (no fused kernel)", autograd),))


@evaluator("activation_over_states")
def activation_over_states(params: Mapping) -> Outcome:
    """Saved-for-backward bytes over the bytes of the hidden states alone."""
    values = run(recurrent(params), params)
    states = params["n"] * values["state_bytes"]
    value = values["activation_bytes"] / states
    return Outcome(value=value, detail=f"activation_bytes {fmt(values['activation_bytes'])} / "
                   f"hidden states {fmt(states)} = {value:.3g}")


@evaluator("bidirectional_ratio")
def bidirectional_ratio(params: Mapping) -> Outcome:
    """``field`` of the bidirectional layer over the unidirectional one ("steps" = the
    sequential steps on the critical path)."""
    field = params.get("field", "flops")
    two, one = recurrent(params, bidirectional=True), recurrent(params, bidirectional=False)
    if field == "steps":
        a, b = (int(sequential_steps(r).subs(S.n, params["n"])) for r in (two, one))
        serial = 2 * b  # both directions' steps, one direction after the other
        alternatives = (("the two directions run one after the other", serial / b),)
    else:
        a, b = run(two, params)[field], run(one, params)[field]
        alternatives = ()
    return Outcome(value=a / b, detail=f"{field}: {fmt(a)} / {fmt(b)}",
                   alternatives=alternatives)


@evaluator("param_ratio")
def param_ratio(params: Mapping) -> Outcome:
    a, b = need(params, "kind_a", "kind_b")
    pa = run(recurrent({**params, "kind": a}), params)["params"]
    pb = run(recurrent({**params, "kind": b}), params)["params"]
    return Outcome(value=pa / pb, detail=f"{a} {fmt(pa)} / {b} {fmt(pb)} params")


@evaluator("gate_count")
def gate_count(params: Mapping) -> Outcome:
    """Weight blocks per cell (conventions.GATES); the sigmoid gates alone are the other
    common count (the LSTM's candidate and the GRU's candidate are not gates then)."""
    (kind,) = need(params, "kind")
    blocks = C.GATES[kind]
    return Outcome(value=blocks, detail=f"{kind}: {blocks} weight blocks, {blocks - 1} "
                   "sigmoid gates", alternatives=(("sigmoid gates only (candidate excluded)",
                                                   blocks - 1),))


def step_outputs(params: Mapping) -> tuple[int, int]:
    """Independent outputs of one step's GEMM (its M x N, from the step_gemm kernel shape)
    and the hidden units alone, at the claim's batch."""
    record, b = recurrent(params), params.get("batch", 1)
    gemm = next(k for k in record.kernels if k.name == "step_gemm")
    rows, cols = (int(sp.sympify(x).subs(S.batch, b)) for x in gemm.shape[:2])
    return rows * cols, b * params["hidden_size"]


@evaluator("step_parallelism")
def step_parallelism(params: Mapping) -> Outcome:
    outputs, units = step_outputs(params)
    b = params.get("batch", 1)
    return Outcome(value=outputs, detail=f"step GEMM outputs batch x gates*hidden = {fmt(outputs)}",
                   alternatives=(("hidden units only (one gate)", units),
                                 ("one parallel operation per sequence in the batch", b)))


# ----- the CRNN of document 000 ----------------------------------------------------------
def crnn(params: Mapping, **override) -> Cost:
    p = {**params, **override}
    return cm.CRNN(freq_reduction=p.get("freq_reduction", "flatten"),
                   pooling=p.get("pooling", "mean"), padding=p.get("padding", 1))


@evaluator("crnn_params")
def crnn_params(params: Mapping) -> Outcome:
    flat = run(crnn(params, freq_reduction="flatten"), params)["params"]
    mean = run(crnn(params, freq_reduction="mean"), params)["params"]
    return Outcome(value=flat, detail=f"CRNN params: {fmt(flat)} when the GRU reads the "
                   f"flattened 128 channels x 16 mel bins, {fmt(mean)} when the mel axis is "
                   "averaged out (the document's 128 features)",
                   alternatives=(("mel axis averaged out: GRU input 128", mean),))


@evaluator("crnn_sequence_length")
def crnn_sequence_length(params: Mapping) -> Outcome:
    """Frames the GRU sees: the conv/pool stack's output length for ``n`` input frames."""
    n = params["n"]
    out = {pad: _stack_out_len(params, pad) for pad in (1, 0)}
    return Outcome(value=out[1], detail=f"n={n}: padding=1 gives {out[1]}, padding=0 {out[0]}",
                   alternatives=(("padding=0 (valid convolutions)", out[0]),))


def _stack_out_len(params: Mapping, padding: int) -> int:
    from costmodel.models.conv import conv2d_out_size, maxpool2d_out_size

    height, width = params.get("n_mels", 128), sp.Integer(params["n"])
    for _ in range(params.get("blocks", 3)):
        height, width = conv2d_out_size(height, width, kernel_size=3, padding=padding)
        height, width = maxpool2d_out_size(int(height), width, kernel_size=2)
    return int(width)


@evaluator("crnn_feature_size")
def crnn_feature_size(params: Mapping) -> Outcome:
    """GRU input features: flattened channels x remaining mel bins, or channels alone."""
    from costmodel.models.conv import conv2d_out_size, maxpool2d_out_size

    height, channels = params.get("n_mels", 128), params.get("channels", 128)
    for _ in range(params.get("blocks", 3)):
        height, _w = conv2d_out_size(height, S.n, kernel_size=3, padding=1)
        height, _w = maxpool2d_out_size(int(height), S.n, kernel_size=2)
    flat = channels * int(height)
    return Outcome(value=flat, detail=f"{channels} channels x {int(height)} mel bins = {flat}",
                   alternatives=(("mel axis averaged out (channels only)", channels),))
