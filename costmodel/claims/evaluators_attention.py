"""Evaluators on attention and Transformer layers, attention memory, and big-O claims.

Transformer layers come from ``costmodel.TransformerEncoderLayer`` / ``...DecoderLayer``
when those constructors are available; until then they are composed from the records that
exist (MultiheadAttention, LayerNorm, Linear, ReLU in a Sequential), which give the same
params, matmul FLOPs and depth (only the residual adds, elementwise FLOPs, are missing); the
detail text says which was used.
"""

from __future__ import annotations

from typing import Mapping

import sympy as sp

import costmodel as cm
from costmodel import symbols as S
from costmodel.claims.evaluators import Outcome, evaluator, fmt, need
from costmodel.claims.evaluators_models import (MAC_CONVENTION, recurrent, run,
                                                sequential_steps)
from costmodel.compose import Sequential
from costmodel.cost import Cost
from costmodel.numeric import dtype_bytes_of
from costmodel.bigo import big_o as leading_terms

#: Constructors a big-O claim may name (looked up, never evaluated).
MODELS = {"RNN": "RNN", "LSTM": "LSTM", "GRU": "GRU", "Linear": "Linear",
          "MultiheadAttention": "MultiheadAttention", "S4": "S4", "Mamba": "Mamba",
          "LinearAttention": "LinearAttention", "Linformer": "Linformer",
          "ConformerBlock": "ConformerBlock",
          "AudioSpectrogramTransformer": "AudioSpectrogramTransformer"}
NO_BIAS = "no bias vectors (weights only)"


def _constructor(name: str):
    try:
        return getattr(cm, name)
    except (ImportError, AttributeError):
        return None


def encoder_layer(d, nhead, ff) -> tuple[Cost, str]:
    build = _constructor("TransformerEncoderLayer")
    if build is not None:
        # the documents' claims are about the textbook kernel (scores in memory): explicit
        return (build(d, nhead, dim_feedforward=ff, dropout=0.0, attention="math"),
                "TransformerEncoderLayer")
    return Sequential(cm.MultiheadAttention(d, nhead), cm.LayerNorm(d), cm.Linear(d, ff),
                      cm.ReLU(features=ff), cm.Linear(ff, d), cm.LayerNorm(d),
                      name=f"encoder layer({d}, {nhead}, {ff})"), \
        "composed: MultiheadAttention, LayerNorm, Linear, ReLU, Linear, LayerNorm"


def decoder_layer(d, nhead, ff) -> tuple[Cost, str]:
    build = _constructor("TransformerDecoderLayer")
    if build is not None:
        return (build(d, nhead, dim_feedforward=ff, dropout=0.0, attention="math"),
                "TransformerDecoderLayer")
    return Sequential(cm.MultiheadAttention(d, nhead), cm.LayerNorm(d),
                      cm.MultiheadAttention(d, nhead), cm.LayerNorm(d), cm.Linear(d, ff),
                      cm.ReLU(features=ff), cm.Linear(ff, d), cm.LayerNorm(d),
                      name=f"decoder layer({d}, {nhead}, {ff})"), \
        "composed: 2 x MultiheadAttention, 3 x LayerNorm, 2 x Linear, ReLU"


def _layer(params: Mapping) -> tuple[Cost, str]:
    d, h, ff = need(params, "d_model", "nhead", "dim_feedforward")
    return encoder_layer(d, h, ff)


@evaluator("transformer_layer_flops")
def transformer_layer_flops(params: Mapping) -> Outcome:
    """Forward matmul FLOPs of one encoder layer: ``part`` attention, ffn or total."""
    which = params.get("part", "total")
    d, h, ff = need(params, "d_model", "nhead", "dim_feedforward")
    records = {"attention": cm.MultiheadAttention(d, h),
               "ffn": Sequential(cm.Linear(d, ff), cm.Linear(ff, d)),
               "total": _layer(params)[0]}
    value = run(records[which], params)["matmul_flops"]
    alternatives = [(MAC_CONVENTION, value / 2)]
    if which == "total":
        attention = run(records["attention"], params)["matmul_flops"]
        alternatives.append(("attention only (no feed-forward block)", attention))
    return Outcome(value=value, detail=f"{which} of ({d}, {h}, {ff}) at n={params['n']}: "
                   f"{fmt(value)} matmul FLOPs", alternatives=tuple(alternatives))


@evaluator("transformer_over_lstm_flops")
def transformer_over_lstm_flops(params: Mapping) -> Outcome:
    layer = run(_layer(params)[0], params)["matmul_flops"]
    lstm = run(recurrent({**params, "kind": "lstm"}), params)["matmul_flops"]
    return Outcome(value=layer / lstm, detail=f"layer {fmt(layer)} / LSTM {fmt(lstm)}")


@evaluator("mha_params")
def mha_params(params: Mapping) -> Outcome:
    d, h = need(params, "embed_dim", "num_heads")
    biased = run(cm.MultiheadAttention(d, h), params)["params"]
    bare = run(cm.MultiheadAttention(d, h, bias=False), params)["params"]
    layer = run(encoder_layer(d, h, params.get("dim_feedforward", 4 * d))[0], params)["params"]
    return Outcome(value=layer, detail=f"full encoder layer {fmt(layer)}; attention alone "
                   f"{fmt(biased)} with biases, {fmt(bare)} without",
                   alternatives=(("attention projections only, with biases", biased),
                                 ("attention projections only, no biases (4 d^2)", bare)))


@evaluator("mha_flops")
def mha_flops(params: Mapping) -> Outcome:
    d, h = need(params, "embed_dim", "num_heads")
    value = run(cm.MultiheadAttention(d, h), params)["matmul_flops"]
    return Outcome(value=value, detail=f"MultiheadAttention({d}, {h}) at n={params['n']}: "
                   f"{fmt(value)}", alternatives=((MAC_CONVENTION, value / 2),))


@evaluator("transformer_sequential_steps")
def transformer_sequential_steps(params: Mapping) -> Outcome:
    layers = params["layers"]
    record, how = _layer(params)
    per = int(record.depth_forward)
    return Outcome(value=layers * per, detail=f"{layers} layers x {per} dependent GEMM-class "
                   f"steps ({how})", alternatives=(("one step per layer", layers),))


@evaluator("rnn_over_transformer_steps")
def rnn_over_transformer_steps(params: Mapping) -> Outcome:
    layers, n = params["layers"], params["n"]
    rnn = int(sequential_steps(recurrent(params)).subs(S.n, n))
    tf = layers * int(_layer(params)[0].depth_forward)
    return Outcome(value=rnn / tf, detail=f"{recurrent(params).name}: {rnn} steps / "
                   f"{layers} layers x {tf // layers} GEMM steps = {rnn / tf:.3g}",
                   alternatives=((f"{n} RNN steps over one step per Transformer layer",
                                  n / layers),))


def _vaswani(d, h, ff, layers, vocab) -> tuple[int, str]:
    enc, how = encoder_layer(d, h, ff)
    dec, _ = decoder_layer(d, h, ff)
    blocks = layers * (run(enc, {})["params"] + run(dec, {})["params"])
    return blocks + vocab * d, how  # one embedding matrix shared by source, target, softmax


@evaluator("seq2seq_transformer_params")
def seq2seq_transformer_params(params: Mapping) -> Outcome:
    """Vaswani et al.'s model: ``layers`` encoder + decoder layers, one shared embedding of a
    ``vocab`` (number or [lo, hi]) tokens tied to the output projection."""
    d, h, ff, layers, vocab = need(params, "d_model", "nhead", "dim_feedforward", "layers",
                                   "vocab")
    lo, hi = (vocab, vocab) if not isinstance(vocab, list) else vocab
    (a, how), (b, _) = _vaswani(d, h, ff, layers, lo), _vaswani(d, h, ff, layers, hi)
    return Outcome(value=a if a == b else (a, b), detail=f"{layers}+{layers} layers ({how}) + "
                   f"tied embedding of {lo}-{hi} tokens x {d}: {fmt(a)} to {fmt(b)}")


@evaluator("seq2seq_lstm_params")
def seq2seq_lstm_params(params: Mapping) -> Outcome:
    """Sutskever et al.'s model: source and target embeddings, an encoder and a decoder LSTM
    stack, a softmax ``Linear(hidden, tgt_vocab)``."""
    src, tgt, e, h, layers = need(params, "src_vocab", "tgt_vocab", "embed_dim",
                                  "hidden_size", "num_layers")
    stack = run(cm.LSTM(e, h, num_layers=layers), params)["params"]
    one = run(cm.LSTM(e, h, num_layers=layers, bias_vectors=1), params)["params"]
    rest = sum(run(r, params)["params"] for r in (cm.Embedding(src, e), cm.Embedding(tgt, e),
                                                  cm.Linear(h, tgt)))
    return Outcome(value=rest + 2 * stack, detail=f"embeddings + softmax {fmt(rest)} + 2 LSTM "
                   f"stacks x {fmt(stack)}", alternatives=((
                       "one bias vector per gate", rest + 2 * one),))


@evaluator("attention_score_bytes")
def attention_score_bytes(params: Mapping) -> Outcome:
    """The attention matrices: scores [batch, heads, n, n] per layer, in ``dtype``."""
    b, h, n = need(params, "batch", "heads", "n")
    layers, s = params.get("layers", 1), dtype_bytes_of(params.get("dtype", "fp32"))
    value = layers * b * h * n * n * s
    return Outcome(value=value, detail=f"{layers} layers x batch {b} x {h} heads x {n}^2 x "
                   f"{s} B = {fmt(value)} B")


@evaluator("memory_crossover_n")
def memory_crossover_n(params: Mapping) -> Outcome:
    """n where an LSTM's h and c for every step equal one layer's attention scores."""
    h, heads = need(params, "hidden_size", "heads")
    lstm = S.n * cm.LSTM(h, h).state_bytes  # [batch, h] h and c, every step
    scores = heads * S.batch * S.n ** 2 * S.dtype_bytes  # [batch, heads, n, n]
    (root,) = sp.solve(sp.Eq(lstm, scores), S.n)
    return Outcome(value=int(root), detail=f"n * ({cm.LSTM(h, h).state_bytes}) = "
                   f"{heads} * batch * n^2 * s  ->  n = {root}")


@evaluator("gemm_intensity")
def gemm_intensity(params: Mapping) -> Outcome:
    """FLOPs per byte moved of ``Linear(in, out)`` over ``tokens`` rows (number or [lo, hi])."""
    d_in, d_out, tokens = need(params, "in_features", "out_features", "tokens")
    lo, hi = (tokens, tokens) if not isinstance(tokens, list) else tokens
    record = cm.Linear(d_in, d_out)
    v = [run(record, {**params, "n": t})["flops"] / run(record, {**params, "n": t})["bytes"]
         for t in (lo, hi)]
    value = v[0] if lo == hi else (min(v), max(v))
    return Outcome(value=value, detail=f"Linear({d_in}, {d_out}) over {lo}-{hi} rows, "
                   f"{params.get('dtype', 'fp32')}: {fmt(v[0])} to {fmt(v[1])} FLOPs/byte")


@evaluator("big_o")
def big_o(params: Mapping) -> Outcome:
    """The leading terms of a record's ``field`` in the symbols of ``keep`` (others set to 1),
    optionally per step (``per_step``: divided by n) or of the forward ``kernels`` named (their
    FLOPs, e.g. the attention score and value products alone). ``alt_kwargs`` (with
    ``alt_label``): the same field of the model built with those keywords instead, a named
    alternative (S4 computed step by step rather than by FFT)."""
    model, field = need(params, "model", "field")
    record = getattr(cm, MODELS[model])(*params.get("args", []), **params.get("kwargs", {}))
    expr = sp.sympify(record.get(field))
    if "kernels" in params:
        expr = sum(k.flops * k.count for k in record.kernels
                   if k.phase == "forward" and k.name in params["kernels"])
        field = "+".join(params["kernels"]) + " FLOPs"
    if params.get("per_step"):
        expr = sp.expand(expr / S.n)
    alternatives = ()
    if "alt_kernels" in params:  # the same field restricted to some kernels' FLOPs
        alt = sum(k.flops * k.count for k in record.kernels
                  if k.phase == "forward" and k.name in params["alt_kernels"])
        alternatives = ((f"{' and '.join(params['alt_kernels'])} products only",
                         leading_terms(_keep(alt, params))),)
    if "alt_kwargs" in params:
        other = getattr(cm, MODELS[model])(*params.get("args", []), **params["alt_kwargs"])
        alt = _keep(other.get(field), params)
        alternatives += ((params.get("alt_label", str(params["alt_kwargs"])),
                          leading_terms(alt)),)
        other_detail = f"; {other.name}.{field} = {sp.sympify(other.get(field))}"
    else:
        other_detail = ""
    full = expr  # the detail shows every symbol; the verdict reads the kept ones
    expr = _keep(expr, params)
    return Outcome(value=leading_terms(expr),
                   detail=f"{record.name}.{field} = {full}{other_detail}",
                   alternatives=alternatives)


def _keep(expr, params: Mapping):
    """``expr`` with every symbol not in ``params["keep"]`` set to 1 (batch, s, ...)."""
    keep = params.get("keep")
    if keep is None:
        return expr
    return sp.sympify(expr).subs({s: 1 for s in sp.sympify(expr).free_symbols
                                  if s.name not in keep})


def ast_params(params: Mapping) -> tuple[int, str]:
    """The Audio Spectrogram Transformer (Gong et al. 2021, DeiT-base) as
    ``cm.AudioSpectrogramTransformer`` builds it (checked against a torch reference): the
    16x16 patch Conv2d at stride 10 over ``n_mels`` x ``frames``, the two class tokens and
    the positional embeddings, ``layers`` pre-norm encoder layers and the final LayerNorm, the
    LayerNorm + Linear head."""
    d, h, ff, layers, frames, out = need(params, "d_model", "nhead", "dim_feedforward",
                                         "layers", "frames", "out_features")
    from costmodel.models.ast import ast_patch_grid

    mels = params.get("n_mels", 128)
    f, t = (int(x) for x in ast_patch_grid(mels, frames))
    record = cm.AudioSpectrogramTransformer(num_classes=out, input_fdim=mels,
                                            input_tdim=frames, embed_dim=d, depth=layers,
                                            num_heads=h, mlp_dim=ff)
    return int(sp.sympify(record.params)), (f"AudioSpectrogramTransformer, {f} x {t} = "
                                            f"{f * t:,} patches")


@evaluator("ast_over_crnn_params")
def ast_over_crnn_params(params: Mapping) -> Outcome:
    """AST parameters over the CRNN's (the CRNN with its mel axis flattened or averaged)."""
    ast, how = ast_params(params)
    crnns = [int(sp.sympify(cm.CRNN(freq_reduction=r).params)) for r in ("flatten", "mean")]
    lo, hi = ast / max(crnns), ast / min(crnns)
    return Outcome(value=(lo, hi), detail=f"AST {fmt(ast)} params ({how}) / CRNN "
                   f"{fmt(crnns[0])} (flattened mel axis) to {fmt(crnns[1])} (averaged) = "
                   f"{lo:.3g} to {hi:.3g}")
