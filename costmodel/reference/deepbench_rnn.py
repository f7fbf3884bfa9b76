"""Baidu DeepBench's cuDNN RNN timings (``costmodel/data/reference/deepbench-rnn-*.json``).

What was timed (the files' ``what``): one unidirectional cuDNN layer with CUDNN_SKIP_INPUT (no
input projection; input width = hidden), CUDNN_RNN_ALGO_STANDARD, no dropout, mean of 100
back-to-back calls: forward (cudnnRNNForwardTraining), backward_data and backward_weights
separately; the P100 "pseudo fp16" sheet (fp16 storage, fp32 math) has one unsplit backward
column (phase ``backward``). Each row is predicted as ``costmodel compare`` would: the record
``cm.LSTM(d, d, input_mode="skip")`` (GRU, RNN with ReLU) through
:func:`costmodel.roofline.predict` on the GPU's catalogue entry, with the cuDNN parameters
passed in and the algorithm fixed to STANDARD as DeepBench fixed it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

import costmodel as cm
from costmodel.efficiency import Efficiency
from costmodel.hardware import load_hardware
from costmodel.implementations import cudnn_rnn as impl
from costmodel.reference.nnls import relative_nnls
from costmodel.roofline import predict as roofline_predict

NAME = "deepbench-rnn"
FITTED = impl.FITTED
GLOB = "deepbench-rnn-*.json"
GPUS = {"NV_P100": "p100", "NV_M40": "m40", "NV_TitanX": "titan-x",
        "NV_TitanX_Pascal": "titan-x-pascal", "NV_TitanXp": "titan-xp", "NV_1080Ti": "1080ti",
        "NV_V100": "v100"}
CELLS = {"vanilla_relu": "rnn", "lstm": "lstm", "gru": "gru"}
DTYPES = {"fp32": "fp32", "fp16_storage_fp32_math (pseudo-FP16)": "fp16",
          "fp16_tensor_op_math": "fp16"}
PHASE_COLUMNS = {"forward": "fwd_ms", "backward_data": "bwd_data_ms",
                 "backward_weights": "bwd_weights_ms", "backward": "bwd_ms_unsplit"}
KERNEL_OF = {"forward": "step_gemm", "backward_data": "step_gemm_backward",
             "backward_weights": "layer0.weight_gradients"}
S_PER_MS = 1e-3
IRLS_ROUNDS = 40  # reweighting and binding-side rounds of the fit (converged before on these data)
IRLS_FLOOR = 1e-3  # relative errors below 0.1 % weigh as 0.1 %
UNUSED_EFFICIENCY = 1e6  # a term the fit drops: its time is ~0
MEMORY_COEFFICIENT_MIN = 1.0  # 1 / memory_efficiency: no stream beats the priors' curve
COMPUTE_COEFFICIENT_MIN = 1.0  # 1 / compute_efficiency: no GEMM beats the datasheet peak
BASIS = ("calls", "cycles", "compute", "element", "memory")
# the per-batch columns of the step phases: one serial and one stream column per batch tile
BATCH_BASIS = tuple(f"{term}_{tile}" for tile in impl.BATCH_TILES
                    for term in ("serial", "stream"))


def rows() -> pd.DataFrame:
    """One row per measurement and phase, with provenance (file, sheet, row, repo, commit)."""
    folder = resources.files("costmodel").joinpath("data", "reference")
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.startswith("deepbench-rnn-") and entry.name.endswith(".json"):
            out += _file_rows(f"costmodel/data/reference/{entry.name}",
                              entry.read_text(encoding="utf-8"))
    return pd.DataFrame(out)


def _file_rows(origin: str, text: str) -> list[dict]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{origin}: not valid JSON ({err})") from None
    if data.get("gpu") not in GPUS:
        raise ValueError(f"{origin}: field 'gpu': {data.get('gpu')!r} is not one of "
                         f"{', '.join(GPUS)}")
    out = []
    for i, raw in enumerate(data.get("rows") or []):
        def bad(field, problem):
            return ValueError(f"{origin}: row {i}: field '{field}': {problem}")
        if raw.get("cell") not in CELLS:
            raise bad("cell", f"{raw.get('cell')!r} is not one of {', '.join(CELLS)}")
        if raw.get("dtype") not in DTYPES:
            raise bad("dtype", f"{raw.get('dtype')!r} is not one of {', '.join(DTYPES)}")
        for field in ("hidden", "batch", "timesteps"):
            value = raw.get(field)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad(field, f"must be a positive integer, got {value!r}")
        for phase, column in PHASE_COLUMNS.items():
            value = raw.get(column)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise bad(column, f"must be a positive number of ms, got {value!r}")
            out.append(_row(data, raw, origin, phase, value * S_PER_MS, derived=False))
        if raw.get("bwd_data_ms") and raw.get("bwd_weights_ms"):  # the whole backward
            total_s = (raw["bwd_data_ms"] + raw["bwd_weights_ms"]) * S_PER_MS
            out.append(_row(data, raw, origin, "backward", total_s, derived=True))
    if not out:
        raise ValueError(f"{origin}: field 'rows': no measurements")
    return out


def _row(data: dict, raw: dict, origin: str, phase: str, measured_s: float,
         derived: bool) -> dict:
    """``derived``: a backward row summed from the sheet's backward_data and backward_weights
    columns (scored, never fitted or plotted: the two rows it sums are)."""
    return {"source": NAME, "gpu": GPUS[data["gpu"]], "family": CELLS[raw["cell"]],
            "phase": phase, "dtype": DTYPES[raw["dtype"]], "measured_s": measured_s,
            "repo": data["source"], "commit": data["repo_head_commit"],
            "path_or_url": data["url"], "file": origin, "sheet": raw["sheet"],
            "row": raw["row"], "hidden": raw["hidden"], "batch": raw["batch"],
            "steps": raw["timesteps"], "mode": data.get("mode", ""), "derived": derived}


@lru_cache(maxsize=None)
def record(family: str):
    """The record DeepBench times: one skip-input layer of width d."""
    build = {"rnn": lambda: cm.RNN("d", "d", nonlinearity="relu", input_mode="skip"),
             "lstm": lambda: cm.LSTM("d", "d", input_mode="skip"),
             "gru": lambda: cm.GRU("d", "d", input_mode="skip")}
    return build[family]()


def _groups(frame: pd.DataFrame):
    for (gpu, family, dtype), group in frame.groupby(["gpu", "family", "dtype"], sort=True):
        yield load_hardware(gpu), family, dtype, group


def predict(frame: pd.DataFrame, params: dict) -> np.ndarray:
    """Predicted seconds per row: :func:`costmodel.roofline.predict` with ``params``."""
    out = pd.Series(np.nan, index=frame.index)
    for hw, family, dtype, group in _groups(frame):
        phase_params = {**impl.params_for(params, hw.architecture), "algo": impl.ALGOS[0]}
        timing = roofline_predict(record(family), hw, dtype=dtype, rnn_params=phase_params,
                                     batch=group["batch"].to_numpy(), n=group["steps"].to_numpy(),
                                     d=group["hidden"].to_numpy())
        by_call = {call: sum(np.asarray(r["count"]) * r["lower_s"] for r in timing.kernels
                             if r.get("call") == call) for call in impl.PHASES}
        by_call["backward"] = by_call["backward_data"] + by_call["backward_weights"]
        for phase, index in group.groupby("phase").groups.items():
            positions = group.index.get_indexer(index)
            out[index] = np.broadcast_to(by_call[phase], len(group))[positions]
    return out.to_numpy()


def _basis(frame: pd.DataFrame, phase: str) -> dict:
    """Per row of ``phase``: calls, floor cycles in seconds (steps / boost clock), and the
    GEMM's compute, element and memory seconds per unit of their terms (the fit scales them;
    :func:`predict` must agree, a test checks it)."""
    parts = {key: np.zeros(len(frame)) for key in BASIS + BATCH_BASIS}
    eff = Efficiency.priors()
    for hw, family, dtype, group in _groups(frame):
        kernels = record(family).kernel_values(dtype=dtype, batch=group["batch"].to_numpy(),
                                               n=group["steps"].to_numpy(),
                                               d=group["hidden"].to_numpy())
        k = next(k for k in kernels if k["name"] == KERNEL_OF[phase])
        unit = impl.gemm_parts(k, hw, dtype, eff)
        at = frame.index.get_indexer(group.index)
        count = np.broadcast_to(np.asarray(k["count"], dtype=float), len(group))
        parts["calls"][at] = 1.0
        steps = count if phase != "backward_weights" else 0.0
        parts["cycles"][at] = steps / hw.boost_clock_hz
        for term in ("compute", "element", "memory"):
            parts[term][at] = count * np.broadcast_to(unit[term], len(group))
        if phase != "backward_weights":
            batch = impl.batch_parts(k, hw, unit["memory"])
            for j, tile in enumerate(impl.BATCH_TILES):
                on = count * np.broadcast_to(batch["tile"] == j, len(group))
                for term in ("serial", "stream"):
                    parts[f"{term}_{tile}"][at] = on * np.broadcast_to(batch[term], len(group))
    return parts


def _fit_phase(frame: pd.DataFrame, phase: str) -> dict:
    """time = call_s * calls + step_cycles * cycles [+ the per-batch terms] + max(core,
    memory) with core = compute / compute_efficiency + element * flops_per_element and
    memory = memory / memory_efficiency. For a given choice of the binding side per row it
    is linear in (call_s, step_cycles, [serial_cycles_per_k and stream_passes per batch
    tile,] 1/compute_eff, flops_per_element, 1/memory_eff): a non-negative least squares on
    relative errors, alternated with the binding side each row takes, and reweighted (IRLS)
    towards the least mean |relative error| so that a few outlying rows do not steer it.
    1/memory_eff >= 1: no weight stream beats the priors' stream curve (where the stream
    never binds on the training GPUs, the curve itself stands); 1/compute_eff >= 1 likewise:
    no GEMM beats the datasheet peak. Without that bound the GP102 parts alone (whose ratios
    of FLOP/s to bandwidth to clock are all alike) let the fit price the step's FLOPs at up
    to 30x the peak and carry them on per-batch weight passes, which the P100 (half their
    FLOP/s per byte of bandwidth) then runs 1.5x too fast. The per-batch columns belong to
    the step phases only."""
    basis, measured = _basis(frame, phase), frame["measured_s"].to_numpy()
    batch = BATCH_BASIS if phase != "backward_weights" else ()
    fixed = np.stack([basis[c] for c in ("calls", "cycles") + batch], axis=1)
    core = np.stack([basis["compute"], basis["element"]], axis=1)
    memory, nfixed = basis["memory"], fixed.shape[1]
    mean = lambda v: max(float(v.mean()), np.finfo(float).tiny)  # noqa: E731
    core_binds = core.sum(axis=1) / mean(core.sum(axis=1)) >= memory / mean(memory)
    weights = np.ones(len(frame))
    floor = np.zeros(nfixed + 3)
    floor[-1] = MEMORY_COEFFICIENT_MIN
    floor[-3] = COMPUTE_COEFFICIENT_MIN
    for _ in range(IRLS_ROUNDS):
        columns = np.concatenate([fixed, core * core_binds[:, None],
                                  (memory * ~core_binds)[:, None]], axis=1)
        x = floor + relative_nnls(columns * weights[:, None], (columns @ floor) * weights,
                                  measured * weights, scale=measured)
        core_binds = core @ x[nfixed:nfixed + 2] >= memory * x[-1]
        relative = np.abs(columns @ x / measured - 1.0)
        weights = 1.0 / np.sqrt(np.maximum(relative, IRLS_FLOOR))
    values = [x[0], x[1], _inverse(x[-3]), x[-2], _inverse(x[-1])]
    out = dict(zip(impl.TERMS, (_rounded(v) for v in values)))
    if batch:
        fitted = dict(zip(batch, x[2:nfixed]))
        out["serial_cycles_per_k"] = [_rounded(fitted[f"serial_{t}"]) for t in impl.BATCH_TILES]
        out["stream_passes"] = [_rounded(fitted[f"stream_{t}"]) for t in impl.BATCH_TILES]
    return {**out, "gpus": sorted(frame["gpu"].unique()), "rows": int(len(frame))}


def _rounded(v: float) -> float:
    return float(f"{v:.4g}")


def _inverse(x: float) -> float:
    """1 / x, with a zero coefficient (the term is not needed) as an efficiency of 1e6."""
    return 1.0 / x if x > 1.0 / UNUSED_EFFICIENCY else UNUSED_EFFICIENCY


def fit(train: pd.DataFrame) -> dict:
    """Parameters per architecture present in ``train`` and across all of them (``"all"``),
    each with its per-batch kernel terms."""
    arch = train["gpu"].map(lambda g: load_hardware(g).architecture)
    sets = {a: train[arch == a] for a in sorted(arch.unique())}
    sets[impl.ACROSS] = train
    return {name: {phase: _fit_phase(subset[subset["phase"] == phase], phase)
                   for phase in impl.PHASES}
            for name, subset in sets.items()}


def baseline(frame: pd.DataFrame, eff: Efficiency) -> np.ndarray:
    """The plain roofline with ``eff`` (``Efficiency.ideal()``: the datasheet roofline;
    ``Efficiency.priors()``: the generic priors), the record's kernels mapped to the calls."""
    call_of = {"step_gemm": "forward", "step_pointwise": "forward",
               "step_gemm_backward": "backward_data", "step_pointwise_backward": "backward_data",
               "layer0.weight_gradients": "backward_weights"}
    out = pd.Series(np.nan, index=frame.index)
    for hw, family, dtype, group in _groups(frame):
        timing = roofline_predict(record(family), hw, eff=eff, dtype=dtype,
                                  batch=group["batch"].to_numpy(), n=group["steps"].to_numpy(),
                                  d=group["hidden"].to_numpy())
        by_call = {call: sum(np.asarray(r["count"]) * r["lower_s"] for r in timing.kernels
                             if call_of.get(r["name"]) == call) for call in impl.PHASES}
        by_call["backward"] = by_call["backward_data"] + by_call["backward_weights"]
        for phase, index in group.groupby("phase").groups.items():
            positions = group.index.get_indexer(index)
            out[index] = np.broadcast_to(by_call[phase], len(group))[positions]
    return out.to_numpy()
