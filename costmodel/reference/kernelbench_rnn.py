"""KernelBench's PyTorch-eager baseline times of a 6-layer ``nn.LSTM`` / ``nn.GRU`` on named
Ampere, Ada, Hopper, Turing and Blackwell GPUs (ScalingIntelligence/KernelBench, level-3 problems 35-42,
``results/timing/<machine>/baseline_time_torch.json``): the first named-GPU cuDNN 8/9
recurrence timings on an A100, H100, L4 and L40S this project has, from several cloud
providers and one university cluster, (session 10) an A10's and a B200's, (session 11) an RTX
A6000's and (session 14) an RTX 3090 Ti's. Nothing is fitted on these rows.

Data (``costmodel/data/reference/kernelbench-rnn.json``, made by
``tools/import_kernelbench_rnn.py`` from the repository's main line): per row one machine's
run of one problem, batch 10, 512 steps, input 128, hidden 256, 6 layers, fp32, uni- or
bidirectional; the mean of 100 CUDA-event timings of one forward call with the queue drained
(the host's issue cost inside), PyTorch 2.5.0 (2.9.0 for the December 2025 H100 run) as the
repository pinned it (for the March 2025 B200 run that pin is doubtful: 2.5.0's CUDA 12.4
builds carry no sm_100 code, and what ran is unrecorded; docs/validation.md). The module is in train mode under ``torch.no_grad()`` (KernelBench never calls ``eval()``), so the
call is cuDNN's training forward: priced as the forward phase of ``mode="training"``.

Not priced: problems 35-38 also run ``nn.Linear(256 or 512, 10)`` on the last step, a slice
and (in later versions) two ``torch.randn`` states per call: three to four eager ops, about
50 us (:func:`costmodel.implementations.op_floor`), 0.1-0.3 % of these calls.

Scored models: ``model`` (the default, ``--cudnn-stack auto``: cuDNN 8's floor on Ampere, Ada
and Hopper, DeepBench's on Turing), the two stacks, and ``host``: the default bounded by the
``--host h200-cloud-vm`` preset (measured on other machines: this is its first out-of-sample
test).
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

import costmodel as cm
from costmodel.implementations import cudnn_stack as stack
from costmodel.reference import published

NAME = "kernelbench-rnn"
FITTED = stack.FITTED  # the file whose floors it scores; nothing is fitted on these rows
FILE = "kernelbench-rnn.json"
HOST = "host"
HOST_PRESET = "h200-cloud-vm"
SCORED = ("model", *(s for s in stack.STACKS if s != stack.AUTO), HOST)
PROTOCOL = "nothing fitted (named GPUs)"
FIXED_PROTOCOL = True  # --no-leave-one-gpu-out changes nothing here
REQUIRED = ("machine", "gpu", "problem", "cell", "bidirectional", "layers", "hidden",
            "input_size", "batch", "timesteps", "mean_ms", "commit", "path")
FAMILY = {"lstm": "LSTM", "gru": "GRU"}
SCORE_NOTE = ("KernelBench's 6-layer nn.LSTM / nn.GRU (batch 10, 512 steps, H 256, fp32, "
              "train-mode forward under no_grad, one call with the queue drained), nothing "
              f"fitted: model = the default stack ({stack.AUTO}); "
              + ", ".join(s for s in stack.STACKS if s != stack.AUTO)
              + f" = the cuDNN stacks; {HOST} = the default bounded by --host {HOST_PRESET}")


def rows() -> pd.DataFrame:
    """One row per machine run and problem, with its provenance."""
    origin, provenance, raw = published.load(FILE, REQUIRED)
    out = []
    for i, row in enumerate(raw):
        published.choice(origin, i, row, "cell", FAMILY)
        out.append({"source": NAME, "gpu": published.gpu_name(origin, row["gpu"]),
                    "family": row["cell"], "phase": "forward", "dtype": "fp32",
                    "machine": row["machine"], "problem": row["problem"],
                    # the file names changed (35_LTSM.py -> 35_LSTM.py), the numbers did not
                    "problem_id": int(str(row["problem"]).split("_")[0]),
                    "bidirectional": bool(row["bidirectional"]),
                    **{k: int(published.number(origin, i, row, k))
                       for k in ("layers", "hidden", "input_size", "batch", "timesteps")},
                    "measured_s": published.number(origin, i, row, "mean_ms") * 1e-3,
                    "torch": row.get("torch"), "repo": provenance["repo"],
                    "commit": row["commit"], "path_or_url": row["path"], "row": i})
    if not out:
        raise ValueError(f"{origin}: field 'rows': no measurements")
    return pd.DataFrame(out)


def record_of(row):
    """The cost record of a row's recurrent module, as the problem builds it."""
    return getattr(cm, FAMILY[row["family"]])(row["input_size"], row["hidden"],
                                              num_layers=row["layers"],
                                              bidirectional=row["bidirectional"])


def seconds(row, cudnn_stack: str = stack.AUTO, host=None) -> float:
    """The train-mode forward of a row's module on its GPU."""
    p = cm.predict(record_of(row), row["gpu"], n=row["timesteps"], batch=row["batch"],
                   dtype=row["dtype"], mode="training", cudnn_stack=cudnn_stack, host=host)
    return p.phases["forward"]


def fit(train: pd.DataFrame) -> dict:
    """Nothing is fitted on these rows."""
    return {}


@lru_cache(maxsize=1)
def _scored() -> pd.DataFrame:
    frame = rows().reset_index(drop=True)
    # a prediction depends on the module, its sizes and its GPU: price each distinct one once
    # (13 runs repeat the same 8 problems)
    keys = ["gpu", "family", "bidirectional", "layers", "hidden", "input_size", "batch",
            "timesteps", "dtype"]
    for model in SCORED:
        chosen = stack.AUTO if model in ("model", HOST) else model
        host = HOST_PRESET if model == HOST else None
        cache = {tuple(r[keys]): seconds(r, chosen, host)
                 for _, r in frame.drop_duplicates(keys).iterrows()}
        frame[f"predicted_{model}_s"] = [cache[tuple(r)] for r in frame[keys].itertuples(
            index=False)]
        frame[f"error_{model}"] = frame[f"predicted_{model}_s"] / frame["measured_s"] - 1.0
    return frame


def scored(leave_one_gpu_out: bool = True) -> pd.DataFrame:
    """Every row with ``predicted_<model>_s`` and ``error_<model>`` for :data:`SCORED`;
    ``leave_one_gpu_out`` changes nothing (nothing is fitted here)."""
    return _scored().copy()


def spread() -> pd.DataFrame:
    """Machine to machine on one GPU: per GPU and problem, the runs' fastest and slowest
    mean and their ratio (what no GPU-only model can follow)."""
    f = rows()
    g = f.groupby(["gpu", "problem_id"])["measured_s"]
    out = pd.DataFrame({"runs": g.size(), "fastest_ms": g.min() * 1e3,
                        "slowest_ms": g.max() * 1e3})
    out["ratio"] = out.slowest_ms / out.fastest_ms
    return out.reset_index()


def main() -> None:
    f = scored()
    pd.set_option("display.width", 200)
    cols = ["error_" + m for m in SCORED]
    print("median |error| and signed median per GPU and direction:")
    g = f.groupby(["gpu", "bidirectional"])
    print(pd.concat({"abs": g[cols].agg(lambda s: s.abs().median()),
                     "signed": g[cols].median()}, axis=1).round(3).to_string())
    print("\nall rows:", {m: (round(float(f["error_" + m].abs().median()), 3),
                            round(float(f["error_" + m].median()), 3)) for m in SCORED})
    s = spread()
    print("\nmachine-to-machine spread (slowest / fastest run, same GPU and problem):")
    print(s[s.runs > 1].groupby("gpu")["ratio"].describe()[["count", "min", "50%", "max"]]
          .round(2).to_string())


if __name__ == "__main__":
    main()
