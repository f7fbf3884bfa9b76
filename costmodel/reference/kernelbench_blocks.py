"""KernelBench's attention compositions on named GPUs: whole eager forwards of
``nn.MultiheadAttention`` + LayerNorm, minGPT's hand-written causal self-attention and
Transformer block, and a ReLU attention (ScalingIntelligence/KernelBench level-3 problems 31,
43, 44 and 50, ``results/timing/<machine>/baseline_time_torch.json``), each summed from the
kernels PyTorch launches for it, every kernel priced by the cuBLAS / pointwise model refitted
on NeuSight's rows without the GPU scored (as ``kernelbench-ops``). Nothing is fitted on
these rows.

Data (``costmodel/data/reference/kernelbench-blocks.json``, made by
``tools/import_kernelbench_blocks.py`` from the repository's main line; the runs of
:mod:`.kernelbench_rnn`): per row one machine's run of one problem, its sizes (stable across
versions: 31 batch 2, 128 x 128 = 16,384 tokens of 128 channels, 4 heads; 43 and 44 batch
128, 512 tokens, 768 wide, 8 heads; 50 batch 16, 1,024 tokens, 768 wide, 12 heads), fp32,
the mean of 100 CUDA-event timings of one call with the device synchronized first. Tens of
milliseconds: the GPU's work, not the host's.

The kernels (:func:`ops_of`) are the aten ops PyTorch dispatches for each forward, read off
a ``TorchDispatchMode`` trace of the problem's own module (``tests/test_kernelbench_blocks.py``
re-traces them): views, splits, transposes and expands launch nothing; ``clone`` (a
``.contiguous()`` or a ``matmul`` of a non-contiguous operand) is a copy; dropout with p = 0
is not run. Per kernel: ``mm`` / ``addmm`` / ``bmm`` a cuBLAS SGEMM (PyTorch leaves TF32 off
for matmuls), the rest pointwise ops moving the tensors they read and write (a broadcast
operand of a few KB counted as nothing): a copy, ``relu`` and ``tanh`` at the activation
class's rate, a tensor-scalar op (``mul`` by a constant, ``eq``, ``masked_fill`` with a
[T, T] mask, ``pow``, ``add`` of 1.0) at the scalar class's, two-tensor ``add`` / ``mul`` at the
binary class's, softmax and LayerNorm by their row lengths, and need_weights' mean over heads
(read P, write P / heads) as a reduction (LayerNorm's class, as the roofline prices one).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from costmodel.efficiency import Efficiency
from costmodel.hardware import load_hardware
from costmodel.implementations import cublas
from costmodel.reference import kernelbench_ops, neusight, published

NAME = "kernelbench-blocks"
FITTED = neusight.FITTED  # the file whose parameters it scores; nothing fitted on these rows
FILE = "kernelbench-blocks.json"
PROTOCOL = "leave-one-GPU-out (NeuSight's fit), nothing fitted on these rows"
FIXED_PROTOCOL = True
REQUIRED = ("machine", "gpu", "problem", "batch", "tokens", "embed", "heads", "mean_ms",
            "commit", "path")
SCORE_NOTE = ("KernelBench's attention compositions (nn.MultiheadAttention + LayerNorm, "
              "minGPT's causal self-attention and block, a ReLU attention; fp32, one call with "
              "the queue drained), summed from the kernels PyTorch launches, each priced by "
              "the cuBLAS / pointwise model refitted on NeuSight's rows without the GPU scored")
FAMILY = {31: "mha", 43: "causal_attention", 44: "transformer_block", 50: "relu_attention"}
MS = 1e-3
MLP_RATIO = 4  # minGPT's c_fc: n_embd -> 4 * n_embd
QKV = 3  # the packed q, k, v projection


def _gemm(m, n, k, batch=1) -> dict:
    """One SGEMM: [m, k] @ [k, n], ``batch`` of them (a bmm's weights are batched too)."""
    return {"kind": "gemm", "m": m, "n": n, "k": k, "batch": batch, "weight_batch": batch}


def _pointwise(op_class: str, elements, moves, width=None) -> dict:
    """One pointwise kernel over ``elements`` outputs moving ``moves`` tensors of that size."""
    return {"kind": "pointwise", "op_class": op_class, "elements": elements, "moves": moves,
            "width": width}


def _copy(elements) -> dict:
    return _pointwise("activation", elements, 2)  # read, write


def causal_attention(batch, tokens, embed, heads, softmax=True, projection=True) -> list:
    """minGPT's CausalSelfAttention forward (problem 43; 50 with ReLU for softmax and no
    c_proj): addmm c_attn; clone q and k^T (bmm of transposed views); bmm; mul by
    1/sqrt(hd); eq on the [T, T] mask; masked_fill; softmax (relu); clone v; bmm; clone of
    y.transpose(1, 2).contiguous(); addmm c_proj."""
    t, head_dim = batch * tokens, embed // heads
    scores = batch * heads * tokens * tokens
    ops = [_gemm(t, QKV * embed, embed), _copy(t * embed), _copy(t * embed),
           _gemm(tokens, tokens, head_dim, batch * heads),
           _pointwise("scalar", scores, 2), _pointwise("scalar", tokens * tokens, 2),
           _pointwise("scalar", scores, 2),
           _pointwise("softmax", scores, 2, tokens) if softmax
           else _pointwise("activation", scores, 2),
           _copy(t * embed), _gemm(tokens, head_dim, tokens, batch * heads), _copy(t * embed)]
    return ops + ([_gemm(t, embed, embed)] if projection else [])


def transformer_block(batch, tokens, embed, heads) -> list:
    """minGPT's Block (problem 44): x + attn(ln_1(x)), then x + mlp(ln_2(x)) with NewGELU as
    eager ops: 0.5 * x, x ** 3, 0.044715 * (.), x + (.), sqrt(2 / pi) * (.), tanh, 1.0 + (.),
    (.) * (.)."""
    t, wide = batch * tokens, MLP_RATIO * embed
    h = t * wide
    gelu = [_pointwise("scalar", h, 2), _pointwise("scalar", h, 2), _pointwise("scalar", h, 2),
            _pointwise("binary", h, 3), _pointwise("scalar", h, 2),
            _pointwise("activation", h, 2), _pointwise("scalar", h, 2),
            _pointwise("binary", h, 3)]
    return ([_pointwise("layernorm", t * embed, 2, embed)]
            + causal_attention(batch, tokens, embed, heads)
            + [_pointwise("binary", t * embed, 3), _pointwise("layernorm", t * embed, 2, embed),
               _gemm(t, wide, embed)] + gelu
            + [_gemm(t, embed, wide), _pointwise("binary", t * embed, 3)])


def mha_layernorm(batch, tokens, embed, heads) -> list:
    """Problem 31: x [B, C, H, W] -> (H * W, B, C); nn.MultiheadAttention(x, x, x) with its
    defaults (need_weights=True: functional.py's bmm path) + x; LayerNorm. Kernels: clone of
    the permuted input (F.linear's reshape); mm in_proj; add its bias; clone of the unflattened
    q, k, v; mul q by 1/sqrt(hd); bmm; softmax; bmm; clone of the transposed output; addmm
    out_proj; mean of the weights over heads; add; LayerNorm."""
    t, head_dim = batch * tokens, embed // heads
    scores = batch * heads * tokens * tokens
    return [_copy(t * embed), _gemm(t, QKV * embed, embed),
            _pointwise("binary", t * QKV * embed, 2), _copy(QKV * t * embed),
            _pointwise("scalar", t * embed, 2), _gemm(tokens, tokens, head_dim, batch * heads),
            _pointwise("softmax", scores, 2, tokens),
            _gemm(tokens, head_dim, tokens, batch * heads), _copy(t * embed),
            _gemm(t, embed, embed),
            _pointwise("layernorm", batch * tokens * tokens, heads + 1),
            _pointwise("binary", t * embed, 3), _pointwise("layernorm", t * embed, 2, embed)]


BUILDERS = {31: mha_layernorm, 43: causal_attention, 44: transformer_block,
            50: lambda *a: causal_attention(*a, softmax=False, projection=False)}


def ops_of(row) -> list:
    """The kernels of one row's problem at its sizes (see the module docstring)."""
    return BUILDERS[int(row["problem_id"])](int(row["batch"]), int(row["tokens"]),
                                           int(row["embed"]), int(row["heads"]))


def rows() -> pd.DataFrame:
    """One row per machine run and problem, with its provenance."""
    origin, provenance, raw = published.load(FILE, REQUIRED)
    out = []
    for i, row in enumerate(raw):
        number = int(str(row["problem"]).split("_")[0])
        if number not in FAMILY:
            raise ValueError(f"{origin}: row {i}: field 'problem': {row['problem']!r} is not "
                             f"one of problems {sorted(FAMILY)}")
        out.append({"source": NAME, "gpu": published.gpu_name(origin, row["gpu"]),
                    "family": FAMILY[number], "phase": "forward", "dtype": neusight.DTYPE,
                    "machine": row["machine"], "problem": row["problem"], "problem_id": number,
                    **{k: int(published.number(origin, i, row, k))
                       for k in ("batch", "tokens", "embed", "heads")},
                    "measured_s": published.number(origin, i, row, "mean_ms") * MS,
                    "torch": row.get("torch"), "repo": provenance["repo"],
                    "commit": row["commit"], "path_or_url": row["path"], "row": i})
    if not out:
        raise ValueError(f"{origin}: field 'rows': no measurements")
    return pd.DataFrame(out)


def seconds(ops: list, gpu: str, params: dict) -> float:
    """The summed seconds of ``ops`` on ``gpu`` with the cuBLAS / pointwise ``params``: each
    kernel its launch floor plus its work, as the roofline prices a GPU kernel."""
    hw = load_hardware(gpu)
    p = cublas.params_for(params, hw)
    total = 0.0
    for op in ops:
        if op["kind"] == "gemm":
            total += float(cublas.gemm_time_s(op["m"], op["n"], op["k"], op["batch"], hw,
                                              neusight.DTYPE, p, op["weight_batch"]))
        else:
            nbytes = cublas.pointwise_bytes(op["elements"], op["op_class"], neusight.DTYPE,
                                            op["width"], op["moves"])
            total += float(cublas.pointwise_time_s(nbytes, op["op_class"], hw, p))
    return total


def fit(train: pd.DataFrame | None = None) -> dict:
    """Nothing is fitted on these rows (the parameters are NeuSight's, per held-out GPU)."""
    return {}


@lru_cache(maxsize=1)
def _scored() -> pd.DataFrame:
    frame = rows().reset_index(drop=True)
    ops = [ops_of(r) for _, r in frame.iterrows()]
    predicted = np.array([seconds(o, gpu, kernelbench_ops._params_without(gpu))
                          for o, gpu in zip(ops, frame.gpu)])
    frame["kernels"] = [len(o) for o in ops]
    scored_frame = frame.copy()
    scored_frame["predicted_model_s"] = predicted
    scored_frame["predicted_roofline_s"] = published.baseline(frame, Efficiency.ideal(), ops)
    scored_frame["predicted_priors_s"] = published.baseline(frame, Efficiency.priors(), ops)
    for model in ("model", "roofline", "priors"):
        scored_frame[f"error_{model}"] = (scored_frame[f"predicted_{model}_s"]
                                          / scored_frame["measured_s"] - 1.0)
    return scored_frame


def scored(leave_one_gpu_out: bool = True) -> pd.DataFrame:
    """Every row with ``predicted_<model>_s`` and ``error_<model>`` (model, the datasheet
    roofline, the generic priors); the model is always leave-one-GPU-out."""
    return _scored().copy()


def main() -> None:
    f = scored()
    pd.set_option("display.width", 200)
    g = f.groupby(["gpu", "family"])
    print(pd.concat({"rows": g.size(),
                     "measured ms": g.measured_s.median() * 1e3,
                     "predicted ms": g.predicted_model_s.median() * 1e3,
                     "signed %": g.error_model.agg(lambda s: 100 * s.median()),
                     "roofline %": g.error_roofline.agg(lambda s: 100 * s.median())},
                    axis=1).round(1).to_string())
    print("\nall rows: median |error| %.1f %%, signed %.1f %%, p90 %.1f %%; roofline %.1f %%"
          % (100 * f.error_model.abs().median(), 100 * f.error_model.median(),
             100 * f.error_model.abs().quantile(0.9), 100 * f.error_roofline.abs().median()))


if __name__ == "__main__":
    main()
