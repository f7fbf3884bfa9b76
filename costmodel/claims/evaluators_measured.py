"""Evaluators of measured claims: times, utilizations, speedups and memory savings, read from
the recorded benchmark runs in ``data/claims/measurements.json`` (written by ``costmodel
measure-claims``; costmodel never imports torch, it reads that file).

A ledger entry names ``benchmark`` (a key of the file) and ``value`` (a key of its results),
optionally ``scale`` (a factor the document's setting adds, e.g. 1,395 samples x 100 epochs,
explained in ``scale_note``) and ``gpu`` (the GPU the claim is about, with ``gpu_dtype``): then
costmodel's roofline prediction for that GPU at the benchmark's configuration is given next to
the measurement, labelled as a prediction. Without a recorded run the claim stays "not
computable yet", naming the benchmark.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path

from costmodel.claims.evaluators import Outcome, evaluator, fmt, need, not_computable

_PACKAGE_FILE = ("data", "claims", "measurements.json")
#: Tests point this at a file of their own; None reads the packaged measurements.
override: Path | None = None


def measurements() -> dict:
    """``{benchmark: entry}`` of the recorded runs; {} when none are recorded."""
    path = override or resources.files("costmodel").joinpath(*_PACKAGE_FILE)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return json.loads(text).get("benchmarks", {})


def provenance(name: str, entry: Mapping) -> str:
    """Where and when ``name`` ran (its sizes and method: docs/claims.md, Measurements)."""
    where = "GPU" if entry.get("device_kind") == "cuda" else "CPU"
    return (f"measured by benchmark {name} on this {where} ({entry.get('device', '?')}, "
            f"{entry.get('threads', '?')} thread(s), torch {entry.get('torch', '?')}, "
            f"{str(entry.get('date', '?'))[:10]})")


def describe() -> list[str]:
    """Markdown lines: every recorded benchmark with its device, date, command and method."""
    runs = measurements()
    if not runs:
        return ["No benchmark run is recorded: run `costmodel measure-claims`."]
    lines = ["| benchmark | device | threads | torch | date | command | sizes and method |",
             "|---|---|---|---|---|---|---|"]
    for name, e in sorted(runs.items()):
        config = ", ".join(f"{k}={v}" for k, v in e.get("config", {}).items())
        cells = (name, f"{e.get('device', '?')} ({e.get('device_kind', '?')})",
                 e.get("threads", "?"), e.get("torch", "?"), e.get("date", "?"),
                 f"`{e.get('command', '?')}`", f"{config}; {e.get('note', '')}")
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return lines


def _missing(benchmark: str) -> Outcome:
    return not_computable(f"not computable yet: no recorded run of benchmark {benchmark!r} "
                          "in data/claims/measurements.json (run `costmodel measure-claims`)")


# ----- roofline predictions for a named GPU (costmodel, no torch) ---------------------------
def _hw(params):
    from costmodel.hardware import load_hardware

    return load_hardware(params["gpu"]), params.get("gpu_dtype", "fp32")


def _predict(record, params, **values):
    from costmodel.roofline import predict

    hw, dtype = _hw(params)
    return predict(record, hw, dtype=dtype, **values)


def _layer(d: int, nhead: int, ffn: int, **kw):
    import costmodel as cm

    return cm.TransformerEncoderLayer(d, nhead, ffn, 0.1, **kw)


def _ast(c):
    return _layer(c["ast_d"], c["ast_d"] // 64, 4 * c["ast_d"], activation="gelu",
                  batch_first=True, norm_first=True)


def _utilization(record, params, n, batch) -> float:
    """FLOPs of a training step over its time, both of the record as PyTorch runs it on the
    GPU (its attention kernel resolved: a flash backward recomputes the scores), over the
    peak."""
    from costmodel.implementations.sdpa import resolve

    hw, dtype = _hw(params)
    record = resolve(record, hw, dtype, "training")[0]
    timing = _predict(record, params, n=n, batch=batch)
    flops = record.evaluate(n=n, batch=batch)["flops_training"]
    return float(flops / (timing.forward_s + timing.backward_s) / hw.peaks[dtype])


def _lt(c):
    import costmodel as cm

    return cm.LSTM(c["d"], c["d"]), _layer(c["d"], c["nhead"], c["dim_feedforward"])


def _lt_ratio(phase: str):
    def ratio(c, p):
        lstm, layer = (getattr(_predict(r, p, n=c["n"], batch=c["batch"]), phase)
                       for r in _lt(c))
        return float(lstm / layer)
    return ratio


def _crnn(c, p, phase):
    import costmodel as cm

    t = _predict(cm.CRNN(), p, n=c["frames"], batch=c["crnn_batch"])
    return float(sum(getattr(t, f) for f in phase) / c["crnn_batch"])


def _ast_time(c, p, phase):
    t = _predict(_ast(c), p, n=c["ast_n"], batch=1)
    return float(c["ast_layers"] * sum(getattr(t, f) for f in phase))


def _linear_fraction(d_in, d_out, tokens):
    def fraction(c, p):
        import costmodel as cm

        record = cm.Linear(d_in(c), d_out(c), bias=False)
        return float(_predict(record, p, n=tokens(c), batch=1).fraction_of_peak)
    return fraction


FB = ("forward_s", "backward_s")
#: (benchmark, value) -> f(config, params): the roofline prediction for params["gpu"].
PREDICTIONS: dict[tuple[str, str], Callable] = {
    ("small_gemm", "step_gemm_batch_1"): _linear_fraction(lambda c: c["d"],
                                                          lambda c: 4 * c["d"], lambda c: 1),
    ("small_gemm", "qkv_gemm"): _linear_fraction(lambda c: c["d"], lambda c: c["d"],
                                                 lambda c: c["n"]),
    ("lstm_vs_transformer", "training_speedup"): _lt_ratio("training_s"),
    ("lstm_vs_transformer", "forward_speedup"): _lt_ratio("forward_s"),
    ("lstm_vs_transformer", "lstm_utilization"):
        lambda c, p: _utilization(_lt(c)[0], p, c["n"], c["batch"]),
    ("lstm_vs_transformer", "transformer_utilization"):
        lambda c, p: _utilization(_lt(c)[1], p, c["n"], c["batch"]),
    ("crnn_vs_ast", "crnn_forward_s"): lambda c, p: _crnn(c, p, ("forward_s",)),
    ("crnn_vs_ast", "crnn_backward_s"): lambda c, p: _crnn(c, p, ("backward_s",)),
    ("crnn_vs_ast", "crnn_training_s"): lambda c, p: _crnn(c, p, FB),
    ("crnn_vs_ast", "ast_forward_s"): lambda c, p: _ast_time(c, p, ("forward_s",)),
    ("crnn_vs_ast", "ast_backward_s"): lambda c, p: _ast_time(c, p, ("backward_s",)),
    ("crnn_vs_ast", "ast_training_s"): lambda c, p: _ast_time(c, p, FB),
    ("crnn_vs_ast", "ast_over_crnn_speedup"):
        lambda c, p: _crnn(c, p, FB) / _ast_time(c, p, FB),
    ("crnn_vs_ast", "ast_utilization"):
        lambda c, p: _utilization(_ast(c), p, c["ast_n"], 1),
}


def _prediction(benchmark: str, value: str, config: Mapping, params: Mapping, scale: float):
    if "gpu" not in params or (benchmark, value) not in PREDICTIONS:
        return ()
    predicted = PREDICTIONS[benchmark, value](config, params) * scale
    label = (f"{params['gpu']} ({params.get('gpu_dtype', 'fp32')}) by costmodel's roofline "
             "at the benchmark's sizes: a prediction, not measured on that GPU")
    return ((label, predicted),)


# ----- evaluators ----------------------------------------------------------------------------
@evaluator("measured")
def measured(params: Mapping) -> Outcome:
    """``results[value] * scale`` of the recorded run of ``benchmark``."""
    benchmark, value = need(params, "benchmark", "value")
    entry = measurements().get(benchmark)
    if entry is None or entry.get("results", {}).get(value) is None:
        return _missing(benchmark)
    scale, raw = float(params.get("scale", 1)), float(entry["results"][value])
    if raw <= 0:
        return not_computable(f"not computable yet: benchmark {benchmark!r} recorded "
                              f"{value} = {fmt(raw)} (noise over a tiny difference); rerun it")
    detail = f"{value} = {fmt(raw)}" + (
        f" x {params.get('scale_note', fmt(scale))}" if scale != 1 else "") + (
        f"; formula bound: {params['bound']}" if params.get("bound") else "")
    got = raw * scale
    return Outcome(value=got, detail=detail, measured=provenance(benchmark, entry),
                   predicted=_prediction(benchmark, value, entry.get("config", {}), params,
                                         scale))


@evaluator("measured_concurrent_directions")
def measured_concurrent_directions(params: Mapping) -> Outcome:
    """CRNN / AST training time per sample with the GRU's two directions concurrent: the
    CRNN's time with its bidirectional GRU replaced by one direction's chain."""
    runs = measurements()
    if "crnn_vs_ast" not in runs or "crnn_gru_directions" not in runs:
        return _missing("crnn_gru_directions" if "crnn_vs_ast" in runs else "crnn_vs_ast")
    ca, gd = runs["crnn_vs_ast"]["results"], runs["crnn_gru_directions"]["results"]
    serial = ca["crnn_training_s"] / ca["ast_training_s"]
    concurrent = (ca["crnn_training_s"] - gd["bigru_training_s"]
                  + gd["one_direction_training_s"]) / ca["ast_training_s"]
    return Outcome(value=concurrent, detail=f"CRNN / AST training time per sample: "
                   f"{fmt(serial)} with the directions one after the other (torch), "
                   f"{fmt(concurrent)} with one direction's chain in place of both",
                   measured="; ".join(provenance(n, runs[n])
                                      for n in ("crnn_vs_ast", "crnn_gru_directions")))


@evaluator("measured_gpu_speedup")
def measured_gpu_speedup(params: Mapping) -> Outcome:
    """GPU over CPU time of one matmul: measured on both when a GPU ran; else the CPU time
    measured over the roofline prediction for ``gpu``, said so."""
    entry = measurements().get("matmul_gpu_vs_cpu")
    if entry is None:
        return _missing("matmul_gpu_vs_cpu")
    r, c = entry["results"], entry["config"]
    if r.get("gpu_time_s"):
        return Outcome(value=r["cpu_time_s"] / r["gpu_time_s"], measured=provenance(
            "matmul_gpu_vs_cpu", entry), detail=f"measured on both: {r['gpu']} and the CPU")
    import costmodel as cm

    gpu_s = float(_predict(cm.Linear(c["k"], c["n"], bias=False), params, n=c["m"],
                           batch=1).forward_s)
    speedup = r["cpu_time_s"] / gpu_s
    return Outcome(value=speedup, measured=provenance("matmul_gpu_vs_cpu", entry),
                   detail=f"{r['gpu']}: CPU time {fmt(r['cpu_time_s'] * 1e3)} ms measured, "
                          f"{params['gpu']} time {fmt(gpu_s * 1e6)} us from costmodel's "
                          "roofline (not measured): the ratio is CPU measured / GPU predicted")
