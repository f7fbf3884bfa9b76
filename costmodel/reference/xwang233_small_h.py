"""cuDNN's PERSIST_STATIC_SMALL_H against ALGO_STANDARD: the benchmark of PyTorch PR #62143
(``costmodel/data/reference/xwang233-cudnn-small-h.json``, xwang233/code-snippet @ 2c053c8).

What was timed (the file's ``what`` per table): ``nn.RNN`` (tanh, relu) and ``nn.LSTM`` on CUDA,
seq 1000-6000, batch 1-64, hidden 16-384, 1-4 layers, fp32 and fp16; forward ``rnn(x)`` and,
separately, ``out.backward(g)`` alone; BEFORE (PyTorch git 251686f: ALGO_STANDARD) and AFTER
(git 9d80e6d: PERSIST_STATIC_SMALL_H where its hidden-size limits admit it) on one GPU that
is not named. Absolute times of an unknown GPU cannot be scored, so this source scores the
**ratio** AFTER / BEFORE of each row: predicted as ``costmodel compare`` would price the record
(``cm.LSTM(i, h, num_layers=n)``, ``cm.RNN(..., nonlinearity=...)``) through
:func:`costmodel.roofline.predict` on :data:`PRICED_ON` (the algorithm left to PyTorch's rule,
the small-h parameters passed in) over the same call with the algorithm fixed to STANDARD.

Protocol: leave-one-config-out: the rows of one (cell, seq, batch, input, hidden, layers),
every dtype, nonlinearity and phase, are predicted from parameters fitted on the other
configurations. The GPU is the same in training and test: NOT an unseen-GPU figure.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

import costmodel as cm
from costmodel.hardware import load_hardware
from costmodel.implementations import cudnn_rnn as impl
from costmodel.implementations import cudnn_small_h as small_h
from costmodel.reference.nnls import relative_nnls
from costmodel.roofline import predict as roofline_predict

NAME = "xwang233-small-h"
FITTED = small_h.FITTED
FILE = "xwang233-cudnn-small-h.json"
PRICED_ON = "a100"  # the catalogue device the ratio is priced on (the benchmark's is unknown)
DTYPES = {"float": "fp32", "half": "fp16"}
FAMILIES = {"LSTM": "lstm", "RNN": "rnn"}
S_PER_UNIT = {"ms": 1e-3, "us": 1e-6}
GROUP = ["family", "nonlinearity", "dtype", "layers"]
CONFIG = ["family", "seq", "batch", "input", "hidden", "layers"]
NO_EVIDENCE = {"step_ratio": 1.0, "work_factor": 0.0}  # a class without rows: STANDARD's step
# the phase whose rows place the boundary: PyTorch's backward limits (H <= 256 RNN, <= 128
# LSTM/GRU) are both W_hh <= 65,536 elements, so backward rows above a boundary there are
# few (4 LSTM rows at 65,536 if it falls below) and a class of their own would fit them alone
BOUNDARY_PHASE = "forward"
IRLS_ROUNDS = 20  # reweighting rounds of the fit (converged before on these data)
IRLS_FLOOR = 1e-3  # relative errors below 0.1 % weigh as 0.1 %
SCORED = ("model", "previous", "standard")
# the short name a plot's title gives (SCORE_NOTE: the whole protocol)
PROTOCOL = "leave-one-config-out"
SCORE_NOTE = ("ratio AFTER/BEFORE scored, leave-one-config-out on one unnamed GPU (priced as "
              f"{PRICED_ON}); previous = a persistent step as the STANDARD one without weight "
              "traffic (before this fit), standard = ratio 1")


def rows() -> pd.DataFrame:
    """One row per measurement pair, with provenance: ``measured_s`` is AFTER, ``before_s``
    BEFORE, ``measured_ratio`` their quotient."""
    entry = resources.files("costmodel").joinpath("data", "reference", FILE)
    from costmodel.reference import published
    data, origin = published.read_json(entry), published.origin_of(entry)
    out = []
    for t, table in enumerate(data.get("tables") or []):
        where = f"{origin}: table {t}"
        if table.get("unit") not in S_PER_UNIT:
            raise ValueError(f"{where}: field 'unit': {table.get('unit')!r} is not one of "
                             f"{', '.join(S_PER_UNIT)}")
        for i, raw in enumerate(table["rows"]):
            after, before = (published.number(where, i, raw, f) * S_PER_UNIT[table["unit"]]
                             for f in ("after", "before"))
            out.append({"source": NAME, "gpu": "not stated", "family": FAMILIES[table["op"]],
                        "nonlinearity": table["nonlinearity"] or "tanh",
                        "phase": table["phase"], "dtype": DTYPES[table["dtype"]],
                        **{k: int(published.number(where, i, raw, k)) for k in (
                            "seq", "batch", "input", "hidden", "layers")},
                        "measured_s": after, "before_s": before,
                        "measured_ratio": after / before, "repo": data["source"],
                        "commit": data["repo_head_commit"], "path_or_url": table["path"],
                        "table": t, "row": i})
    if not out:
        raise ValueError(f"{origin}: field 'tables': no measurements")
    return pd.DataFrame(out)


@lru_cache(maxsize=None)
def record(family: str, nonlinearity: str, layers: int):
    """The module the benchmark times, with symbolic input and hidden sizes."""
    if family == "lstm":
        return cm.LSTM("i", "h", num_layers=layers)
    return cm.RNN("i", "h", num_layers=layers, nonlinearity=nonlinearity)


def _phase_seconds(group: pd.DataFrame, rnn_params: dict, gpu: str) -> np.ndarray:
    """Seconds of each row's phase (forward or backward) through ``roofline.predict``."""
    family, nonlinearity, dtype, layers = group.iloc[0][GROUP]
    timing = roofline_predict(record(family, nonlinearity, int(layers)),
                              load_hardware(gpu), dtype=dtype, rnn_params=rnn_params,
                              batch=group["batch"].to_numpy(), n=group["seq"].to_numpy(),
                              i=group["input"].to_numpy(), h=group["hidden"].to_numpy())
    forward = np.broadcast_to(timing.forward_s, len(group))
    backward = np.broadcast_to(timing.backward_s, len(group))
    return np.where(group["phase"].to_numpy() == "forward", forward, backward)


def _priced(frame: pd.DataFrame, gpu: str = PRICED_ON, **extra) -> np.ndarray:
    """Per row: its phase's seconds on ``gpu`` with the device's fitted cuDNN parameters plus
    ``extra`` (``algo``: fixed, ``small_h``: SmallHParams)."""
    base = impl.params_for(impl.fitted_table(), load_hardware(gpu).architecture)
    out = pd.Series(np.nan, index=frame.index)
    for _, group in frame.groupby(GROUP, sort=True):
        out[group.index] = _phase_seconds(group, {**base, **extra}, gpu)
    return out.to_numpy()


def standard_per_step(gpus: tuple[str, ...] = ("a100", "v100")) -> pd.DataFrame:
    """The BEFORE (ALGO_STANDARD) rows per step, measured on the unnamed GPU and predicted by
    the fitted model on each of ``gpus``: ``measured_step_s`` = BEFORE / seq, and per GPU
    ``<gpu>_step_s`` and ``<gpu>_over_measured`` (the whole call over seq, both sides)."""
    frame = rows()
    out = frame[GROUP + ["phase", "seq", "batch", "input", "hidden"]].copy()
    out["measured_step_s"] = frame["before_s"] / frame["seq"]
    for gpu in gpus:
        out[f"{gpu}_step_s"] = _priced(  # the fitted DeepBench floors, as the name says
            frame, gpu, algo=impl.ALGOS[0], stack=None) / frame["seq"]
        out[f"{gpu}_over_measured"] = out[f"{gpu}_step_s"] / out["measured_step_s"]
    return out


def predict(frame: pd.DataFrame, params: dict) -> np.ndarray:
    """The predicted ratio AFTER / BEFORE per row: PyTorch's algorithm with ``params`` (a
    fitted table) over ALGO_STANDARD, both as ``compare`` prices them."""
    after = _priced(frame, small_h=small_h.from_table(params))
    return after / _priced(frame, algo=impl.ALGOS[0])


def basis(frame: pd.DataFrame) -> dict:
    """Per row the parts the predicted ratio is linear in: ``fixed`` (AFTER with every small-h
    term 0), ``step`` (the small-h steps' STANDARD time), ``work`` (their FLOPs at the math
    peak), ``before`` (STANDARD), and ``elements`` (W_hh's G*H*H); predicted ratio = (fixed
    + step_ratio * step + work_factor * work) / before (:func:`predict` agrees, a test checks
    it)."""
    def uniform(ratio, work):
        return small_h.SmallHParams(np.inf, ((ratio, work),) * 2, ((ratio, work),) * 2)
    fixed = _priced(frame, small_h=uniform(0.0, 0.0))
    gates = frame["family"].map(impl.CELL_GATES).to_numpy()
    return {"fixed": fixed, "step": _priced(frame, small_h=uniform(1.0, 0.0)) - fixed,
            "work": _priced(frame, small_h=uniform(0.0, 1.0)) - fixed,
            "before": _priced(frame, algo=impl.ALGOS[0]),
            "elements": gates * frame["hidden"].to_numpy(dtype=float) ** 2}


def fit(train: pd.DataFrame, parts: dict | None = None) -> dict:
    """The boundary and, per phase and class, the terms minimising the summed |log(predicted /
    measured ratio)| of the rows that run small-h steps: every boundary between two measured
    W_hh sizes is tried (the smallest of the best kept), judged on the forward rows alone
    (:data:`BOUNDARY_PHASE`); per phase and class a non-negative
    least squares on relative errors, reweighted towards the least absolute ones (IRLS); a
    class without rows keeps :data:`NO_EVIDENCE`."""
    parts = basis(train) if parts is None else parts
    step_phase = np.where(train["phase"].to_numpy() == "forward", "forward", "backward_data")
    measured = train["measured_ratio"].to_numpy()
    used = parts["step"] > 0
    best = None
    for bound in np.unique(parts["elements"][used]):
        on_chip = parts["elements"] <= bound
        table, loss = {"on_chip_max_elements": float(bound)}, 0.0
        for phase in small_h.PHASES:
            table[phase] = {}
            for name, member in zip(small_h.CLASSES, (on_chip, ~on_chip)):
                chosen = used & member & (step_phase == phase)
                terms, cost = _best_terms(parts, measured, chosen)
                table[phase][name] = {**terms, "rows": int(chosen.sum())}
                loss += cost if phase == BOUNDARY_PHASE else 0.0
        if best is None or loss < best[0] - 1e-9:
            best = (loss, table)
    return best[1]


def _best_terms(parts: dict, measured: np.ndarray, chosen: np.ndarray) -> tuple[dict, float]:
    """(terms, summed |log error|) of the ``chosen`` rows' fit."""
    if not np.any(chosen):
        return dict(NO_EVIDENCE), 0.0
    columns = np.stack([parts["step"][chosen], parts["work"][chosen]], axis=1)
    offset, target = parts["fixed"][chosen], measured[chosen] * parts["before"][chosen]
    weights = np.ones(len(target))
    for _ in range(IRLS_ROUNDS):
        x = relative_nnls(columns * weights[:, None], offset * weights, target * weights,
                          scale=target)
        relative = np.abs((columns @ x + offset) / target - 1.0)
        weights = 1.0 / np.sqrt(np.maximum(relative, IRLS_FLOOR))
    x = [float(f"{v:.4g}") for v in x]
    cost = np.abs(np.log((columns @ np.asarray(x) + offset) / target)).sum()
    return dict(zip(small_h.TERMS, x)), float(cost)


def scored(leave_one_out: bool = True) -> pd.DataFrame:
    """Every row with ``predicted_<model>_ratio`` and ``error_<model>`` (predicted / measured
    ratio - 1) for :data:`SCORED`: the fitted model (leave-one-config-out unless told
    otherwise), the extrapolation it replaces and ratio 1."""
    frame = rows().reset_index(drop=True)
    parts = basis(frame)
    predicted = np.full(len(frame), np.nan)
    if leave_one_out:
        keys = frame[CONFIG].astype(str).agg("|".join, axis=1).to_numpy()
        for key in sorted(set(keys)):
            held = keys == key
            params = fit(frame[~held], {k: v[~held] for k, v in parts.items()})
            predicted[held] = predict(frame[held], params)
    else:
        predicted[:] = predict(frame, fit(frame, parts))
    static = _priced(frame, algo=impl.ALGOS[1]) / parts["before"]
    runs_small_h = (parts["step"] > 0) & (frame["layers"].to_numpy() == 1)
    frame["predicted_model_ratio"] = predicted
    frame["predicted_previous_ratio"] = np.where(runs_small_h, static, 1.0)
    frame["predicted_standard_ratio"] = 1.0
    for model in SCORED:
        frame[f"error_{model}"] = frame[f"predicted_{model}_ratio"] / frame["measured_ratio"] - 1
    return frame


def fitted_toml(params: dict) -> str:
    """The fitted file's body: what each key means, then the values."""
    lines = ["# PERSIST_STATIC_SMALL_H step = step_ratio x the STANDARD step the fitted cuDNN "
             "model prices on the device",
             "# + work_factor x the step's FLOPs at its cuDNN math peak; on_chip: W_hh (G*H x H "
             "elements) <= on_chip_max_elements,",
             "# spilled: above. rows: the rows of that phase and class that run small-h steps "
             "(every dtype and nonlinearity; GPU not stated).", "",
             "[params]", f"on_chip_max_elements = {params['on_chip_max_elements']!r}", ""]
    for phase in small_h.PHASES:
        for name in small_h.CLASSES:
            lines += [f"[params.{phase}.{name}]",
                      *(f"{k} = {v!r}" for k, v in params[phase][name].items()), ""]
    return "\n".join(lines)
