"""NVIDIA DeepLearningExamples' GNMT v2 training throughput on NAMED GPUs with cuDNN 8
(NVIDIA/DeepLearningExamples @ 729963d, ``PyTorch/Translation/GNMT/README.md``; container
pytorch-20.06-py3, cuDNN 8.0.1): one-GPU tokens per second at batch 128 on a DGX A100 40GB
(TF32, AMP) and a DGX-1 V100 16GB (FP32, AMP), averaged over an epoch of WMT16 en-de.
Shipped in ``costmodel/data/reference/gnmt-dle.json`` with its provenance. Nothing is fitted.

What it is for: which cuDNN stack (:mod:`costmodel.implementations.cudnn_stack`) the named
A100 favours. The model's eight LSTM layers are separate one-layer ``nn.LSTM`` calls, so each
pays the step floor once per step in either stack: DeepBench's (about 25.6 us forward on an
A100) or the cuDNN 8 one fitted on PR #62143's unnamed GPU (about 6 us).

The composition (:func:`records`), built from the public constructors, as the code runs it:
per iteration the encoder over ``n`` source tokens and the decoder over ``n`` target tokens
(``tgt[:-1]``), so an iteration counts ``2 * batch * n`` tokens, as the trainer counts them
(``sum(src_length) + sum(tgt_length - 1)``). The sequence length is not stated in the source:
:data:`MEAN_TOKENS` is derived in docs/validation.md ("end to end: GNMT v2 on named GPUs"), and
:func:`sensitivity` gives the scores at other lengths. One GPU accumulates gradients over
``1024 // 128`` iterations (``--train-global-batch-size 1024``): the Adam update is paid once
per :data:`ITER_SIZE` iterations.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np
import pandas as pd
import sympy as sp

import costmodel as cm
from costmodel import symbols as S
from costmodel.compose import combine
from costmodel.cost import Cost, Kernel
from costmodel.implementations import cudnn_stack
from costmodel.models.layers import with_backward_kernel
from costmodel.models.primitives import mm_flops, pointwise_part, tokens_of
from costmodel.reference import published

NAME = "gnmt-dle"
FITTED = cudnn_stack.FITTED  # the file whose floors it scores; nothing is fitted on these rows
REQUIRED = ("device", "math", "gpus", "batch_per_gpu", "tokens_per_s")
HIDDEN = 1024  # --hidden-size default (train.py)
LAYERS = 4  # --num-layers default: encoder and decoder each
VOCAB = 32320  # vocab.bpe.32000 + 4 specials, padded to 8 (see the JSON's provenance.vocab)
DROPOUT = 0.2  # --dropout default
GLOBAL_BATCH = 1024  # --train-global-batch-size of the README's benchmark command
BATCH = 128  # --train-batch-size default, the rows' batch per GPU
ITER_SIZE = GLOBAL_BATCH // BATCH  # one GPU: the optimizer steps every 8 iterations
#: Mean tokens per sentence side the README's throughput implies (docs/validation.md, "end
#: to end: GNMT v2 on named GPUs": 177M tokens per epoch from its own time-to-train / 2
#: sides / about 4M length-filtered pairs)
MEAN_TOKENS = 22
#: Padding per side priced on top: batches are drawn within one of 5 length buckets of width
#: (50 + 4) // 5 = 10 (seq2seq/data/sampler.py) and padded to their longest sentence, near
#: the bucket's top, about half a bucket above the mean (the first encoder layer's packed
#: sequence skips it; not modelled)
PAD_TOKENS = 5
#: the README's --math -> costmodel dtype and TF32 switch (AMP priced as fp16 throughout)
MATH = {"tf32": ("fp32", True), "fp32": ("fp32", False), "fp16": ("fp16", False)}
STACKS = (cudnn_stack.CUDNN8, cudnn_stack.DEEPBENCH)
SCORED = ("model", *STACKS)  # model: --cudnn-stack auto
# the short name a plot's title gives (SCORE_NOTE: the whole protocol)
PROTOCOL = "nothing fitted"
FIXED_PROTOCOL = True  # --no-leave-one-gpu-out changes nothing here
SCORE_NOTE = (f"seconds per training iteration at {MEAN_TOKENS} tokens per sentence side "
              f"(inferred) priced with {PAD_TOKENS} of padding, nothing fitted; model = the "
              f"auto cuDNN stack (pr62143 on the A100, deepbench on the V100), then each "
              f"stack on every row")
DIRECT_INPUTS = 1  # a pointwise op reading one tensor
BINARY_INPUTS = 2  # a pointwise op reading two (a residual add, a broadcast add)


def rows() -> pd.DataFrame:
    """One row per README throughput: ``measured_s`` = seconds per iteration at
    :data:`MEAN_TOKENS` (``2 * batch * n / tokens_per_s``), with the provenance."""
    (entry,) = published.files(NAME)
    origin = published.origin_of(entry)
    provenance, raw = published.table(entry, REQUIRED)
    out = []
    for i, row in enumerate(raw):
        published.choice(origin, i, row, "math", MATH)
        tokens_per_s = published.number(origin, i, row, "tokens_per_s")
        dtype, tf32 = MATH[row["math"]]
        out.append({"source": NAME, "gpu": published.gpu_name(origin, row["device"]),
                    "family": "gnmt-v2", "phase": "training", "dtype": dtype, "tf32": tf32,
                    "math": row["math"], "batch": int(row["batch_per_gpu"]),
                    "n": MEAN_TOKENS, "tokens_per_s": tokens_per_s,
                    "measured_s": iteration_tokens(int(row["batch_per_gpu"]), MEAN_TOKENS)
                    / tokens_per_s, "repo": provenance["repo"],
                    "commit": provenance["commit"], "path_or_url": provenance["source"]})
    return pd.DataFrame(out)


def iteration_tokens(batch: int, n: int) -> int:
    """Tokens one iteration counts: source and decoder-input tokens, ``n`` each per sentence."""
    return 2 * batch * n


def _pointwise(name: str, elements, *, inputs: int = DIRECT_INPUTS, saves: str = "none",
               kind: str = "elementwise", flops: int = 1):
    return with_backward_kernel(pointwise_part(name, elements, flops, flops, inputs=inputs,
                                               saves=saves, kind=kind))


def _adds(name: str, count: int, width: int):
    return [_pointwise(f"{name}{i}", tokens_of() * width, inputs=BINARY_INPUTS)
            for i in range(count)]


def _dropouts(widths) -> list:
    return [cm.Dropout(DROPOUT, features=w) for w in widths]


def attention(hidden: int = HIDDEN):
    """Normalized Bahdanau attention as ``seq2seq/models/attention.py`` runs it on ``n``
    decoder queries over ``n`` encoder keys: the two projections, then the score over the
    materialised [b, n, n, hidden] sum (add, + normalize_bias, tanh, @ linear_att: four
    passes), softmax over [b, n, n], and the context bmm [b, n, n] @ [b, n, hidden]."""
    grid = tokens_of() * S.n * hidden  # [b, t_q, t_k, hidden]
    scores = tokens_of() * S.n  # [b, t_q, t_k]
    s = S.dtype_bytes
    context_bytes = (scores + 2 * tokens_of() * hidden) * s  # P, keys read; context written
    bmm = mm_flops(S.n, S.n, hidden) * S.batch
    shape = (S.n, hidden, S.n, S.batch)  # per sentence: [t_q, t_k] @ [t_k, hidden]
    context = Cost(  # P and the keys are saved for backward
        name="context = bmm(P, keys)", matmul_flops=bmm, matmul_flops_backward=2 * bmm,
        bytes=context_bytes, activation_bytes=scores * s,
        kernels=(Kernel("context", "gemm", "forward", bmm, context_bytes, shape=shape),
                 # dP = dC keys^T and dkeys = P^T dC: two products of the same size
                 Kernel("context.backward", "gemm", "backward", 2 * bmm, 2 * context_bytes,
                        shape=(S.n, hidden, S.n, 2 * S.batch))))
    parts = [cm.Linear(hidden, hidden, bias=False, input_requires_grad=True),  # linear_q
             cm.Linear(hidden, hidden, bias=False, input_requires_grad=True),  # linear_k
             _pointwise("sum_qk", grid, inputs=BINARY_INPUTS),
             _pointwise("sum_qk + normalize_bias", grid, inputs=BINARY_INPUTS),
             _pointwise("tanh", grid, saves="output", kind="activation"),
             _pointwise("tanh @ linear_att", grid, saves="input"),
             _pointwise("masked_fill", scores),
             _pointwise("softmax", scores, saves="output", kind="softmax"),
             context,
             Cost(name="linear_att, normalize_scalar, normalize_bias", params=2 * hidden + 1)]
    return combine("normalized Bahdanau attention", parts)


def loss(vocab: int = VOCAB):
    """LabelSmoothing(0.1): log_softmax over the logits, the gathered NLL and the mean over
    the vocabulary (two passes over [tokens, vocab] forward, and their gradients)."""
    logits = tokens_of() * vocab
    return combine("label-smoothing loss", [
        _pointwise("log_softmax", logits, saves="output", kind="softmax"),
        _pointwise("logprobs.mean(-1)", logits, kind="reduction")])


@lru_cache(maxsize=None)
def records(hidden: int = HIDDEN, vocab: int = VOCAB) -> tuple:
    """The model as ``(name, record)`` pairs, each priced on its own by ``costmodel.predict``
    at the row's ``n`` and batch: the eight ``nn.LSTM`` calls, then everything else as one
    record (embeddings, dropouts, residual adds, concatenations, attention, classifier,
    loss). The decoder's embedding gather shares the encoder's weight (no parameters)."""
    h, wide = hidden, 2 * hidden
    embedding = cm.Embedding(vocab, h, padding_idx=0)
    shared = dataclasses.replace(embedding, params=sp.Integer(0),
                                 name="decoder gather (shared weight)")
    lstms = (("encoder.rnn0 (bidirectional)", cm.LSTM(h, h, bidirectional=True)),
             ("encoder.rnn1", cm.LSTM(wide, h)),
             *((f"encoder.rnn{i}", cm.LSTM(h, h)) for i in range(2, LAYERS)),
             ("decoder.att_rnn", cm.LSTM(h, h)),
             *((f"decoder.rnn{i}", cm.LSTM(wide, h)) for i in range(LAYERS - 1)))
    residuals = LAYERS - 2  # from the third layer, in each of encoder and decoder
    rest = combine("GNMT outside the LSTMs", [
        embedding, shared,
        *_dropouts((h, wide, *[h] * residuals)), *_adds("encoder.res", residuals, h),
        *_dropouts((h, *[wide] * (LAYERS - 1))), attention(h),
        *(_pointwise(f"cat(x, attn){i}", tokens_of() * wide) for i in range(LAYERS - 1)),
        *_adds("decoder.res", residuals, h),
        cm.Linear(h, vocab, input_requires_grad=True), loss(vocab)])
    return (*lstms, ("outside the LSTMs", rest))


def params_count(hidden: int = HIDDEN, vocab: int = VOCAB) -> int:
    """Parameters of the composed model (the shared embedding once)."""
    return int(sum(r.evaluate(n=1, batch=1)["params"] for _, r in records(hidden, vocab)))


def iteration(gpu: str, dtype: str, tf32: bool, n: int, batch: int, stack: str) -> dict:
    """Predicted seconds of one training iteration by part: forward + backward of every
    record, and the Adam update / :data:`ITER_SIZE` (one update per accumulated batch)."""
    out = {}
    for name, record in records():
        p = cm.predict(record, gpu, n=n, batch=batch, dtype=dtype, mode="training",
                       optimizer="adam", allow_tf32=tf32, cudnn_stack=stack)
        out[name] = p.phases["forward"] + p.phases["backward"] + \
            p.phases["optimizer"] / ITER_SIZE
    return out


def predict(frame: pd.DataFrame, stack: str = cudnn_stack.AUTO, n: int | None = None
            ) -> np.ndarray:
    """Seconds per iteration of each row with cuDNN stack ``stack`` (``n``: the row's)."""
    return np.asarray([sum(iteration(r.gpu, r.dtype, bool(r.tf32), n or int(r.n),
                                     int(r.batch), stack).values())
                       for r in frame.itertuples()])


def fit(train: pd.DataFrame) -> dict:
    """Nothing is fitted on these rows."""
    return {}


def scored(leave_one_gpu_out: bool = True, n: int = MEAN_TOKENS,
           padding: int = PAD_TOKENS) -> pd.DataFrame:
    """Every row with ``predicted_<m>_s`` and ``error_<m>`` for :data:`SCORED` (model: the
    ``auto`` stack) at ``n`` counted tokens per side, priced at ``n + padding``; nothing is
    fitted, so no protocol applies."""
    frame = rows()
    frame = frame.assign(n=n, measured_s=iteration_tokens(BATCH, n) / frame.tokens_per_s)
    for model in SCORED:
        stack = cudnn_stack.AUTO if model == "model" else model
        frame[f"predicted_{model}_s"] = predict(frame, stack, n + padding)
        frame[f"error_{model}"] = frame[f"predicted_{model}_s"] / frame.measured_s - 1.0
    return frame


def sensitivity(lengths=(16, 19, 22, 25, 30), paddings=(0, PAD_TOKENS)) -> pd.DataFrame:
    """Signed error per row and stack at each mean length ``n`` (the length is inferred)
    and padding."""
    return pd.concat([scored(n=n, padding=pad)[["gpu", "math", "n", *(
        f"error_{m}" for m in STACKS)]].assign(padding=pad)
        for n in lengths for pad in paddings], ignore_index=True)


def relative_to_v100(n: int = MEAN_TOKENS, padding: int = PAD_TOKENS) -> pd.DataFrame:
    """A100 / V100 time per iteration, measured and predicted, pairing TF32 with FP32 and
    AMP with AMP (same container, same composition: what the composition misses cancels as
    far as it scales alike on both GPUs). ``a100_<s>/v100_<v>``: the predicted ratio with
    stack ``s`` on the A100 and ``v`` on the V100, / measured - 1. ``position_v100_<v>``: where
    the A100 time the V100's miss implies (measured A100 x predicted / measured V100, stack
    ``v``) falls between the A100's pr62143 (0) and deepbench (1) predictions."""
    frame = scored(n=n, padding=padding).set_index(["gpu", "math"])
    low, high = (f"predicted_{stack}_s" for stack in STACKS)
    out = []
    for a100, v100 in (("tf32", "fp32"), ("fp16", "fp16")):
        a, v = frame.loc[("a100", a100)], frame.loc[("v100", v100)]
        row = {"pair": f"a100 {a100} / v100 {v100}", "measured": a.measured_s / v.measured_s}
        for stack in STACKS:
            for v_stack in STACKS:
                ratio = a[f"predicted_{stack}_s"] / v[f"predicted_{v_stack}_s"]
                row[f"a100_{stack}/v100_{v_stack}"] = ratio / row["measured"] - 1.0
        for v_stack in STACKS:
            target = a.measured_s * v[f"predicted_{v_stack}_s"] / v.measured_s
            row[f"position_v100_{v_stack}"] = (target - a[low]) / (a[high] - a[low])
        out.append(row)
    return pd.DataFrame(out)


#: kernel-name prefixes of the parts outside the LSTMs, for :func:`shares`
PART_PREFIXES = {"classifier": (f"Linear(in_features={HIDDEN}, out_features={VOCAB}",),
                 "loss": ("log_softmax", "logprobs.mean"),
                 "attention": (f"Linear(in_features={HIDDEN}, out_features={HIDDEN}, "
                               "bias=False)", "sum_qk", "tanh", "masked_fill", "softmax",
                               "context")}


def shares(gpu: str, dtype: str, tf32: bool, n: int, stack: str) -> dict:
    """Predicted seconds of one iteration split into the LSTMs' forward + backward, the
    classifier, the loss, the attention, the rest outside the LSTMs (embeddings, dropout,
    adds, concatenations) and the Adam update / :data:`ITER_SIZE`; sums to :func:`iteration`."""
    out = dict.fromkeys(("lstm", *PART_PREFIXES, "other", "optimizer"), 0.0)
    for name, record in records():
        p = cm.predict(record, gpu, n=n, batch=BATCH, dtype=dtype, mode="training",
                       optimizer="adam", allow_tf32=tf32, cudnn_stack=stack)
        out["optimizer"] += p.phases["optimizer"] / ITER_SIZE
        if record is not records()[-1][1]:
            out["lstm"] += p.phases["forward"] + p.phases["backward"]
            continue
        for k in p.kernels:
            part = next((key for key, prefixes in PART_PREFIXES.items()
                         if k.name.startswith(prefixes)), "other")
            out[part] += k.total_s
    return out


def main() -> None:
    """``python -m costmodel.reference.gnmt_dle``: the figures of docs/validation.md ("end to
    end: GNMT v2 on named GPUs"): signed errors, the parts, the ratios to the V100, the
    length sensitivity."""
    pd.set_option("display.width", 200)
    frame = scored()
    print("signed predicted / measured - 1 (ms per iteration):")
    print(frame[["gpu", "math", "measured_s", *(f"predicted_{m}_s" for m in STACKS),
                 *(f"error_{m}" for m in STACKS)]].round(4).to_string(index=False))
    print("\nparts of the prediction, ms (n + padding tokens per side):")
    for r in frame.itertuples():
        for stack in STACKS:
            parts = shares(r.gpu, r.dtype, bool(r.tf32), MEAN_TOKENS + PAD_TOKENS, stack)
            print(f"{r.gpu} {r.math} {stack}: " + ", ".join(
                f"{k} {1e3 * v:.2f}" for k, v in parts.items()))
    print("\nA100 / V100:")
    print(relative_to_v100().round(3).T.to_string())
    print("\nlength sensitivity (signed errors):")
    print(sensitivity().pivot_table(index=["gpu", "math", "padding"], columns="n", values=[
        f"error_{m}" for m in STACKS]).round(3).to_string())


if __name__ == "__main__":
    main()
