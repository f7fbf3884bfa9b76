"""Make the shipped H200 reference sources from the session-6 device runs:

    python tools/import_h200_probe.py

reads ``validation/results/gpu-h200-s6/run*/gpu-probe-h200.json`` and writes
``costmodel/data/reference/h200-cudnn-rnn.json`` (one row per RNN configuration: the median,
lowest and highest CUDA-event time over the runs that timed it, the host time per call, the
kernels one call launched) and ``h200-ops-gemm.json`` / ``h200-ops-vec.json`` (NeuSight's
columns, the median over the runs that timed the shape).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = sorted((ROOT / "validation/results/gpu-h200-s6").glob("run*/gpu-probe-h200.json"))
OUT = ROOT / "costmodel/data/reference"
REPO = "costmodel (this repository)"
KEY = ("grid", "cell", "hidden", "batch", "timesteps", "layers", "bidirectional", "dtype")


def _provenance(module: str, commits: str, software: str, what: str) -> dict:
    return {"source": f"costmodel session-6 GPU probe ({module})", "repo": REPO,
            "commit": commits, "url": "validation/results/gpu-h200-s6/README.md",
            "device": "NVIDIA H200", "software": software, "what": what, "read": "2026-11-30"}


def _kernels(row: dict) -> int:
    return sum(k["count"] for k in row["kernels_inference"]
               if k["name"] != "Activity Buffer Request")


def rnn(runs: list[dict], env: dict) -> dict:
    by_key: dict[tuple, list[dict]] = {}
    for run in runs:
        for row in run["rnn"]:
            by_key.setdefault(tuple(row[k] for k in KEY), []).append(row)
    columns = [*KEY, "runs", "inference_ms", "inference_ms_min", "inference_ms_max",
               "forward_backward_ms", "forward_backward_ms_min", "forward_backward_ms_max",
               "host_ms", "kernels_per_call", "first_kernel"]
    rows = []
    for key, group in by_key.items():
        inf = [r["inference_ms"] for r in group]
        fb = [r["forward_backward_ms"] for r in group]
        host = [r["inference_host_ms"] for r in group if "inference_host_ms" in r]
        first = max(group[0]["kernels_inference"], key=lambda k: k["total_us"])["name"]
        rows.append([*key, len(group), round(statistics.median(inf), 4), round(min(inf), 4),
                     round(max(inf), 4), round(statistics.median(fb), 4), round(min(fb), 4),
                     round(max(fb), 4), round(statistics.median(host), 4) if host else None,
                     _kernels(group[0]), first[:80]])
    return {"provenance": _provenance(
        "validation/gpu_probe.py", "04dcb17 (run 1), b903fa0 (run 2), b35fc73 (run 3)",
        f"PyTorch {env['torch']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}",
        ("nn.RNN(nonlinearity='relu') / nn.LSTM / nn.GRU (input = hidden, bias, "
                 "PyTorch's defaults, cudnn.allow_tf32 True as found), module.to(cuda, dtype); "
                 "inference = eval() under torch.inference_mode(); forward_backward = train() "
                 "forward + out.float().sum().backward(). Time per call = median of CUDA-event "
                 "pairs around back-to-back calls (2 warm-up calls, repeats filling 0.05 s, 3 "
                 "random inputs in rotation, the event pair's own cost subtracted); per row the "
                 "median over the runs (separate machines) that timed it, with the lowest and "
                 "highest. host_ms: host time of one call with the queue drained first (runs 2-3). "
                 "kernels_per_call / first_kernel: torch.profiler on one inference call (run 1).")),
        "columns": columns, "rows": rows}


def ops(runs: list[dict], env: dict) -> tuple[dict, dict]:
    out = []
    for kind, columns in (("gemm", ["row", "op", "B", "M", "N", "K", "latency_ms"]),
                          ("vec", ["row", "op", "B", "H", "latency_ms"])):
        by_key: dict[tuple, list[float]] = {}
        for run in runs:
            for row in run.get("ops", {}).get(kind, []):
                by_key.setdefault(tuple(row[:-1]), []).append(row[-1])
        rows = [[*key, round(statistics.median(v), 6)] for key, v in by_key.items()]
        out.append({"provenance": _provenance(
            "validation/gpu_ops.py", "04dcb17 (run 1), b35fc73 (run 3)",
            f"PyTorch {env['torch']}, CUDA {env['cuda']}",
            ("NeuSight's shapes (every 4th row under 5 ms of its H100 linear/bmm and A100 "
                     "40GB vec tables) under NeuSight's protocol: FP32 torch.randn tensors, "
                     "matmul TF32 off as found, nn.Linear(N, K) with bias on (B, M, N), "
                     "torch.bmm((B, M, N), (B, N, K)), pointwise ops on (B, H); the mean of the 5 "
                     "fastest of 25 single-call CUDA-event timings after 3 warm-ups; the median "
                     "over the runs that timed the shape (run 3 repeated 85 GEMM shapes).")),
            "columns": columns, "rows": rows})
    return out[0], out[1]


def main() -> None:
    runs = [json.loads(p.read_text()) for p in RUNS]
    env = runs[0]["environment"]
    gemm, vec = ops(runs, env)
    for name, data in (("h200-cudnn-rnn.json", rnn(runs, env)), ("h200-ops-gemm.json", gemm),
                       ("h200-ops-vec.json", vec)):
        (OUT / name).write_text(json.dumps(data, indent=0) + "\n")
        print(f"wrote costmodel/data/reference/{name}: {len(data['rows'])} rows")


if __name__ == "__main__":
    main()
