"""NeuSight's end-to-end model latencies (sitar-lab/NeuSight @ 6945927,
``scripts/asplos/summary/summary.csv`` and ``label/<device>/*.json``): whole HuggingFace
BERT-large, GPT-2 large, GPT-3 XL / 2.7B (NeuSight's configs) and OPT-1.3B runs, fp32, eager
attention, on A100 PCIe 40/80 GB, H100 SXM, L4, T4, V100 PCIe 32GB and P100 PCIe (the P4 is
not in the catalogue: its rows are shipped, not scored). Inference: one forward under
``no_grad``; training: the train-mode forward and ``loss.backward()`` timed apart (no
optimizer step). CUDA events, mean of the 5 fastest of 25.

Rows: ``inference`` (the forward), and per training run ``forward``, ``backward`` and
``step`` (forward + backward, what NeuSight scores as end-to-end). Each row carries NeuSight's
own prediction of the same run (``neusight_s``). The prediction (:mod:`.hf_models`) prices
the model's records with ``costmodel.roofline.predict`` (what ``costmodel.predict`` runs)
with the cuBLAS parameters passed in: fitted, leave-one-GPU-out, on NeuSight's per-op rows,
the layer-trace nodes and DeepBench's GEMM rows of the other GPUs (a held-out V100 or P100
also drops DeepBench's sheet of the same chip). ``predict(..., extras=False)`` leaves out
HuggingFace's eager kernels beyond ``torch.nn``'s layer (:func:`.hf_models.hf_extras`).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from costmodel.efficiency import Efficiency
from costmodel.hardware import load_hardware
from costmodel.reference import hf_models, neusight, published

NAME = "neusight-e2e"
FITTED = neusight.FITTED
REQUIRED = ("row", "device", "model", "mode", "seq", "batch", "fw_ms", "bw_ms",
            "neusight_fw_ms", "neusight_bw_ms", "neusight_ood")
#: NeuSight device -> catalogue entry where the names differ. The V100 PCIe 32GB has the 16GB
#: part's SMs, clocks and 900 GB/s HBM2 (NVIDIA's V100 datasheet gives one "V100 PCIe"
#: column for both); memory size does not enter a time.
CATALOGUE = {"Tesla_V100-PCIE-32GB": "v100-pcie-16gb"}
UNSCORED = {"Tesla_P4": "not in the hardware catalogue"}
#: NeuSight's summarize.py OOD_DEVICES: the GPUs its predictor never saw
UNSEEN_BY_NEUSIGHT = ("NVIDIA_H100_80GB_HBM3", "NVIDIA_L4", "NVIDIA_A100_80GB_PCIe")
P90 = 0.9
PHASES = {"inference": ("inference",), "training": ("forward", "backward", "step")}


def rows(include_unscored: bool = False) -> pd.DataFrame:
    """One row per measured phase (see the module docstring); P4 only when asked."""
    frame = pd.DataFrame(list(_records()))
    return frame if include_unscored else frame[frame.gpu != ""].reset_index(drop=True)


@lru_cache(maxsize=1)
def _records() -> tuple[dict, ...]:
    (entry,) = published.files("neusight-e2e")
    origin = published.origin_of(entry)
    provenance, raw = published.table(entry, REQUIRED)
    configs = provenance["model_configs"]
    out = []
    for i, row in enumerate(raw):
        device = row["device"]
        gpu = "" if device in UNSCORED else published.gpu_name(
            origin, CATALOGUE.get(device, device))
        if row["model"] not in configs:
            raise ValueError(f"{origin}: row {i}: field 'model': {row['model']!r} has no "
                             f"entry in provenance.model_configs")
        fw = published.number(origin, i, row, "fw_ms") * neusight.MS
        ns_fw = published.number(origin, i, row, "neusight_fw_ms") * neusight.MS
        training = row["mode"] == "training"
        bw, ns_bw = ((published.number(origin, i, row, f) * neusight.MS if training else 0.0)
                     for f in ("bw_ms", "neusight_bw_ms"))
        times = {"inference": (fw, ns_fw), "forward": (fw, ns_fw), "backward": (bw, ns_bw),
                 "step": (fw + bw, ns_fw + ns_bw)}
        common = {"source": NAME, "gpu": gpu, "device": device, "family": row["model"],
                  "model": row["model"], "mode": row["mode"], "n": row["seq"],
                  "batch": row["batch"], "dtype": neusight.DTYPE, "row": row["row"],
                  "neusight_ood": bool(row["neusight_ood"]), "repo": provenance["repo"],
                  "commit": provenance["commit"], "path_or_url": provenance["source"]}
        for phase in PHASES[row["mode"]]:
            measured, theirs = times[phase]
            out.append({**common, "phase": phase, "measured_s": measured,
                        "neusight_s": theirs})
    return tuple(out)


@lru_cache(maxsize=None)
def spec(model: str) -> hf_models.Spec:
    (entry,) = published.files("neusight-e2e")
    return hf_models.spec_of(published.read_json(entry)["provenance"]["model_configs"][model])


def fit(train: pd.DataFrame) -> dict:
    """cuBLAS/pointwise parameters without any row of the GPUs absent from ``train``."""
    return _fit(frozenset(set(rows().gpu) - set(train.gpu)))


@lru_cache(maxsize=None)
def _fit(held: frozenset) -> dict:
    from costmodel.reference import deepbench_gemm

    chips = {load_hardware(g).name.split()[0] for g in held}
    gemm = deepbench_gemm.rows()
    gemm = gemm[~gemm.gpu.map(lambda g: load_hardware(g).name.split()[0]).isin(chips)]
    ops = neusight.rows()
    return neusight.fit(ops[~ops.gpu.isin(held)].reset_index(drop=True), gemm)


def phases(model: str, gpu: str, mode: str, n: int, batch: int, eff: Efficiency,
           extras: bool = True) -> dict:
    """Predicted seconds (forward, backward) of one run: the records of :mod:`.hf_models`
    through ``costmodel.roofline.predict`` with ``eff``; backward 0 in inference."""
    from costmodel.roofline import predict

    s, hw, training = spec(model), load_hardware(gpu), mode == "training"
    pieces = [(hf_models.stack(s), n), (hf_models.outside(s, training), n),
              (hf_models.pooled(s), 1), (hf_models.hf_extras(s) if extras else None, n)]
    out = {"forward": 0.0, "backward": 0.0}
    for record, length in (piece for piece in pieces if piece[0] is not None):
        t = predict(record, hw, eff=eff, dtype=neusight.DTYPE, mode=mode, n=length,
                    batch=batch)
        out["forward"] += float(t.forward_s)
        out["backward"] += float(t.backward_s) if training else 0.0
    return out


def _predict(frame: pd.DataFrame, eff_of, extras: bool = True) -> np.ndarray:
    out = np.empty(len(frame))
    keys = ["gpu", "model", "mode", "n", "batch"]
    for (gpu, model, mode, n, batch), idx in frame.groupby(keys).indices.items():
        t = phases(model, gpu, mode, int(n), int(batch), eff_of(gpu), extras)
        by_phase = {"inference": t["forward"], "forward": t["forward"],
                    "backward": t["backward"], "step": t["forward"] + t["backward"]}
        out[idx] = [by_phase[p] for p in frame.phase.iloc[idx]]
    return out


def predict(frame: pd.DataFrame, params: dict, extras: bool = True) -> np.ndarray:
    """Seconds per row with cuBLAS parameters ``params`` (``extras``: HF's eager kernels)."""
    return _predict(frame, lambda gpu: Efficiency.for_hardware(load_hardware(gpu), params),
                    extras)


def baseline(frame: pd.DataFrame, eff) -> np.ndarray:
    """The same records through the generic roofline with ``eff`` (score.py's baselines)."""
    return _predict(frame, lambda gpu: eff)


def scored_table() -> pd.DataFrame:
    """Per GPU and phase, |predicted / measured - 1| (fractions): costmodel leave-one-GPU-out
    with and without HuggingFace's eager extras, and NeuSight's own prediction, same rows;
    then the same over every row ("all") and over NeuSight's unseen GPUs' end-to-end rows
    (inference and step on H100, L4, A100 80GB: "unseen e2e")."""
    frame = rows()
    frame["costmodel"] = published.leave_one_gpu_out(frame, fit, predict)
    frame["without_extras"] = published.leave_one_gpu_out(
        frame, fit, lambda f, p: predict(f, p, extras=False))
    unseen = frame.phase.isin(["inference", "step"]) & frame.device.isin(UNSEEN_BY_NEUSIGHT)
    groups = [*frame.groupby(["gpu", "phase"]),
              *(((g, "all"), sub) for g, sub in frame.groupby("gpu")),
              (("all", "all"), frame), (("unseen e2e", "inference+step"), frame[unseen])]
    out = []
    for (gpu, phase), sub in groups:
        row = {"gpu": gpu, "phase": phase, "rows": len(sub)}
        for column in ("costmodel", "without_extras", "neusight_s"):
            err = np.abs(sub[column].to_numpy() / sub.measured_s.to_numpy() - 1.0)
            name = column.removesuffix("_s")
            row.update({f"{name}_median": np.median(err), f"{name}_p90": np.quantile(err, P90),
                        f"{name}_worst": err.max()})
        out.append(row)
    return pd.DataFrame(out)



def trace_vs_measured() -> pd.DataFrame:
    """Per run with a NeuSight layer trace: its nodes' forward times summed as the model runs
    them (the layer's nodes x layers + the embedding and head nodes) / the measured forward
    - 1: how well isolated ops add up to the end-to-end time on each GPU (no model involved)."""
    from costmodel.reference import neusight_layers

    e2e = rows()
    e2e = e2e[e2e.phase.isin(["inference", "forward"])].set_index(
        ["device", "model", "mode", "batch"])
    out = []
    for entry in published.files("neusight-layer-"):
        provenance, raw = published.table(entry, neusight_layers.REQUIRED)
        device, sums = provenance["device"], {}
        for row in raw:
            head = any(word in row["node"] for word in neusight_layers.HEAD_WORDS)
            sums.setdefault(row["trace"], [0.0, 0.0])[head] += row["fw_ms"] * neusight.MS
        for trace, (layer_s, head_s) in sums.items():
            model, mode, _, batch = trace.split("-")
            key = (device, model, "inference" if mode == "inf" else "training", int(batch))
            if key in e2e.index:
                measured = e2e.loc[key]
                out.append({"gpu": measured.gpu, "trace": trace, "ratio_minus_1": (
                    layer_s * spec(model).layers + head_s) / measured.measured_s - 1.0})
    return pd.DataFrame(out)


def main() -> None:
    """``python -m costmodel.reference.neusight_e2e``: :func:`scored_table` in percent."""
    table = scored_table()
    numbers = [c for c in table.columns if c.endswith(("median", "p90", "worst"))]
    table[numbers] = (100 * table[numbers]).round(1)
    print("NeuSight end-to-end rows: |predicted / measured - 1| in %; costmodel = "
          "leave-one-GPU-out (+ HF eager extras), without_extras = the torch.nn records only, "
          "neusight = NeuSight's own prediction of the same run")
    print(table.to_string(index=False))
    print("\nNeuSight's per-node traces summed as the model runs them / measured forward - 1, %")
    ratios = trace_vs_measured()
    ratios["ratio_minus_1"] = (100 * ratios.ratio_minus_1).round(1)
    print(ratios.to_string(index=False))


if __name__ == "__main__":
    main()
