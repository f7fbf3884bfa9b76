"""Per-op timings on a lent GPU under NeuSight's own protocol, at NeuSight's own shapes: the
unseen-GPU test of the cuBLAS / pointwise model (issue 10, item 6).

The shapes are every ``STRIDE``-th row of the shipped NeuSight files (GEMMs from the H100's
``linear``/``bmm`` tables, pointwise ops from the A100 40GB's ``vec`` table, the only GPUs
that carry them), keeping rows that NeuSight measured under :data:`MAX_MS` so the grid fits a
lease. The protocol is NeuSight's ``collect.py`` (docs in the shipped files' provenance):
FP32 tensors from ``torch.randn``, PyTorch's TF32 flags as found, ``nn.Linear(N, K)`` with
its bias on ``(B, M, N)``, ``torch.bmm`` of ``(B, M, N)`` by ``(B, N, K)``, ``nn.LayerNorm``,
``nn.Softmax`` over the last dim; 25 single-call CUDA-event timings, each call synchronized,
the mean of the 5 fastest kept. A row records what it timed (op, B, M, N, K or B, H) in the
shipped files' columns, so ``costmodel.reference.neusight`` reads it unchanged.
"""

from __future__ import annotations

import json
import time

from costmodel.reference import published

STRIDE = 4  # every 4th shipped row: ~250 linear, ~400 bmm, ~180 pointwise
MAX_MS = 5.0  # NeuSight's latency on its GPU; longer rows cost lease time and add little
ACTIVE, SAMPLE = 25, 5  # NeuSight collect.py: 25 timed calls, mean of the 5 fastest
WARMUP = 3
#: softmax and LayerNorm rows either side of PyTorch's softmax dispatch limits (fp32; the
#: warp kernel up to 1024 wide before PyTorch 2.7 and 2048 since, cunn_SoftMaxForwardReg while
#: ceil(width / 1024) < 10, the shared-memory kernel while the row fits 48 KiB, else the
#: three-pass kernel: aten/src/ATen/native/cuda/SoftMax.cu, PR #144679): what the shipped
#: NeuSight widths (PyTorch 2.1) cannot say about the current dispatch's kernels
DISPATCH_WIDTHS = (1024, 1056, 2048, 2176, 3072, 4096, 4224, 8192, 9216, 9344, 10240, 12288,
                   16384)
DISPATCH_BATCHES = (8192, 32768)
GEMM_FILES = ("neusight-linear-h100", "neusight-bmm-h100")
VEC_FILE = "neusight-vec-a100-pcie-40gb"


def shapes(quick: bool = False) -> dict[str, list[list]]:
    """{"gemm": [[row, op, B, M, N, K], ...], "vec": [[row, op, B, H], ...], "dispatch":
    [[id, op, B, H], ...]} to time (``dispatch``: :data:`DISPATCH_WIDTHS`, not NeuSight's);
    ``quick``: the smallest shape of each op instead (the CPU smoke test)."""
    out: dict[str, list[list]] = {"gemm": [], "vec": []}
    for kind, names in (("gemm", GEMM_FILES), ("vec", (VEC_FILE,))):
        for name in names:
            (entry,) = published.files(name)
            data = json.loads(entry.read_text())
            cols = data["columns"]
            keep = cols[:cols.index("latency_ms")]
            latency = cols.index("latency_ms")
            rows = [r for r in data["rows"] if r[latency] <= MAX_MS][::STRIDE]
            if quick:
                smallest = {}
                for r in sorted(data["rows"], key=lambda r: r[latency]):
                    smallest.setdefault(r[1], r)
                rows = list(smallest.values())
            out[kind] += [r[:len(keep)] for r in rows]
    widths, batches = (DISPATCH_WIDTHS[:2], (8,)) if quick else (DISPATCH_WIDTHS,
                                                                   DISPATCH_BATCHES)
    out["dispatch"] = [[f"dispatch-{i}", op, b, h] for i, (op, b, h) in enumerate(
        (op, b, h) for op in ("softmax", "ln") for b in batches for h in widths)]
    return out


def _op(kind: str, row: list, dev, torch):
    """(callable, its input) for one shipped row."""
    if kind == "gemm":
        _, op, b, m, n, k = row
        if op == "linear":
            layer = torch.nn.Linear(n, k).to(dev)
            return layer, torch.randn(b, m, n, device=dev)
        right = torch.randn(b, n, k, device=dev)
        return (lambda x: torch.bmm(x, right)), torch.randn(b, m, n, device=dev)
    _, op, b, h = row
    other = torch.randn(b, h, device=dev)
    fns = {"add": lambda x: x + other, "mul": lambda x: x * other,
           "pow": lambda x: torch.pow(x, other), "div": lambda x: x / other,
           "addu": lambda x: x + 2.0, "mulu": lambda x: x * 2.0,
           "powu": lambda x: torch.pow(x, 2.0), "divu": lambda x: x / 2.0,
           "relu": torch.relu, "gelu": torch.nn.functional.gelu, "tanh": torch.tanh,
           "ln": torch.nn.LayerNorm(h).to(dev), "softmax": torch.nn.Softmax(dim=-1)}
    return fns[op], torch.randn(b, h, device=dev)


def neusight_ms(fn, x, torch) -> float:
    """Mean of the 5 fastest of 25 single-call CUDA-event timings (milliseconds); a host
    clock off CUDA (the CPU smoke test of this harness, not a measurement)."""
    cuda = x.is_cuda
    for _ in range(WARMUP):
        fn(x)
    times = []
    for _ in range(ACTIVE):
        if not cuda:
            begin = time.perf_counter()
            fn(x)
            times.append((time.perf_counter() - begin) * 1e3)
            continue
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(x)
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return sum(sorted(times)[:SAMPLE]) / SAMPLE


def time_ops(torch, max_s: float, quick: bool = False, log=print, kind: str = "cuda") -> dict:
    """Every shape until ``max_s`` seconds have passed; rows not reached are counted.
    ``quick``: a few of the smallest shapes of each kind (the CPU smoke test)."""
    grid = shapes(quick)
    dev = torch.device(kind)
    out = {"protocol": __doc__.split("\n\n")[1].replace("\n", " "), "gemm": [], "vec": [],
           "dispatch": [], "skipped": 0, "torch": torch.__version__}
    start = time.perf_counter()
    for family in ("gemm", "vec", "dispatch"):  # grad mode as found, like NeuSight's script
        for row in grid[family]:
            if time.perf_counter() - start > max_s:
                out["skipped"] += 1
                continue
            fn, x = _op("vec" if family == "dispatch" else family, row, dev, torch)
            out[family].append([*row, round(neusight_ms(fn, x, torch), 6)])
            del fn, x
    out["seconds"] = round(time.perf_counter() - start, 1)
    log(f"ops: {len(out['gemm'])} GEMM, {len(out['vec'])} pointwise, {len(out['dispatch'])} "
        f"dispatch rows in {out['seconds']} s, {out['skipped']} skipped")
    return out
