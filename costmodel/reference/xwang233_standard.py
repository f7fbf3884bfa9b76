"""cuDNN 8's STANDARD steps: the BEFORE column of PyTorch PR #62143's benchmark, as absolute
times, for the ``pr62143`` stack of :mod:`costmodel.implementations.cudnn_stack`.

Data: the same file as :mod:`costmodel.reference.xwang233_small_h`
(``costmodel/data/reference/xwang233-cudnn-small-h.json``, xwang233/code-snippet @ 2c053c8):
``nn.RNN`` (tanh, relu) and ``nn.LSTM``, seq 1000-6000, batch 1-64, hidden 16-384, 1-4 layers,
fp32 and fp16, forward ``rnn(x)`` and ``out.backward(g)`` alone, PyTorch git 251686f (ALGO_
STANDARD, cuDNN >= 8.2.1 as the PR requires), ``torch.utils.benchmark`` blocked_autorange.
**The GPU is not named** (readme, scripts and PR thread checked): the rows are priced as the
catalogue's A100 (:data:`PRICED_ON`), a 2021 NVIDIA datacenter part like the one they ran on,
and that assumption is what the fitted floor rests on.

Model: the fitted cuDNN model with the step floor scaled by ``floor_scale`` per phase and paid
once per layer of a wavefront diagonal (the rows grow about linearly with the layers). A row's
time is linear in the scale: ``a + floor_scale * f`` (``a``: the time with no floor, ``f``: the
floor's share at scale 1), so the fit is the closed-form least squares on relative errors
per phase. Protocol: leave-one-config-out (all rows of one (cell, seq, batch, input, hidden,
layers) predicted from a fit on the others), on one unnamed GPU: NOT an unseen-GPU figure.
Beside it the ``deepbench`` stack (what ``--cudnn-stack deepbench`` prices; ``auto`` prices
an A100 with the ``pr62143`` one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from costmodel.implementations import cudnn_rnn as impl
from costmodel.implementations import cudnn_stack as stack
from costmodel.reference import xwang233_small_h as source

NAME = "xwang233-standard"
FITTED = stack.FITTED
PRICED_ON = source.PRICED_ON
STEP_PHASE = {"forward": "forward", "backward": "backward_data"}  # row phase -> floor's call
SCORED = ("model", "deepbench")
# the short name a plot's title gives (SCORE_NOTE: the whole protocol)
PROTOCOL = "leave-one-config-out"
SCORE_NOTE = (f"STANDARD (BEFORE) seconds scored, leave-one-config-out on one unnamed GPU "
              f"priced as {PRICED_ON}; model = the pr62143 stack, deepbench = DeepBench's floors")


def rows() -> pd.DataFrame:
    """The BEFORE (ALGO_STANDARD) rows, ``measured_s`` = BEFORE, with their provenance."""
    frame = source.rows()
    return frame.assign(source=NAME, measured_s=frame["before_s"]).drop(
        columns=["before_s", "measured_ratio"])


def _seconds(frame: pd.DataFrame, table: dict | None) -> np.ndarray:
    """Each row's phase seconds on :data:`PRICED_ON`, STANDARD fixed, the step floor of the
    ``pr62143`` stack with ``table``'s scales (None: the DeepBench stack)."""
    extra = {"algo": impl.ALGOS[0],
             "stack": None if table is None else stack.params_of(stack.CUDNN8, table)}
    return source._priced(frame, **extra)


def _uniform(scale: float) -> dict:
    return {phase: {"floor_scale": scale} for phase in stack.PHASES}


def basis(frame: pd.DataFrame) -> dict:
    """``fixed`` (no step floor) and ``floor`` (its share at scale 1, one per layer) per row:
    predicted = fixed + floor_scale[phase] * floor (:func:`predict` agrees, a test checks)."""
    fixed = _seconds(frame, _uniform(0.0))
    return {"fixed": fixed, "floor": _seconds(frame, _uniform(1.0)) - fixed}


def fit(train: pd.DataFrame, parts: dict | None = None) -> dict:
    """Per phase the ``floor_scale`` minimising the summed squared relative error of its rows
    (closed form, at least 0), with the rows it came from."""
    parts = basis(train) if parts is None else parts
    measured = train["measured_s"].to_numpy(dtype=float)
    calls = train["phase"].map(STEP_PHASE).to_numpy()
    out = {}
    for phase in stack.PHASES:
        chosen = calls == phase
        f = parts["floor"][chosen] / measured[chosen]
        a = parts["fixed"][chosen] / measured[chosen]
        scale = max(0.0, float(np.sum(f * (1.0 - a)) / np.sum(f * f))) if chosen.any() else 1.0
        out[phase] = {"floor_scale": float(f"{scale:.4g}"), "rows": int(chosen.sum()),
                      "gpus": ["not stated (priced as " + PRICED_ON + ")"]}
    return out


def predict(frame: pd.DataFrame, params: dict) -> np.ndarray:
    """Seconds per row with the ``pr62143`` stack fitted as ``params``."""
    return _seconds(frame, params)


def scored(leave_one_out: bool = True) -> pd.DataFrame:
    """Every row with ``predicted_<model>_s`` and ``error_<model>`` (predicted / measured - 1)
    for :data:`SCORED`: the pr62143 stack (leave-one-config-out unless told otherwise) and the
    default DeepBench stack."""
    frame = rows().reset_index(drop=True)
    parts = basis(frame)
    predicted = np.full(len(frame), np.nan)
    if leave_one_out:
        keys = frame[source.CONFIG].astype(str).agg("|".join, axis=1).to_numpy()
        for key in sorted(set(keys)):
            held = keys == key
            params = fit(frame[~held], {k: v[~held] for k, v in parts.items()})
            predicted[held] = _combine(parts, held, frame, params)
    else:
        predicted[:] = _combine(parts, np.ones(len(frame), bool), frame, fit(frame, parts))
    frame["predicted_model_s"] = predicted
    frame["predicted_deepbench_s"] = _seconds(frame, None)
    for model in SCORED:
        frame[f"error_{model}"] = frame[f"predicted_{model}_s"] / frame["measured_s"] - 1.0
    return frame


def _combine(parts: dict, held: np.ndarray, frame: pd.DataFrame, params: dict) -> np.ndarray:
    """fixed + floor_scale x floor of the ``held`` rows (the same as :func:`predict`)."""
    scale = frame.loc[held, "phase"].map(
        lambda p: params[STEP_PHASE[p]]["floor_scale"]).to_numpy(dtype=float)
    return parts["fixed"][held] + scale * parts["floor"][held]


def fitted_toml(params: dict) -> str:
    """The fitted file's body (shared by :mod:`costmodel.reference.fractaltensor_cudnn`,
    which fits nothing): what each key means, then the values."""
    lines = ["# cuDNN 8 stack (implementations/cudnn_stack.py): the STANDARD step floor = "
             "floor_scale x the fitted DeepBench floor,",
             "# paid once per layer of a wavefront step; rows: the BEFORE rows of PR #62143 "
             "(GPU not stated) priced as " + PRICED_ON + ".", ""]
    for phase in stack.PHASES:
        lines += [f"[params.{phase}]", *(f"{k} = {v!r}" if not isinstance(v, list) else
                                         f"{k} = {v!r}".replace("'", '"')
                                         for k, v in params[phase].items()), ""]
    return "\n".join(lines)
