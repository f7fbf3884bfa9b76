"""Predicted vs measured for a reference source: leave-one-GPU-out and summaries (a source
with a ``scored`` function of its own, e.g. a ratio on one unnamed GPU, runs that instead).

Protocol: for each GPU g, ``params = fit(rows[gpu != g])`` and ``predicted[gpu == g] =
predict(rows[gpu == g], params)``: every figure is an unseen-GPU figure (a held-out GPU whose
architecture has no other GPU in the training rows gets the across-architecture set). Without
leave-one-GPU-out the parameters are fitted on all rows (in-sample). Beside the model: the
uncalibrated datasheet roofline (``Efficiency.ideal()``) and the generic priors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from costmodel.efficiency import Efficiency
from costmodel.reference import REQUIRED_COLUMNS, source

MODELS = ("model", "roofline", "priors")
GROUPS = ("gpu", "family", "phase", "dtype")
P90 = 0.9


def scored(name: str, leave_one_gpu_out: bool = True) -> pd.DataFrame:
    """Every row of source ``name`` with ``predicted_<model>_s`` and ``error_<model>``
    (predicted / measured - 1) for the models of :data:`MODELS`."""
    module = source(name)
    if hasattr(module, "scored"):  # a source with a protocol of its own (a ratio, one GPU)
        return module.scored(leave_one_gpu_out)
    frame = module.rows().reset_index(drop=True)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"reference {name!r}: rows lack column(s) {missing}")
    predicted = pd.Series(np.nan, index=frame.index)
    if leave_one_gpu_out:
        for gpu in sorted(frame["gpu"].unique()):
            held = frame["gpu"] == gpu
            params = module.fit(frame[~held])
            predicted[held] = module.predict(frame[held], params)
    else:
        predicted[:] = module.predict(frame, module.fit(frame))
    frame["predicted_model_s"] = predicted.to_numpy()
    frame["predicted_roofline_s"] = module.baseline(frame, Efficiency.ideal())
    frame["predicted_priors_s"] = module.baseline(frame, Efficiency.priors())
    for model in MODELS:
        frame[f"error_{model}"] = frame[f"predicted_{model}_s"] / frame["measured_s"] - 1.0
    return frame


def summary(frame: pd.DataFrame, by: tuple[str, ...] = ("source", "gpu", "phase", "dtype")
            ) -> pd.DataFrame:
    """Median, p90 and worst absolute relative error per group, for each model the frame
    scores (its ``error_<model>`` columns: :data:`MODELS`, or a source's own); a group without
    a model's figures gets NaN."""
    models = [c[len("error_"):] for c in frame.columns if c.startswith("error_")]
    out = []
    for key, group in frame.groupby(list(by), sort=True):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)), rows=len(group))
        for model in models:
            err = np.abs(group[f"error_{model}"].dropna().to_numpy())
            if not len(err):
                row.update({f"{model}_{k}": np.nan for k in ("median", "p90", "worst")})
                continue
            row.update({f"{model}_median": float(np.median(err)),
                        f"{model}_p90": float(np.quantile(err, P90)),
                        f"{model}_worst": float(err.max())})
        out.append(row)
    return pd.DataFrame(out)
