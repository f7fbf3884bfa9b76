"""NeuSight's per-op times inside one traced Transformer layer (sitar-lab/NeuSight @ 6945927,
``scripts/asplos/label/<device>/``): BERT-large, GPT-2 large, GPT-3 XL / 2.7B, OPT-1.3B on
A100 PCIe 40/80 GB, H100 SXM, L4, T4, fp32, PyTorch 2.1; each torch.fx node replayed alone
(CUDA events, mean of the 5 fastest of 25).

One row per trace and phase: the layer's forward time as the sum of its nodes' ``fw_ms``
(and for the training traces its backward time, the sum of ``bw_ms``: autograd's kernels of
each node, :func:`backward_ops`), without the
embeddings, the final norm, the pooler and the LM head (nodes named in ``HEAD_WORDS``); the
prediction sums :mod:`costmodel.implementations.cublas`'s time of every node: Linear/addmm as
one GEMM, matmul/bmm as batched GEMMs, every other node as a pointwise kernel over its output
(an inference-mode Dropout is the identity: the floor alone). The parameters are fitted on
forward times only, so the backward rows test the transfer to another phase.
"""

from __future__ import annotations

import ast
import math
from functools import lru_cache

import numpy as np
import pandas as pd

from costmodel.hardware import load_hardware
from costmodel.implementations import cublas
from costmodel.numeric import dtype_bytes_of
from costmodel.reference import neusight, published

NAME = "neusight-layers"
FITTED = cublas.FITTED
HEAD_WORDS = ("embed", "wte", "wpe", "transformer_drop", "ln_f", "final_layer_norm",
              "pooler", "cls_", "lm_head", "classifier")
GEMM_OPS = ("linear", "addmm", "matmul", "bmm")
REQUIRED = ("row", "trace", "node", "op", "input_shapes", "output_shape", "fw_ms", "bw_ms")
BACKWARD_EXTRA_MOVES = 1  # the output's gradient, read on top of the forward's tensors
# a node this small streams in under 2 us on every NeuSight GPU's datasheet bandwidth (T4:
# 320 GB/s: 1.6 us), so its time is the per-op floor: :func:`tiny_op_times`
TINY_BYTES = 512 * 1024


def _op(origin: str, i: int, row: dict, inference: bool) -> dict:
    try:
        inputs = ast.literal_eval(row["input_shapes"])
        output = ast.literal_eval(row["output_shape"])
    except (ValueError, SyntaxError):
        raise ValueError(f"{origin}: row {i}: field 'input_shapes': not a shape list") from None
    op = row["op"].lower()
    if op in ("linear", "addmm"):
        a, w = (inputs[0], inputs[0]) if op == "linear" else (inputs[1], inputs[2])
        depth = a[-1]
        return {"kind": "gemm", "m": math.prod(output[:-1]), "n": output[-1], "k": depth,
                "batch": 1, "weight_batch": 1}
    if op in ("matmul", "bmm"):
        a = inputs[0]
        return {"kind": "gemm", "m": a[-2], "k": a[-1], "n": output[-1],
                "batch": math.prod(output[:-2]), "weight_batch": math.prod(output[:-2])}
    op_class = cublas.OP_CLASS.get(op, "binary")
    elements = math.prod(output or [1])
    # tensors of the output's size moved: the output, plus each input's share (a broadcast
    # mask or a scalar counts its own size); an inference-mode Dropout is the identity
    moves = 0.0 if (op == "dropout" and inference) else 1.0 + sum(
        math.prod(shape) for shape in inputs if isinstance(shape, list)) / max(elements, 1)
    return {"kind": "pointwise", "op_class": op_class, "elements": elements,
            "width": output[-1] if output else 1, "moves": moves}


def rows() -> pd.DataFrame:
    """One row per layer trace: its nodes' ops (``ops``), their times (``node_s``), the sum."""
    return pd.DataFrame(list(_records()))


@lru_cache(maxsize=1)
def _records() -> tuple[dict, ...]:
    out = []
    for entry in published.files("neusight-layer-"):
        origin = published.origin_of(entry)
        provenance, raw = published.table(entry, REQUIRED)
        gpu = published.gpu_name(origin, provenance["device"])
        traces: dict[str, dict] = {}
        for i, row in enumerate(raw):
            if any(word in row["node"] for word in HEAD_WORDS):
                continue
            trace = traces.setdefault(row["trace"], {"ops": [], "node_s": [], "rows": [],
                                                     "backward_ops": [], "backward_s": 0.0})
            op = _op(origin, i, row, "-inf-" in row["trace"])
            trace["ops"].append(op)
            trace["node_s"].append(published.number(origin, i, row, "fw_ms") * neusight.MS)
            trace["rows"].append(row["row"])
            backward_s = published.number(origin, i, row, "bw_ms", positive=False) * neusight.MS
            if backward_s > 0:  # nodes without a gradient (masks, constants) have none
                trace["backward_ops"] += backward_ops(op)
                trace["backward_s"] += backward_s
        for name, trace in traces.items():
            common = {"source": NAME, "gpu": gpu, "family": "transformer_layer",
                      "dtype": neusight.DTYPE, "trace": name, "row": trace["rows"][0],
                      "mode": "inference" if "-inf-" in name else "training",
                      "repo": provenance["repo"], "commit": provenance["commit"],
                      "path_or_url": provenance["source"]}
            out.append({**common, "phase": "forward", "measured_s": sum(trace["node_s"]),
                        "ops": tuple(trace["ops"]), "node_s": tuple(trace["node_s"])})
            if trace["backward_s"] > 0:
                out.append({**common, "phase": "backward", "measured_s": trace["backward_s"],
                            "ops": tuple(trace["backward_ops"]), "node_s": ()})
    return tuple(out)


def backward_ops(op: dict) -> list[dict]:
    """The kernels of one node's autograd backward: a GEMM's two (the input's gradient
    (m x n) @ (n x k), the weight's (k x m) @ (m x n)); a pointwise op reads the output's
    gradient besides its own operands and writes the inputs' gradients (BACKWARD_EXTRA_MOVES)."""
    if op["kind"] == "gemm":
        return [{**op, "m": op["m"], "n": op["k"], "k": op["n"]},
                {**op, "m": op["k"], "n": op["n"], "k": op["m"]}]
    return [{**op, "moves": op["moves"] + BACKWARD_EXTRA_MOVES}]


def fit(train: pd.DataFrame) -> dict:
    """The per-op parameters from NeuSight's per-op rows and layer nodes of the training GPUs
    only (:func:`costmodel.reference.neusight.fit`)."""
    ops = neusight.rows()
    return neusight.fit(ops[ops.gpu.isin(set(train.gpu))].reset_index(drop=True))


def node_rows(gpus) -> pd.DataFrame:
    """Every modelled node of the layer traces of ``gpus`` as a per-op row (forward times:
    each node was replayed and timed alone, like the per-op sets)."""
    out = []
    for row in rows().itertuples():
        if row.gpu not in gpus or row.phase != "forward":
            continue
        for op, seconds in zip(row.ops, row.node_s):
            common = {"source": NAME, "gpu": row.gpu, "dtype": row.dtype, "measured_s": seconds,
                      "phase": "forward"}
            if op["kind"] == "gemm":
                out.append({**common, "family": "linear" if op["batch"] == 1 else "bmm",
                            **{k: float(op[k]) for k in ("m", "n", "k", "batch", "weight_batch")}})
            elif seconds > 0:
                out.append({**common, "family": op["op_class"], "op_class": op["op_class"],
                            "elements": float(op["elements"]), "width": float(op["width"]),
                            "moves": op["moves"]})
    return pd.DataFrame(out)


def tiny_op_times(gpus=None) -> pd.DataFrame:
    """What NeuSight's layer traces say about the per-op floor: per GPU and kind, the median
    over the tiny nodes (head nodes included; each timed alone with CUDA events, mean of the 5
    fastest of 25) of the measured time less the datasheet streaming time of the bytes they
    move (so what is left is launch, dispatch and the event pair, not bandwidth). Kinds:
    ``no_kernel`` (an inference-mode Dropout: the identity, no kernel at all), ``pointwise``
    (a kernel over at most TINY_BYTES), ``gemm`` (a Linear/matmul over at most TINY_BYTES of
    operands). Columns: gpu, kind, nodes, median_s."""
    out = []
    for entry in published.files("neusight-layer-"):
        origin = published.origin_of(entry)
        provenance, raw = published.table(entry, REQUIRED)
        gpu = published.gpu_name(origin, provenance["device"])
        if gpus is not None and gpu not in gpus:
            continue
        hw = load_hardware(gpu)
        for i, row in enumerate(raw):
            inference = "-inf-" in row["trace"]
            op = _op(origin, i, row, inference)
            moved = _bytes_moved(op)
            kind = ("no_kernel" if row["op"].lower() == "dropout" and inference
                    else op["kind"])
            if moved <= TINY_BYTES:
                seconds = published.number(origin, i, row, "fw_ms") * neusight.MS
                out.append({"gpu": gpu, "kind": kind,
                            "excess_s": seconds - moved / hw.hbm_bytes_per_s})
    frame = pd.DataFrame(out, columns=["gpu", "kind", "excess_s"])
    grouped = frame.groupby(["gpu", "kind"]).excess_s
    return pd.DataFrame({"nodes": grouped.size(), "median_s": grouped.median()}).reset_index()


def _bytes_moved(op: dict) -> float:
    """fp32 bytes a node reads and writes at least: a GEMM's three operands, a pointwise
    op's tensors of the output's size (``moves``; 0 for the inference Dropout)."""
    if op["kind"] == "gemm":
        m, n, k, b, w = (float(op[x]) for x in ("m", "n", "k", "batch", "weight_batch"))
        return dtype_bytes_of(neusight.DTYPE) * (b * (m * k + m * n) + w * k * n)
    return dtype_bytes_of(neusight.DTYPE) * op["moves"] * op["elements"]


def op_seconds(op: dict, hw, p: dict) -> float:
    if op["kind"] == "gemm":
        return float(cublas.gemm_time_s(op["m"], op["n"], op["k"], op["batch"], hw,
                                        neusight.DTYPE, p, op["weight_batch"]))
    nbytes = cublas.pointwise_bytes(op["elements"], op["op_class"], neusight.DTYPE, op["width"],
                                    op["moves"])
    return float(cublas.pointwise_time_s(nbytes, op["op_class"], hw, p))


def predict(frame: pd.DataFrame, params: dict) -> np.ndarray:
    return published.predict_ops(frame, params, op_seconds)


def baseline(frame: pd.DataFrame, eff) -> np.ndarray:
    """The generic roofline with ``eff`` over each row's ops (score.py's baselines)."""
    return published.baseline(frame, eff, frame["ops"])
