"""cuDNN 8 stacked LSTMs, depth 2-22: microsoft/FractalTensor's cuDNN baseline, a held-out
check of how the step floor grows with the layers (the ``pr62143`` stack's per-layer floor).

Data (``costmodel/data/reference/fractaltensor-cudnn-lstm.json``, FractalTensor @ ba0633e,
``benchmarks/rnn/cuDNN/README.md``; ``tools/import_fractaltensor_cudnn.py``): one cuDNN LSTM
descriptor of ``layers`` layers (input = hidden = 256, batch 64 or 256, length 50-200),
``cudnnRNNForward`` in inference mode (the cuDNN 8 API), ALGO_STANDARD, fp32, the mean of 5
calls. **The GPU is not named**, so absolute times cannot be scored: each row is scored as the
ratio to the first row of its sweep (depth 2, or length 50 at depth 10), which the GPU's speed
cancels from as far as the step's make-up is alike. Priced as the catalogue's A100
(:data:`PRICED_ON`) through :func:`costmodel.roofline.predict` in inference mode, the way
``compare`` prices an inference forward, once per stack (:mod:`costmodel.implementations.
cudnn_stack`). Nothing is fitted on these rows: the ``pr62143`` stack's scales come from
PR #62143's rows (:mod:`costmodel.reference.xwang233_standard`), so this is a held-out-source
figure, on an unknown GPU.
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd

import costmodel as cm
from costmodel.hardware import load_hardware
from costmodel.implementations import cudnn_rnn as impl
from costmodel.implementations import cudnn_stack as stack
from costmodel.reference import xwang233_standard
from costmodel.roofline import predict as roofline_predict

NAME = "fractaltensor-cudnn"
FITTED = stack.FITTED  # fitted by xwang233-standard (its rows), not by these
FILE = "fractaltensor-cudnn-lstm.json"
PRICED_ON = "a100"
SCORED = stack.STACKS
# the short name a plot's title gives (SCORE_NOTE: the whole protocol)
PROTOCOL = "nothing fitted (ratios within sweeps)"
FIXED_PROTOCOL = True  # --no-leave-one-gpu-out changes nothing here
SCORE_NOTE = (f"ratio to the first row of each sweep scored (depth 2, or length 50), one "
              f"unnamed GPU priced as {PRICED_ON}; nothing fitted on these rows: "
              + ", ".join(SCORED) + " = the cuDNN stacks")


def rows() -> pd.DataFrame:
    """One row per timing with its provenance and ``sweep`` (the README table it is in)."""
    from costmodel.reference import published
    entry = resources.files("costmodel").joinpath("data", "reference", FILE)
    data, origin = published.read_json(entry), published.origin_of(entry)
    out = []
    for t, table in enumerate(data.get("tables") or []):
        for i, raw in enumerate(table["rows"]):
            where = f"{origin}: table {t}"
            out.append({"source": NAME, "gpu": "not stated", "family": "lstm",
                        "phase": "forward", "dtype": "fp32", "sweep": t,
                        **{k: int(published.number(where, i, raw, k))
                           for k in ("batch", "hidden", "seq", "layers")},
                        "measured_s": published.number(where, i, raw, "time_ms") * 1e-3,
                        "repo": data["source"], "commit": data["repo_head_commit"],
                        "path_or_url": data["path"], "table": t, "row": i})
    if not out:
        raise ValueError(f"{origin}: field 'tables': no measurements")
    return pd.DataFrame(out)


def seconds(frame: pd.DataFrame, cudnn_stack: str, gpu: str = PRICED_ON) -> np.ndarray:
    """Each row's inference forward on ``gpu`` with the stack ``cudnn_stack``."""
    return _priced(frame, gpu, cudnn_stack=cudnn_stack)


def fit(train: pd.DataFrame) -> dict:
    """Nothing is fitted on these rows: the pr62143 stack's scales, from PR #62143's."""
    return xwang233_standard.fit(xwang233_standard.rows())


def predict(frame: pd.DataFrame, params: dict) -> np.ndarray:
    """Seconds per row on :data:`PRICED_ON` with the pr62143 stack fitted as ``params``."""
    hw = load_hardware(PRICED_ON)
    rnn_params = {**impl.params_for(impl.fitted_table(), hw.architecture),
                  "stack": stack.params_of("pr62143", params)}
    return _priced(frame, PRICED_ON, rnn_params=rnn_params)


def _priced(frame: pd.DataFrame, gpu: str, **options) -> np.ndarray:
    """Each row's inference forward through ``roofline.predict`` with ``options``."""
    hw, out = load_hardware(gpu), np.full(len(frame), np.nan)
    for layers, group in frame.groupby("layers", sort=True):
        timing = roofline_predict(cm.LSTM("h", "h", num_layers=int(layers)), hw,
                                  mode="inference", batch=group["batch"].to_numpy(),
                                  n=group["seq"].to_numpy(), h=group["hidden"].to_numpy(),
                                  **options)
        out[frame.index.get_indexer(group.index)] = np.broadcast_to(timing.forward_s,
                                                                    len(group))
    return out


def ratio_to_first(frame: pd.DataFrame, values: np.ndarray) -> np.ndarray:
    """``values`` over the value of the first row of each row's sweep."""
    first = pd.Series(values, index=frame.index).groupby(frame["sweep"]).transform("first")
    return np.asarray(values, dtype=float) / first.to_numpy(dtype=float)


def scored(leave_one_out: bool = True, gpu: str = PRICED_ON) -> pd.DataFrame:
    """Every row but each sweep's first (its ratio is 1 by construction) with
    ``measured_ratio``, ``predicted_<stack>_ratio`` and ``error_<stack>`` (predicted /
    measured ratio - 1) for each stack, priced on ``gpu``; ``leave_one_out`` changes nothing
    (nothing is fitted here)."""
    frame = rows().reset_index(drop=True)
    frame["measured_ratio"] = ratio_to_first(frame, frame["measured_s"].to_numpy())
    for name in SCORED:
        frame[f"predicted_{name}_ratio"] = ratio_to_first(frame, seconds(frame, name, gpu))
        frame[f"error_{name}"] = frame[f"predicted_{name}_ratio"] / frame["measured_ratio"] - 1
    first = frame.groupby("sweep").cumcount() == 0
    return frame[~first].reset_index(drop=True)
