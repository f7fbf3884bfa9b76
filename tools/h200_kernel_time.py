"""GPU-side kernel time vs wall time of the H200's cuDNN RNN inference calls (session 6's
probe files): where a call's time goes, GPU or host. Usage (from the repository root):

    python tools/h200_kernel_time.py [validation/results/gpu-h200-s6]

Per probe row: ``gpu_ms`` = the summed CUPTI durations of the call's device kernels (the
probe keeps the 8 largest kernel names per profiled call: an inference call launches 4-7, so
the sum is the call's kernels), ``wall_ms`` = the call's median CUDA-event time, ``pred_ms`` =
costmodel's default prediction for the H200 stored beside it. Prints medians per grid and
dtype over the three machines: wall / gpu (how host-bound), pred / gpu and pred / wall, and
microseconds per launched kernel on the GPU and on the wall.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

NOT_KERNELS = ("autograd", "Cudnn", "aten::")  # profiler rows that are ops, not kernels


def rows(folder: Path) -> pd.DataFrame:
    out = []
    for probe in sorted(folder.glob("run*/gpu-probe-h200.json")):
        for r in json.loads(probe.read_text())["rnn"]:
            kernels = [k for k in r.get("kernels_inference", [])
                       if not k["name"].startswith(NOT_KERNELS)]
            launched = sum(k["count"] for k in kernels)
            out.append({"run": probe.parent.name, "grid": r["grid"], "dtype": r["dtype"],
                        "cell": r["cell"], "hidden": r["hidden"], "batch": r["batch"],
                        "steps": r["timesteps"], "layers": r["layers"],
                        "bidirectional": r["bidirectional"], "kernels": launched,
                        "gpu_ms": sum(k["total_us"] for k in kernels) / 1e3,
                        "wall_ms": r["inference_ms"],
                        "pred_ms": r["predicted"]["inference_ms"]})
    frame = pd.DataFrame(out)
    if frame.empty:
        return frame
    frame["wall/gpu"] = frame.wall_ms / frame.gpu_ms
    frame["pred/gpu"] = frame.pred_ms / frame.gpu_ms
    frame["pred/wall"] = frame.pred_ms / frame.wall_ms
    frame["gpu_us/kernel"] = 1e3 * frame.gpu_ms / frame.kernels
    frame["wall_us/kernel"] = 1e3 * frame.wall_ms / frame.kernels
    return frame


def table(frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["wall/gpu", "pred/gpu", "pred/wall", "gpu_us/kernel", "wall_us/kernel"]
    groups = [frame.groupby(["grid", "dtype"])[columns].median(),
              frame.groupby("grid")[columns].median().assign(dtype="all")
              .set_index("dtype", append=True),
              frame[columns].median().to_frame().T.assign(grid="all", dtype="all")
              .set_index(["grid", "dtype"])]
    out = pd.concat(groups)
    out.insert(0, "rows", pd.concat([frame.groupby(["grid", "dtype"]).size(),
                                     frame.groupby("grid").size().to_frame("n").assign(
                                         dtype="all").set_index("dtype", append=True).n,
                                     pd.Series([len(frame)], index=pd.MultiIndex.from_tuples(
                                         [("all", "all")]))]).to_numpy())
    return out


def main(argv: list[str]) -> int:
    folder = Path(argv[0] if argv else "validation/results/gpu-h200-s6")
    frame = rows(folder)
    if frame.empty:
        print(f"error: no run*/gpu-probe-h200.json under {folder}", file=sys.stderr)
        return 2
    pd.set_option("display.width", 160)
    print(f"{len(frame)} inference calls ({frame.run.nunique()} machines); medians")
    print(table(frame).round(2).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
