"""cuDNN RNN / LSTM / GRU calls timed on a named H200 (session 6, ``validation/gpu_probe.py``):
the first named-GPU cuDNN 9 timings this project has, scored per cuDNN stack.

Data (``costmodel/data/reference/h200-cudnn-rnn.json``, made by ``tools/import_h200_probe.py``
from ``validation/results/gpu-h200-s6/``): ``nn.RNN(relu)`` / ``nn.LSTM`` / ``nn.GRU`` at
PyTorch 2.11's defaults (cuDNN 9.19, TF32 as found), the headline shape, a length sweep, a
depth sweep, DeepBench-like single layers in fp32/fp16/bf16, bidirectional layers; per row
the median CUDA-event time over the one to three machines that timed it. Two phases: the
inference forward (``eval()`` + ``inference_mode``) and forward + backward of a training step.
Priced on the catalogue's H200 with each stack of :mod:`costmodel.implementations.
cudnn_stack`; nothing is fitted on these rows.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd

import costmodel as cm
from costmodel.implementations import cudnn_stack as stack
from costmodel.reference import published

NAME = "h200-cudnn-rnn"
FITTED = stack.FITTED  # the file whose floors it scores; nothing is fitted on these rows
FILE = "h200-cudnn-rnn.json"
GPU = "h200"
PHASES = {"inference": "inference_ms", "forward+backward": "forward_backward_ms"}
FAMILY = {"rnn_relu": "RNN", "lstm": "LSTM", "gru": "GRU"}
HOST = "host"  # the default stack bounded by the host costs measured on the length grid
HOST_GRID = "length"  # the calibration rows of HOST: not scored
#: the module of HOST_GRID: the nearest to calibrate's probe (host_issue.PROBE) that session 6
#: timed at several lengths; its GPU step (11 us) near the host's, so its slope over-states
#: the host per kernel (the probe now runs H 256, batch 1: host-only)
HOST_MODULE = {"family": "lstm", "hidden": 1024, "batch": 32, "dtype": "fp32"}
SCORED = ("model", HOST, *(s for s in stack.STACKS if s != stack.AUTO))
PROTOCOL = "nothing fitted (one named GPU)"
FIXED_PROTOCOL = True  # --no-leave-one-gpu-out changes nothing here
SCORE_NOTE = ("one named H200, nothing fitted on these rows: model = the default stack "
              f"({stack.AUTO}); {HOST} = the same bounded by the host-issue costs measured "
              f"on the '{HOST_GRID}' grid's fp32 LSTM (as calibrate measures them; those rows "
              "not scored); " + ", ".join(SCORED[2:]) + " = the cuDNN stacks")


def rows() -> pd.DataFrame:
    """One row per configuration and phase, with its provenance."""
    entry = resources.files("costmodel").joinpath("data", "reference", FILE)
    origin = published.origin_of(entry)
    provenance, raw = published.table(entry, ("grid", "cell", "hidden", "batch", "timesteps",
                                              "layers", "bidirectional", "dtype",
                                              *PHASES.values()))
    out = []
    for i, row in enumerate(raw):
        published.choice(origin, i, row, "cell", FAMILY)
        for phase, column in PHASES.items():
            out.append({"source": NAME, "gpu": GPU, "family": row["cell"], "phase": phase,
                        "dtype": row["dtype"], "grid": row["grid"],
                        **{k: int(published.number(origin, i, row, k))
                           for k in ("hidden", "batch", "timesteps", "layers")},
                        "bidirectional": bool(row["bidirectional"]),
                        "measured_s": published.number(origin, i, row, column) * 1e-3,
                        "runs": row.get("runs"), "kernels_per_call": row.get("kernels_per_call"),
                        "repo": provenance["repo"], "commit": provenance["commit"],
                        "path_or_url": provenance["url"], "row": i})
    if not out:
        raise ValueError(f"{origin}: field 'rows': no measurements")
    return pd.DataFrame(out)


def fit(train: pd.DataFrame) -> dict:
    """Nothing is fitted on these rows: the pr62143 stack's scales, from PR #62143's."""
    from costmodel.reference import xwang233_standard

    return xwang233_standard.fit(xwang233_standard.rows())


def record_of(cell: str, hidden: int, layers: int = 1, bidirectional: bool = False,
              input_size: int | None = None):
    """The cost record of a probe row's module (``cell`` as the probe names it: rnn_relu,
    lstm, gru; input = hidden unless given), as ``validation/gpu_probe.py`` builds it."""
    extra = {"nonlinearity": "relu"} if cell == "rnn_relu" else {}
    return getattr(cm, FAMILY[cell])(hidden if input_size is None else input_size, hidden,
                                     num_layers=layers, bidirectional=bidirectional, **extra)


def phase_seconds(record, gpu, phase: str, **at) -> float:
    """``inference`` (the whole inference forward) or ``forward+backward`` of a training step
    (no optimizer update) of ``record`` on ``gpu``; ``at``: predict's n, batch, dtype, ..."""
    if phase == "inference":
        return cm.predict(record, gpu, mode="inference", **at).total_s
    phases = cm.predict(record, gpu, mode="training", **at).phases
    return phases["forward"] + phases["backward"]


def seconds(row, cudnn_stack: str, gpu=GPU) -> float:
    """One row's phase on ``gpu`` (the catalogue H200) with ``cudnn_stack``."""
    record = record_of(row["family"], row["hidden"], row["layers"], row["bidirectional"])
    return phase_seconds(record, gpu, row["phase"], n=row["timesteps"], batch=row["batch"],
                         dtype=row["dtype"], cudnn_stack=cudnn_stack)


def host_costs(frame: pd.DataFrame | None = None):
    """The host-issue costs (:class:`~costmodel.implementations.host_issue.HostCosts`) of the
    median machine, from the :data:`HOST_GRID` rows of :data:`HOST_MODULE`, fitted as
    ``costmodel calibrate`` fits its own probe's."""
    from costmodel.implementations import host_issue

    frame = rows() if frame is None else frame
    probe = HOST_MODULE
    grid = frame[(frame["grid"] == HOST_GRID) & (frame["family"] == probe["family"])
                 & (frame["dtype"] == probe["dtype"]) & (frame["hidden"] == probe["hidden"])
                 & (frame["batch"] == probe["batch"])]
    key = {"inference": "inference_s", "forward+backward": "forward_backward_s"}  # fit's
    timed = [{"steps": int(steps), **dict(zip(g["phase"].map(key), g["measured_s"]))}
             for steps, g in grid.groupby("timesteps")]
    gpu = cm.load_hardware(GPU)
    return host_issue.fit(host_issue.probe_points(timed, gpu, probe),
                          f"{NAME}: the '{HOST_GRID}' grid, median of the machines")


@lru_cache(maxsize=1)
def _scored() -> pd.DataFrame:
    import dataclasses

    frame = rows().reset_index(drop=True)
    with_host = dataclasses.replace(cm.load_hardware(GPU), host=host_costs(frame))

    def predicted(row, model: str) -> float:
        if model != HOST:
            return seconds(row, stack.AUTO if model == "model" else model)
        return float("nan") if row["grid"] == HOST_GRID else seconds(row, stack.AUTO, with_host)

    for model in SCORED:
        frame[f"predicted_{model}_s"] = [predicted(r, model) for _, r in frame.iterrows()]
        frame[f"error_{model}"] = frame[f"predicted_{model}_s"] / frame["measured_s"] - 1.0
    return frame


def scored(leave_one_gpu_out: bool = True) -> pd.DataFrame:
    """Every row with ``predicted_<model>_s`` and ``error_<model>`` for :data:`SCORED`;
    ``leave_one_gpu_out`` changes nothing (nothing is fitted here)."""
    return _scored().copy()
