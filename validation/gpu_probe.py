"""What cuDNN and PyTorch's SDPA really run on a GPU, and how long each call takes: the
measurements a session with a lent GPU collects for the time model (issue 10, item 6).

The time model's recurrences on Ampere/Hopper rest on DeepBench's Volta rows (cuDNN 7.6) and
on PyTorch PR #62143's cuDNN 8 timings on an unnamed GPU (docs/compare.md, "Known bias").
This probe times, with CUDA events, what a user runs today (``nn.RNN``/``nn.LSTM``/``nn.GRU``
and ``nn.TransformerEncoderLayer`` at PyTorch's defaults, TF32 flags as found), over grids
chosen to separate the model's terms: DeepBench's single-layer shapes (step floor, per-batch
tiles), a length sweep (call cost vs per-step cost), a depth sweep (the wavefront: one floor
per diagonal step or one per layer and step), bidirectional layers, the headline shape; and
the kernels each call launched (``torch.profiler``: the persistent vs the per-step GEMM
regime, which SDPA kernel). Every row carries costmodel's prediction for the same
configuration on the named catalogue GPU, so the first look needs no other tool.

Run by ``tools/gpu_session.sh`` (docs/validation.md says how); ``--device cpu --quick`` is the
CI smoke test of the harness, not a measurement.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from dataclasses import dataclass

from costmodel.implementations import host_issue

from . import require_torch
from .bench import torch_dtype
from .gpu_launch import host_ms, launch_costs
from .timing import measure, open_device

CELLS = ("rnn_relu", "lstm", "gru")  # DeepBench's vanilla cell is CUDNN_RNN_RELU
DTYPES = ("fp32", "fp16")
TOP_KERNELS = 8  # kernels kept per profiled call, by total CUDA time
BUDGET_S = 0.05  # timing budget per configuration and mode (CUDA events, median)


@dataclass(frozen=True)
class RnnCase:
    grid: str  # which question the row answers (single, length, depth, bidir, headline)
    cell: str
    hidden: int
    batch: int
    steps: int
    layers: int = 1
    bidirectional: bool = False
    dtype: str = "fp32"


def rnn_cases(quick: bool) -> list[RnnCase]:
    """The grids; ``quick`` keeps one tiny case of each (the CPU smoke test)."""
    if quick:
        return [RnnCase("single", "lstm", 16, 2, 3), RnnCase("depth", "gru", 16, 2, 3, 2),
                RnnCase("bidir", "rnn_relu", 16, 2, 3, 1, True)]
    # most informative first (a lease may end before the last rows): the headline shape, the
    # length sweep (call cost vs step cost), the depth sweep (one floor per layer or per
    # diagonal), DeepBench's single-layer shapes in fp32 then fp16, bidirectional, bf16
    cases = [RnnCase("headline", c, 768, 1, 512, dtype=t)
             for c, t in itertools.product(CELLS, ("fp32", "fp16", "bf16"))]
    cases += [RnnCase("length", "lstm", 1024, 32, s, dtype=t)
              for s, t in itertools.product((1, 2, 10, 100, 400), DTYPES)]
    # calibrate's host probe (host_issue.PROBE: GPU work per step far below the host's) and
    # the same at batch 32 and as a GRU: does one host cost per issued kernel hold across
    # cuBLAS paths (gemv at batch 1, GEMM at 32) and cells?
    probe = host_issue.PROBE
    cases += [RnnCase("host", c, probe["hidden"], b, s, dtype=probe["dtype"])
              for c, b, s in itertools.product(("lstm", "gru"), (probe["batch"], 32),
                                               probe["lengths"])]
    cases += [RnnCase("depth", c, h, 64, 100, layers)
              for c, h, layers in itertools.product(("lstm", "gru"), (512, 1024), (1, 2, 3, 4))]
    for t in DTYPES:
        cases += [RnnCase("single", c, h, b, 50, dtype=t) for c, h, b in itertools.product(
            CELLS, (256, 512, 1024, 2048), (1, 8, 32, 64, 128))]
    cases += [RnnCase("bidir", c, 512, 64, 100, layers, True)
              for c, layers in itertools.product(CELLS, (1, 2))]
    cases += [RnnCase("single", c, h, b, 50, dtype="bf16") for c, h, b in itertools.product(
        CELLS, (256, 512, 1024, 2048), (1, 8, 32, 64, 128))]
    # the same cells at 4x the length: the per-step slope apart from the per-call cost
    cases += [RnnCase("single200", c, h, b, 200, dtype=t) for c, h, b, t in itertools.product(
        CELLS, (256, 1024), (1, 64), DTYPES)]
    return cases


def _module(case: RnnCase, torch):
    cls = {"rnn_relu": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[case.cell]
    extra = {"nonlinearity": "relu"} if case.cell == "rnn_relu" else {}
    return cls(case.hidden, case.hidden, case.layers, bidirectional=case.bidirectional,
               **extra)


def kernels_of(fn, x, torch) -> list[dict]:
    """The device kernels one call of ``fn(x)`` launched: name, count, total microseconds."""
    return profile_call(fn, x, torch)[0]


def profile_call(fn, x, torch) -> tuple[list[dict], list[dict]]:
    """(device kernels, host side) of one call of ``fn(x)``: the kernels as
    :func:`kernels_of` gives them; the host side as the CUDA runtime / driver calls the host
    made (``cudaLaunchKernel``, ``cuLaunchKernelEx``, ...: name, count, total CPU
    microseconds) and the ATen ops' CPU time (``aten::_cudnn_rnn`` and the like): what a
    host-issue term of the time model would be built from (docs/validation.md, "GPU,
    measured: one named H200")."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        fn(x)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
    kernels, host = [], []
    for event in prof.key_averages():
        device_us = getattr(event, "device_time_total", 0.0) or getattr(
            event, "cuda_time_total", 0.0)
        if device_us > 0 and not event.key.startswith(("aten::", "cuda", "Memcpy", "Memset")):
            kernels.append({"name": event.key, "count": int(event.count),
                            "total_us": round(float(device_us), 3)})
        elif event.key.startswith(("cuda", "cu", "aten::_cudnn", "aten::lstm", "aten::gru",
                                   "aten::rnn", "autograd::engine")):
            host.append({"name": event.key, "count": int(event.count),
                         "cpu_us": round(float(event.cpu_time_total), 3)})
    return (sorted(kernels, key=lambda r: -r["total_us"])[:TOP_KERNELS],
            sorted(host, key=lambda r: -r["cpu_us"])[:2 * TOP_KERNELS])


def time_rnn(case: RnnCase, device, torch) -> dict:
    """Inference (eval + inference_mode), training forward and forward + backward."""
    dev, dtype = device.torch_device, torch_dtype(case.dtype)
    module = _module(case, torch).to(dev, dtype)
    make = lambda: torch.randn(case.steps, case.batch, case.hidden, device=dev, dtype=dtype)
    inputs = [make() for _ in range(3)]

    def infer(x):
        with torch.inference_mode():
            return module(x)

    def forward(x):
        return module(x)

    def train(x):
        out, _ = module(x)
        out.float().sum().backward()

    row = {"grid": case.grid, "cell": case.cell, "hidden": case.hidden, "input": case.hidden,
           "batch": case.batch, "timesteps": case.steps, "layers": case.layers,
           "bidirectional": case.bidirectional, "dtype": case.dtype}
    module.eval()
    row["inference_ms"] = measure(infer, inputs, device, budget_s=BUDGET_S).median_s * 1e3
    row["inference_host_ms"] = host_ms(infer, inputs, device)
    row["kernels_inference"], row["host_inference"] = profile_call(infer, inputs[0], torch)
    module.train()
    row["forward_ms"] = measure(forward, inputs, device, budget_s=BUDGET_S).median_s * 1e3
    row["forward_backward_ms"] = measure(train, inputs, device, budget_s=BUDGET_S).median_s * 1e3
    row["kernels_training"], row["host_training"] = profile_call(train, inputs[0], torch)
    return row


def time_attention(device, torch, quick: bool) -> list[dict]:
    """Which SDPA kernel nn.TransformerEncoderLayer runs, per mode and dtype, and its time."""
    shapes = [(64, 16, 2, 1)] if quick else [
        (768, 128, 8, 12), (768, 512, 8, 12), (768, 2048, 2, 12), (1024, 4096, 1, 16)]
    dtypes = ("fp32",) if quick else ("fp32", "fp16", "bf16")
    rows = []
    for (d, n, batch, heads), name in itertools.product(shapes, dtypes):
        dev, dtype = device.torch_device, torch_dtype(name)
        layer = torch.nn.TransformerEncoderLayer(d, heads, 4 * d, batch_first=True).to(dev, dtype)
        inputs = [torch.randn(batch, n, d, device=dev, dtype=dtype) for _ in range(3)]

        row = {"d": d, "n": n, "batch": batch, "heads": heads, "dtype": name}
        rows.append({**row, **_time_layer(layer, inputs, device, torch)})
    return rows


def _time_layer(layer, inputs, device, torch) -> dict:
    def infer(x):
        with torch.inference_mode():
            return layer(x)

    def train(x):
        layer(x).float().sum().backward()

    layer.eval()
    row = {"inference_ms": measure(infer, inputs, device, budget_s=BUDGET_S).median_s * 1e3,
           "kernels_inference": kernels_of(infer, inputs[0], torch)}
    layer.train()
    row["forward_backward_ms"] = measure(train, inputs, device, budget_s=BUDGET_S).median_s * 1e3
    row["kernels_training"], row["host_training"] = profile_call(train, inputs[0], torch)
    return row


def predicted(row: dict, gpu: str) -> dict:
    """costmodel's inference and training-step seconds (no optimizer) for an RNN row."""
    from costmodel.reference.h200_rnn import phase_seconds, record_of

    record = record_of(row["cell"], row["hidden"], row["layers"], row["bidirectional"],
                       row["input"])
    at = {"n": row["timesteps"], "batch": row["batch"], "dtype": row["dtype"]}
    return {"inference_ms": phase_seconds(record, gpu, "inference", **at) * 1e3,
            "forward_backward_ms": phase_seconds(record, gpu, "forward+backward", **at) * 1e3}


def environment(device, torch) -> dict:
    env = {"device": device.name, "kind": device.kind, "torch": torch.__version__,
           "python": platform.python_version(), "when_utc": time.strftime(
               "%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if device.kind == "cuda":
        props = torch.cuda.get_device_properties(0)
        env.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                   sm_count=props.multi_processor_count, memory_bytes=props.total_memory,
                   cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
                   matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
                   sdp_flash=torch.backends.cuda.flash_sdp_enabled(),
                   sdp_mem_efficient=torch.backends.cuda.mem_efficient_sdp_enabled(),
                   sdp_cudnn=torch.backends.cuda.cudnn_sdp_enabled())
    return env


def run(kind: str, gpu: str | None, quick: bool, max_s: float, ops_max_s: float = 0.0,
        log=print, grids: tuple[str, ...] | None = None, attention: bool = True) -> dict:
    """Every grid in order until ``max_s`` seconds have passed (the rows not reached are
    counted in ``skipped``: a lease ends, the rows taken so far are kept); on CUDA, then
    NeuSight's per-op shapes for ``ops_max_s`` seconds (:mod:`.gpu_ops`)."""
    torch = require_torch()
    torch.manual_seed(0)
    device = open_device(kind)
    result = {"what": __doc__.split("\n\n")[0], "environment": environment(device, torch),
              "compared_with": gpu, "rnn": [], "attention": [], "skipped": 0}
    start = time.perf_counter()
    result["launch"] = launch_costs(device, torch, 200 if quick else 2000)
    log(f"launch: {result['launch']}")
    if attention:
        result["attention"] = time_attention(device, torch, quick)
    for case in rnn_cases(quick):
        if grids and case.grid not in grids:
            continue
        if time.perf_counter() - start > max_s:
            result["skipped"] += 1
            continue
        row = time_rnn(case, device, torch)
        if gpu:
            row["predicted"] = predicted(row, gpu)
        result["rnn"].append(row)
        log(summary_line(row))
    result["seconds"] = round(time.perf_counter() - start, 1)
    if device.kind == "cuda" and ops_max_s > 0:
        from .gpu_ops import time_ops

        result["ops"] = time_ops(torch, ops_max_s, quick, log)
    return result


def summary_line(row: dict) -> str:
    text = (f"{row['grid']:8s} {row['cell']:8s} H={row['hidden']:<5d} N={row['batch']:<4d} "
            f"T={row['timesteps']:<4d} L={row['layers']} bi={int(row['bidirectional'])} "
            f"{row['dtype']}: infer {row['inference_ms']:.3f} ms, fwd+bwd "
            f"{row['forward_backward_ms']:.3f} ms")
    if "predicted" in row:
        p = row["predicted"]
        text += (f" | predicted {p['inference_ms']:.3f} / {p['forward_backward_ms']:.3f} ms "
                 f"(x{p['inference_ms'] / max(row['inference_ms'], 1e-9):.2f})")
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--gpu", help="catalogue GPU to predict the same rows on (e.g. h200)")
    parser.add_argument("--quick", action="store_true", help="one tiny case per grid (CI)")
    parser.add_argument("--max-s", type=float, default=240.0,
                        help="stop starting new rows after this many seconds")
    parser.add_argument("--grids", default="",
                        help="only these RNN grids (comma-separated; default: all)")
    parser.add_argument("--no-attention", action="store_true", help="skip the SDPA layers")
    parser.add_argument("--ops-max-s", type=float, default=60.0,
                        help="seconds for NeuSight's per-op shapes (CUDA only; 0: none)")
    parser.add_argument("-o", "--output", required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    grids = tuple(g for g in args.grids.split(",") if g) or None
    result = run(args.device, args.gpu, args.quick, args.max_s, args.ops_max_s, grids=grids,
                 attention=not args.no_attention)
    from costmodel.files import write_atomic

    write_atomic(args.output, json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
