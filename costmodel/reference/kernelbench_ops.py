"""KernelBench's PyTorch-eager baseline times of its level-1 GEMM and pointwise problems on
named A10, A100, H100, H200, L4, L40S, T4, B200, RTX A6000 and RTX 3090 Ti machines
(ScalingIntelligence/KernelBench, ``results/timing/<machine>/baseline_time_torch.json``): the cuBLAS / pointwise model scored on shapes, machines
and a timer none of its fits has seen.

Data (``costmodel/data/reference/kernelbench-ops.json``, made by
``tools/import_kernelbench_ops.py`` from the repository's main line, the same 14 runs as
:mod:`.kernelbench_rnn` and the A10's rows of Modal's "A10G" run, and since session 11 the runs
off the main line of machines it never timed: a GCP L4, a cluster L40S and RTX A6000, Modal's
H100/H200 machine; since session 14 the main line's RTX 3090 Ti, once it had a catalogue
entry): ``torch.matmul`` of square, standard, large-K, small-K, irregular,
tall-skinny and transposed shapes, ``torch.bmm``, ``A * s``, relu, tanh, gelu and softmax, fp32
(PyTorch's default leaves TF32 off for matmuls: SGEMM), the mean of 100 CUDA-event timings of
one call each with the device synchronized first, PyTorch 2.5.0 (2.9.0 for the December 2025
H100 run). The problems grew between versions (``N = 2048`` in January 2025, ``2048 * 2``
from July): each row carries the sizes of its own commit.

Protocol: leave-one-GPU-out against NeuSight's fit (:func:`costmodel.reference.neusight.fit`,
what ``cublas.toml`` holds): a GPU NeuSight timed (H100 SXM, L4, T4) is priced by the
parameters refitted without it, the H200 without this project's own H200 rows; the A100 SXM4,
L40S, A10, B200, A6000 and 3090 Ti are in no fit (the A100 PCIe parts and the L4 are; the B200 takes the
cross-architecture set). Nothing is fitted on these rows.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from costmodel.implementations import cublas
from costmodel.reference import neusight, published

NAME = "kernelbench-ops"
FITTED = neusight.FITTED  # the file whose parameters it scores; nothing fitted on these rows
FILE = "kernelbench-ops.json"
PROTOCOL = "leave-one-GPU-out (NeuSight's fit), nothing fitted on these rows"
FIXED_PROTOCOL = True
REQUIRED = ("machine", "gpu", "problem", "kind", "op", "mean_ms", "commit", "path")
SCORE_NOTE = ("KernelBench's level-1 GEMM and pointwise problems (fp32, one call with the "
              "queue drained, PyTorch 2.5/2.9), priced by the cuBLAS / pointwise model "
              "refitted on NeuSight's rows without the GPU scored")
MS = 1e-3


def rows() -> pd.DataFrame:
    """One row per machine run and problem, in :mod:`.neusight`'s columns."""
    origin, provenance, raw = published.load(FILE, REQUIRED)
    out = []
    for i, row in enumerate(raw):
        kind = published.choice(origin, i, row, "kind", ("gemm", "pointwise"))
        common = {"source": NAME, "gpu": published.gpu_name(origin, row["gpu"]),
                  "phase": "forward", "dtype": neusight.DTYPE, "machine": row["machine"],
                  "problem": row["problem"], "problem_id": int(row["problem"].split("_")[0]),
                  "op": row["op"], "measured_s": published.number(origin, i, row, "mean_ms")
                  * MS, "torch": row.get("torch"), "repo": provenance["repo"],
                  "commit": row["commit"], "path_or_url": row["path"], "row": i}
        if kind == "gemm":
            m, n, k, batch = (published.number(origin, i, row, f) for f in ("m", "n", "k",
                                                                               "batch"))
            out.append({**common, "family": "bmm" if batch > 1 else "gemm", "m": m, "n": n,
                        "k": k, "batch": batch, "weight_batch": batch})
        else:
            op = published.choice(origin, i, row, "op", sorted(cublas.OP_CLASS))
            out.append({**common, "family": cublas.OP_CLASS[op],
                        "op_class": cublas.OP_CLASS[op],
                        "elements": published.number(origin, i, row, "elements"),
                        "width": published.number(origin, i, row, "width")})
    if not out:
        raise ValueError(f"{origin}: field 'rows': no measurements")
    return pd.DataFrame(out)


@lru_cache(maxsize=8)
def _params_without(gpu: str) -> dict:
    """NeuSight's fit without ``gpu``'s rows (all of them where NeuSight never timed it),
    nor this project's own GEMM rows of it (the H200's, which the shipped fit takes in:
    Modal's H100/H200 machine is scored held out like every other GPU)."""
    train = neusight.rows()
    return neusight.fit(train[train.gpu != gpu], measured=neusight.measured_gemm_rows(gpu))


def fit(train: pd.DataFrame | None = None) -> dict:
    """Nothing is fitted on these rows (the parameters are NeuSight's, per held-out GPU)."""
    return {}


@lru_cache(maxsize=1)
def _scored() -> pd.DataFrame:
    frame = rows().reset_index(drop=True)
    predicted = np.empty(len(frame))
    for gpu, idx in frame.groupby("gpu").indices.items():
        predicted[idx] = neusight.predict(frame.iloc[idx], _params_without(gpu))
    return neusight.scored_with(frame, predicted)


def scored(leave_one_gpu_out: bool = True) -> pd.DataFrame:
    """Every row with ``predicted_<model>_s`` and ``error_<model>`` (model, the datasheet
    roofline, the generic priors)."""
    return _scored().copy()


def main() -> None:
    f = scored()
    pd.set_option("display.width", 200)
    f["class"] = np.where(f.family.isin(["gemm", "bmm"]), "gemm", f.family)
    g = f.groupby(["gpu", "class"])
    print(pd.concat({"rows": g.size(),
                     "median %": g.error_model.agg(lambda s: 100 * s.abs().median()),
                     "signed %": g.error_model.agg(lambda s: 100 * s.median()),
                     "roofline %": g.error_roofline.agg(lambda s: 100 * s.abs().median())},
                    axis=1).round(1).to_string())


if __name__ == "__main__":
    main()
