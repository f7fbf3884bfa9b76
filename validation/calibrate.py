"""``costmodel calibrate``: run the micro-benchmarks, fit efficiency curves and latency floors,
then fit per-family step and call latencies on whole modules, and write a device profile.

Fitted, in order: the achievable matmul peak per dtype and copy bandwidth (the profile's
``peak_flops_per_s`` and ``hbm_bytes_per_s``); the near-empty op latency
(``kernel_latency_s``); compute-efficiency curves in log(FLOPs) for ``gemm`` (square and
Linear shapes) and ``rnn_gemm`` (the hoisted input projection and the skinny step GEMMs, whose
W_hh stays fixed so cache residency shows up in the curve); memory-efficiency curves in
log(bytes) for ``rnn_gemm``/``gemm`` (memory-bound step GEMMs), ``elementwise``/``reduction``
(a pointwise op) and ``optimizer`` (an Adam step); whole-step curves per recurrent family and
phase from modules timed at two sequence lengths (:func:`.measure.measure_steps`); then per
family (rnn, lstm, gru, Transformer layer) and phase the non-negative linear model of
:mod:`.fit` on module sizes that the validation grid does not contain; on a GPU, last, the
host's cost to issue cuDNN's kernels (the profile's ``[host]`` table,
:func:`.gpu_launch.host_probe` and :mod:`costmodel.implementations.host_issue`). Every module figure
is the median of its rounds (:func:`.timing.typical`).
"""

from __future__ import annotations

import datetime as dt
import platform

from costmodel.efficiency import INFERENCE, STEP_KIND
from costmodel.implementations import host_issue

from . import bench, require_torch
from .fit import _curve
from .gpu_launch import host_probe
from .measure import QUIET_WAIT_S, measure_modules, measure_steps, module_configs
from .modules import MODES
from .timing import Device, wait_quiet

# sizes per plan; module sizes avoid the validation grid's values (n 16..4096 by x4, d 64,
# 256, 1024, 2048, batch 8, 64) so the validation is held out; batch 1 is shared: a one-row
# step is a matrix-vector product (another kernel), which no larger batch stands in for
PLANS = {
    "full": dict(peak=2048, copy_bytes=256 << 20, square=[32, 64, 128, 256, 512, 1024],
                 linear=[(48, 96), (768, 384), (3072, 768), (384, 1536), (6144, 128)],
                 hidden=[48, 96, 192, 384, 768, 1536, 2560], batches=[1, 2, 4, 16, 48, 96],
                 pointwise=[1 << e for e in range(10, 27, 2)],
                 elementwise=[1 << e for e in range(10, 25, 2)],
                 adam=[10 ** e for e in range(3, 8)],
                 # (n, d, batch) spanning the validation range (n to 3072, d to 1536, batch
                 # to 96) without any of its points
                 modules=[(24, 48, 2), (96, 48, 2), (384, 48, 2), (1536, 48, 2),
                          (384, 48, 24), (96, 48, 48), (96, 128, 4), (384, 128, 24),
                          (24, 128, 48), (96, 384, 2), (24, 384, 24), (384, 384, 4),
                          (24, 768, 2), (96, 768, 24), (24, 1536, 2), (96, 1536, 4),
                          # one row (a matrix-vector step, as at validation batch 1), long
                          # sequences and more widths between the others
                          (48, 96, 1), (768, 96, 1), (192, 384, 1), (48, 768, 1),
                          (3072, 48, 1), (768, 192, 12), (48, 192, 96), (192, 96, 16),
                          # sequences whose gate buffers outgrow the allocator's reuse (30 MiB)
                          (768, 96, 48), (1536, 48, 24)],
                 budget_s=0.1, module_budget_s=0.3, max_config_s=1.5, rounds=3,
                 # whole recurrent steps: widths x batches (rows), each module at 2 lengths;
                 # 2560 so that the validation's 2048 (W_hh past this guest's usable L3) is
                 # interpolated between measured steps, not extrapolated flat from 1536
                 step_hidden=[48, 96, 192, 384, 768, 1536, 2560],
                 step_batches=[1, 2, 4, 16, 48, 96],
                 step_budget_s=0.1, max_step_s=0.3),
    # a CUDA GPU: the peak and bandwidth at sizes that fill the chip (a 384^3 product is one
    # launch, not a peak: the quick plan measured 3.3 TFLOP/s fp32 on an H200), shorter timing
    # budgets (a module call is milliseconds), one round; the same fitted terms as "full"
    "gpu": dict(peak=8192, copy_bytes=1 << 30, square=[128, 512, 1024, 2048, 4096],
                linear=[(512, 768), (4096, 768), (8192, 1024), (2048, 4096), (16384, 256)],
                hidden=[128, 384, 768, 1536, 2560], batches=[1, 4, 16, 48, 128],
                pointwise=[1 << e for e in range(12, 29, 2)],
                elementwise=[1 << e for e in range(12, 27, 2)],
                adam=[10 ** e for e in range(4, 9)],
                modules=[(24, 48, 2), (96, 48, 2), (384, 48, 2), (1536, 48, 2),
                         (384, 48, 24), (96, 128, 4), (384, 128, 24), (24, 384, 24),
                         (96, 768, 24), (24, 1536, 2), (96, 1536, 4), (48, 96, 1),
                         (768, 96, 1), (192, 384, 1), (768, 192, 12), (96, 2560, 16)],
                budget_s=0.02, module_budget_s=0.03, max_config_s=0.2, rounds=1,
                step_hidden=[128, 384, 768, 1536, 2560], step_batches=[1, 16, 128],
                step_budget_s=0.02, max_step_s=0.1),
    "quick": dict(peak=384, copy_bytes=16 << 20, square=[32, 128, 384],
                  linear=[(48, 96)], hidden=[48, 192], batches=[1, 32],
                  pointwise=[1 << 10, 1 << 16, 1 << 20], elementwise=[1 << 10, 1 << 16],
                  adam=[10 ** 3, 10 ** 5],
                  modules=[(24, 48, 2), (96, 48, 2), (24, 96, 4)],
                  budget_s=0.02, module_budget_s=0.05, max_config_s=0.05, rounds=1,
                  step_hidden=[48], step_batches=[2], step_budget_s=0.02, max_step_s=0.05),
}
ELEMENTWISE_OPS = ("tanh", "sigmoid", "relu", "dropout", "softmax_dropout")  # elementwise kind
# the records' pointwise kernel kinds and the benchmarks whose rate each one runs at (the
# attention "softmax" kernel counts softmax + dropout: the math path in training mode)
POINTWISE_KINDS = {"activation": ("tanh", "sigmoid", "relu"), "dropout": ("dropout",),
                   "softmax": ("softmax_dropout",)}
REDUCTION_OPS = ("layer_norm",)  # the records' "reduction" kernels (norms)


def micro_benchmarks(device: Device, plan: dict, progress) -> list[dict]:
    """Every micro-benchmark of the plan, as rows (see :mod:`.bench`)."""
    rows, budget = [], plan["budget_s"]
    quiet = (lambda: wait_quiet(QUIET_WAIT_S)) if plan["rounds"] > 1 else (lambda: None)
    dtypes = ["fp32", "bf16"] if device.kind == "cpu" else ["fp32", "fp16", "bf16"]
    for dtype in dtypes:
        quiet()
        progress(f"peak matmul {dtype} {plan['peak']}^3")
        rows.append({**bench.matmul(device, dtype, *(plan["peak"],) * 3, budget_s=budget * 4),
                     "bench": "peak"})
    quiet()
    progress("copy bandwidth, op latency")
    rows.append(bench.copy(device, plan["copy_bytes"], budget_s=budget * 2))
    rows.append(bench.op_latency(device))
    shapes = [(s, s, s, False) for s in plan["square"]]
    shapes += [(t, 4 * d, d, False) for t, d in plan["linear"]]
    steps = bench.step_shapes(plan["hidden"], plan["batches"])
    quiet()
    progress(f"{len(shapes)} GEMMs, {len(steps)} step GEMMs")
    rows += [{**bench.matmul(device, "fp32", m, n, k, budget, fixed), "kind": "gemm"}
             for m, n, k, fixed in shapes]
    rows += [bench.step_gemm(device, m, n, k, budget) for m, n, k in steps]
    quiet()
    progress("pointwise and Adam")
    rows += [bench.pointwise(device, "fp32", e, "mul", budget) for e in plan["pointwise"]]
    rows += [bench.elementwise(device, op, e, budget) for e in plan["elementwise"]
             for op in ELEMENTWISE_OPS + REDUCTION_OPS]
    rows += [bench.adam_update(device, p, budget) for p in plan["adam"]]
    rows += [bench.weight_copy(device, h, budget) for h in plan["hidden"]]
    return rows + informational(device, plan)


def informational(device: Device, plan: dict) -> list[dict]:
    """Recorded for comparison, not fitted: a Python LSTMCell loop against nn.LSTM's
    per-step time, SDPA math vs the fused kernel, the FFN."""
    from .modules import lstm_cell_loop

    n, d, batch = plan["modules"][1]
    budget = plan["budget_s"]
    loop = lstm_cell_loop(device, n, d, batch, budget_s=budget)
    fused = "flash" if device.kind == "cpu" else "efficient"
    return [{"bench": "lstm_cell_loop", "n": n, "d": d, "batch": batch,
             "time_s": loop.median_s, "per_step_s": loop.median_s / n},
            bench.sdpa(device, "math", batch, 1, 4 * n, d, budget),
            bench.sdpa(device, fused, batch, 1, 4 * n, d, budget),
            bench.ffn(device, batch * n, d, budget)]


def _split(mm: list[dict], peak: float, ridge: float, busy) -> dict:
    """Compute-efficiency points of GEMMs above the ridge, memory-efficiency points below."""
    bandwidth = peak / ridge
    return {"compute": [(r["flops"], r["flops"] / (peak * busy(r)))
                        for r in mm if r["flops"] / r["bytes"] >= ridge],
            "memory": [(r["bytes"], r["bytes"] / (bandwidth * busy(r)))
                       for r in mm if r["flops"] / r["bytes"] < ridge]}


def _step_points(matmuls: list[dict], bandwidth: float, busy) -> dict:
    """``memory.rnn_step.m<m>`` points per batch size m of the step GEMMs: bytes per second
    over the step's size. A skinny GEMM's speed depends on m as much as on where W_hh sits
    (at m = 1 BLAS runs a matrix-vector product, 2x faster per byte than m = 2)."""
    steps = [r for r in matmuls if r.get("kind") == STEP_KIND]
    return {f"memory.{STEP_KIND}.m{m}": [(r["bytes"], r["bytes"] / (bandwidth * busy(r)))
                                        for r in steps if r["m"] == m]
            for m in sorted({r["m"] for r in steps})}


def fit_micro(rows: list[dict], device: Device) -> tuple[dict, float, dict]:
    """(peaks by dtype, bandwidth, the [efficiency] table without family terms).

    Curves: ``gemm`` (square and Linear shapes), ``rnn_gemm`` (the hoisted input projection:
    Linear shapes), ``rnn_step`` (the skinny step GEMMs with a fixed W_hh, so that L2, L3 or
    main-memory residency of the weights shows in the curve), ``compute.elementwise`` (record
    FLOPs per second of activations, dropout with its random mask, softmax + dropout), one
    compute curve per pointwise kind the records name (``activation``, ``dropout``,
    ``softmax``: :data:`POINTWISE_KINDS`), ``memory.elementwise`` (a streaming ``mul``),
    ``reduction`` (layer norm), ``optimizer`` (Adam), ``memory.weight_copy`` (weights copied,
    transposed, into fresh memory: oneDNN's per-call re-layout)."""
    peaks = {r["dtype"]: r["flops"] / r["time_s"] for r in rows if r["bench"] == "peak"}
    copy = next(r for r in rows if r["bench"] == "copy")
    bandwidth = copy["bytes"] / copy["time_s"]
    latency = next(r for r in rows if r["bench"] == "op_latency")["time_s"]
    ridge = peaks["fp32"] / bandwidth  # FLOPs per byte where compute and memory time meet
    busy = lambda r: max(r["time_s"] - latency, latency * 0.1)
    matmuls = [r for r in rows if r["bench"] == "matmul"]
    gemm = _split([r for r in matmuls if r.get("kind") == "gemm"], peaks["fp32"], ridge, busy)
    step = _split([r for r in matmuls if r.get("kind") == "rnn_step"], peaks["fp32"], ridge,
                  busy)
    points = {"compute.gemm": gemm["compute"], "memory.gemm": gemm["memory"] or step["memory"],
              "compute.rnn_gemm": gemm["compute"], "memory.rnn_gemm": step["memory"],
              "compute.rnn_step": step["compute"], "memory.rnn_step": step["memory"],
              **_step_points(matmuls, bandwidth, busy)}
    stream = [(r["bytes"], r["bytes"] / (bandwidth * busy(r)))
              for r in rows if r["bench"] == "pointwise"]
    ops = lambda names: [(r["flops"], r["flops"] / (peaks["fp32"] * busy(r)))
                         for r in rows if r["bench"] == "elementwise" and r["op"] in names]
    points.update({"memory.elementwise": stream, "memory.reduction": stream,
                   "compute.elementwise": ops(ELEMENTWISE_OPS),
                   "compute.reduction": ops(REDUCTION_OPS),
                   **{f"compute.{kind}": ops(names) for kind, names in POINTWISE_KINDS.items()},
                   "memory.weight_copy": [(r["bytes"], r["bytes"] / (bandwidth * busy(r)))
                                          for r in rows if r["bench"] == "weight_copy"],
                   "memory.optimizer": [(adam_bytes(r["params"]),
                                         adam_bytes(r["params"]) / (bandwidth * busy(r)))
                                        for r in rows if r["bench"] == "adam"]})
    curves = {k: c for k, c in ((k, _curve(v)) for k, v in points.items()) if c}
    table = {"latency_mode": "add" if device.kind == "cpu" else "max",
             "kernel_latency_s": latency, "tile_m": 0, "tile_n": 0,
             "l2_usable_fraction": 0.0, "l2_bandwidth_ratio": 1.0,
             "compute_flops": curves["compute.gemm"]["x"],
             "compute_efficiency": curves["compute.gemm"]["efficiency"],
             "memory_bytes": curves["memory.elementwise"]["x"],
             "memory_efficiency": curves["memory.elementwise"]["efficiency"],
             "curves": curves}
    return peaks, bandwidth, table


def adam_bytes(params: int, dtype_bytes: int = 4) -> float:
    """Bytes the roofline's optimizer kernel moves for Adam (see costmodel.roofline)."""
    from costmodel import conventions as C

    return params * (C.OPTIMIZER_BASE_TENSORS_MOVED + 2 * C.OPTIMIZER_STATES["adam"]) * dtype_bytes


# CUDA compute capability -> the catalogue's generation names (costmodel.hardware.ARCHITECTURES),
# per NVIDIA's CUDA C++ Programming Guide, "Compute Capabilities" (e.g. 8.0 A100, 8.6 A10/A40,
# 8.9 L4/L40, 9.0 H100/H200, 10.0 B200); an unlisted one leaves the profile without an architecture
CAPABILITIES = {(5, 0): "maxwell", (5, 2): "maxwell", (6, 0): "pascal", (6, 1): "pascal",
                (7, 0): "volta", (7, 5): "turing", (8, 0): "ampere", (8, 6): "ampere",
                (8, 9): "ada", (9, 0): "hopper", (10, 0): "blackwell"}


def architecture_of(device: Device) -> str:
    """The GPU generation of a CUDA device from its compute capability, "" when unknown."""
    torch = require_torch()
    return CAPABILITIES.get(tuple(torch.cuda.get_device_capability()), "")


def metadata(device: Device, plan_name: str, rows: list[dict]) -> dict:
    torch = require_torch()
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["bench"]] = counts.get(r["bench"], 0) + 1
    meta = {"device": device.name, "kind": device.kind, "threads": device.threads,
            "torch": torch.__version__, "python": platform.python_version(),
            "date": dt.date.today().isoformat(), "plan": plan_name,
            "benchmarks": [f"{k}: {v}" for k, v in counts.items()],
            "baseline": "Efficiency.ideal() at this profile's measured peaks" if
            device.kind == "cpu" else "the catalogue's datasheet entry for this GPU"}
    if device.kind == "cuda":
        meta["cuda"] = str(torch.version.cuda)
        meta["cudnn"] = str(torch.backends.cudnn.version())
        meta["allow_tf32"] = bool(torch.backends.cuda.matmul.allow_tf32)
        meta["cudnn_allow_tf32"] = bool(torch.backends.cudnn.allow_tf32)
    if device.note:
        meta["note"] = device.note
    return meta


def calibrate(device: Device, quick: bool = False, progress=lambda msg: None,
              inference: bool = True):
    """(profile dict, raw benchmark rows). The profile is a user hardware TOML document.
    ``inference``: also time modules and whole steps in inference (``eval()`` under
    ``inference_mode``, what users time) and fit the ``"<family>.inference"`` terms that
    ``predict(mode="inference")`` uses (:meth:`Efficiency.for_inference`); without, the
    profile's inference predictions use its train-mode forward terms."""
    from costmodel.roofline import Efficiency

    from .fit import fit_families, fit_steps, hardware_from_profile

    plan_name = "quick" if quick else ("gpu" if device.kind == "cuda" else "full")
    plan = PLANS[plan_name]
    rows = micro_benchmarks(device, plan, progress)
    peaks, bandwidth, table = fit_micro(rows, device)
    label = f"{device.name} ({device.kind}, {device.threads} thread"
    profile = {"name": label + ("s)" if device.threads > 1 else ")"),
               "vendor": device.name.split()[0] if device.name else "unknown",
               "notes": "Calibrated profile written by `costmodel calibrate`; peaks and "
                        "bandwidth are measured, not datasheet figures.",
               "hbm_bytes_per_s": bandwidth,
               **({"l2_bytes": bench.cache_bytes()} if device.kind == "cpu" and
                  bench.cache_bytes() else {}),  # the CPU's last-level cache (informational)
               "peak_flops_per_s": {k: float(v) for k, v in peaks.items()},
               "efficiency": table}
    hw = hardware_from_profile(profile)
    modes = MODES + ((INFERENCE,) if inference else ())
    steps = measure_steps(device, plan, hw, Efficiency.from_table(table), progress, modes)
    table["curves"].update(fit_steps(steps, hw, table))
    hw = hardware_from_profile(profile)
    modules = measure_modules(device, module_configs(plan, modes=modes), hw,
                              Efficiency.from_table(table), plan, progress)
    table.update(fit_families(modules, hw, table))
    table["source"] = f"costmodel calibrate ({plan_name}) on {device.name}"
    host = []
    if device.kind == "cuda":  # the host's cost to issue cuDNN's kernels (host_issue)
        architecture = architecture_of(device)
        if architecture:  # which cuDNN regime PyTorch picks: how many kernels are issued
            profile["architecture"] = architecture
            hw = hardware_from_profile(profile)
        progress("host issue: fp32 LSTM calls at 3 lengths")
        host = host_probe(device, plan["budget_s"])
        profile["host"] = host_issue.fit(host_issue.probe_points(host, hw),
                                         f"costmodel calibrate on {device.name}").as_table()
    profile["calibration"] = {**metadata(device, plan_name, rows + steps + modules + host),
                              "modes": list(modes)}
    return profile, rows + steps + modules + host
