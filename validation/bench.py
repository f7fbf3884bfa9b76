"""Micro-benchmarks: achievable matmul peak per dtype, copy bandwidth, near-empty op latency,
matmul efficiency over sizes (square and the skinny batch x h by h x gates*h step GEMMs) and
pointwise throughput over sizes. Each returns plain dicts (SI units) for calibration."""

from __future__ import annotations

from costmodel.conventions import DTYPE_BYTES, FLOPS_PER_MAC

from . import require_torch
from .timing import Device, measure, random_inputs, settle_allocator

DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def torch_dtype(dtype: str):
    return getattr(require_torch(), DTYPES[dtype])


def _randn(device: Device, dtype: str, *shape):
    torch = require_torch()
    return lambda: torch.randn(*shape, device=device.torch_device, dtype=torch_dtype(dtype))


def matmul(device: Device, dtype: str, m: int, n: int, k: int, budget_s: float = 0.3,
           fixed_weights: bool = False) -> dict:
    """One GEMM ``a: [m, k] @ b: [k, n] -> [m, n]`` with rotated random operands; with
    ``fixed_weights`` only ``a`` rotates, as a recurrence re-reads the same W_hh every step."""
    torch = require_torch()
    weights = _randn(device, dtype, k, n)()
    b = (lambda: weights) if fixed_weights else _randn(device, dtype, k, n)
    pairs = random_inputs(lambda: (_randn(device, dtype, m, k)(), b()))
    out = torch.empty(m, n, device=device.torch_device, dtype=torch_dtype(dtype))
    t = measure(lambda ab: torch.mm(ab[0], ab[1], out=out), pairs, device, budget_s=budget_s)
    s = DTYPE_BYTES[dtype]
    return {"bench": "matmul", "dtype": dtype, "m": m, "n": n, "k": k,
            "flops": FLOPS_PER_MAC * m * n * k, "bytes": (m * k + k * n + m * n) * s,
            "fixed_weights": fixed_weights, "time_s": t.median_s,
            "spread_s": t.p90_s - t.p10_s}


def step_gemm(device: Device, m: int, n: int, k: int, budget_s: float = 0.3) -> dict:
    """A recurrent step as PyTorch's RNN/GRU cell graph runs it: ``addmm(b_hh, h, W_hh.t())``
    with ``h: [m, k]`` rotated and ``W_hh: [n, k]`` held fixed (re-read every step, so its
    L2/L3/DRAM residency shows); at m = 1 BLAS runs it as a matrix-vector product."""
    torch = require_torch()
    weights, bias = _randn(device, "fp32", n, k)(), _randn(device, "fp32", n)()
    hs = random_inputs(_randn(device, "fp32", m, k))
    t = measure(lambda h: torch.addmm(bias, h, weights.t()), hs, device, budget_s=budget_s)
    return {"bench": "matmul", "kind": "rnn_step", "dtype": "fp32", "m": m, "n": n, "k": k,
            "flops": FLOPS_PER_MAC * m * n * k,
            "bytes": (m * k + k * n + m * n) * DTYPE_BYTES["fp32"],
            "fixed_weights": True, "time_s": t.median_s, "spread_s": t.p90_s - t.p10_s}


def copy(device: Device, nbytes: int, budget_s: float = 0.3) -> dict:
    """``dst.copy_(src)`` of ``nbytes``: reads and writes it, so 2 * nbytes move."""
    torch = require_torch()
    elements = max(1, nbytes // 4)
    sources = random_inputs(_randn(device, "fp32", elements), count=2)
    dst = torch.empty(elements, device=device.torch_device)
    t = measure(lambda src: dst.copy_(src), sources, device, budget_s=budget_s)
    return {"bench": "copy", "bytes": 2 * elements * 4, "time_s": t.median_s,
            "spread_s": t.p90_s - t.p10_s}


def pointwise(device: Device, dtype: str, elements: int, op: str = "tanh",
              budget_s: float = 0.2) -> dict:
    """``torch.tanh(x, out=y)`` or ``torch.mul(x, 2, out=y)``: one read, one write per element
    (a cell's gate arithmetic: transcendental and plain)."""
    torch = require_torch()
    xs = random_inputs(_randn(device, dtype, elements), count=2)
    out = torch.empty(elements, device=device.torch_device, dtype=torch_dtype(dtype))
    run = {"tanh": lambda x: torch.tanh(x, out=out),
           "mul": lambda x: torch.mul(x, 2.0, out=out)}[op]
    t = measure(run, xs, device, budget_s=budget_s)
    return {"bench": "pointwise", "dtype": dtype, "elements": elements, "op": op,
            "bytes": 2 * elements * DTYPE_BYTES[dtype], "time_s": t.median_s}


def _flops_per_element() -> dict:
    """FLOPs the cost records count per element for each pointwise benchmark (forward),
    from costmodel.conventions, so a fitted efficiency converts record FLOPs to time."""
    from costmodel import conventions as C

    act = C.NONLINEARITY_FLOPS
    return {"tanh": act["tanh"], "sigmoid": act["sigmoid"], "relu": act["relu"],
            "dropout": C.DROPOUT_FLOPS, "softmax_dropout": C.SOFTMAX_FLOPS + C.DROPOUT_FLOPS,
            "layer_norm": C.LAYERNORM_FLOPS}


def elementwise(device: Device, op: str, elements: int, budget_s: float = 0.2,
                row: int = 256) -> dict:
    """A pointwise op as the records' kernels run it on ``elements`` fp32 values: an
    activation (``tanh``, ``sigmoid``, ``relu``), training-mode ``dropout`` (a fresh random
    mask per call), ``softmax_dropout`` (softmax over rows of ``row``, then dropout: the math
    attention path's probabilities) or ``layer_norm`` over rows of ``row``. ``flops`` is what
    the records count, so ``flops / time`` is the rate a record's pointwise FLOP runs at."""
    torch = require_torch()
    F = torch.nn.functional
    rows = max(1, elements // row)
    xs = random_inputs(_randn(device, "fp32", rows, row), count=2)
    p = 0.1  # torch.nn.TransformerEncoderLayer's default dropout
    run = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
           "dropout": lambda x: F.dropout(x, p, training=True),
           "softmax_dropout": lambda x: F.dropout(torch.softmax(x, -1), p, training=True),
           "layer_norm": lambda x: F.layer_norm(x, (row,))}[op]
    t = measure(run, xs, device, budget_s=budget_s)
    n = rows * row
    return {"bench": "elementwise", "op": op, "elements": n,
            "flops": n * _flops_per_element()[op], "bytes": 2 * n * 4, "time_s": t.median_s}


def weight_copy(device: Device, hidden: int, budget_s: float = 0.2) -> dict:
    """oneDNN's LSTM re-lays out W_ih and W_hh (each ``[4H, H]``) into new buffers on every
    call: two transposing copies into freshly allocated memory, freed before the next call.
    With the allocator in a long-running process's state (one large free first), copies up
    to ~30 MiB reuse heap memory; larger ones get new pages, each 4 KiB page faulting on
    first write (~2 us on this KVM guest). The same rate stands for a training step's new
    gradient buffers (fresh memory written once)."""
    require_torch()
    if device.kind == "cpu":
        settle_allocator()
    weights = [_randn(device, "fp32", 4 * hidden, hidden)() for _ in range(2)]
    t = measure(lambda _: [w.t().contiguous() for w in weights], [None], device,
                budget_s=budget_s)
    return {"bench": "weight_copy", "hidden": hidden,
            "bytes": sum(w.numel() for w in weights) * 4, "time_s": t.median_s}


def op_latency(device: Device) -> dict:
    """A near-empty op (an in-place add on one element): dispatch plus launch cost."""
    require_torch()
    xs = random_inputs(_randn(device, "fp32", 1), count=2)
    t = measure(lambda x: x.add_(1.0), xs, device, budget_s=0.2, max_repeats=2000)
    return {"bench": "op_latency", "time_s": t.median_s}


def adam_update(device: Device, params: int, budget_s: float = 0.3) -> dict:
    """One ``torch.optim.Adam`` step over ``params`` parameters (in a few tensors, gradients
    set): the optimizer pass of a training step."""
    torch = require_torch()
    pieces = [params // 2, params // 4, params - params // 2 - params // 4]
    tensors = [torch.nn.Parameter(torch.randn(max(1, p), device=device.torch_device))
               for p in pieces]
    for t in tensors:
        t.grad = torch.randn_like(t)
    optimizer = torch.optim.Adam(tensors)
    optimizer.step()  # creates the moment buffers
    t = measure(lambda _: optimizer.step(), [None], device, budget_s=budget_s)
    return {"bench": "adam", "params": params, "time_s": t.median_s}


def cache_bytes() -> int:
    """The last-level cache of this CPU in bytes (sysfs), 0 when unknown."""
    import glob

    best = (0, 0)
    for folder in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*"):
        try:
            with open(f"{folder}/level") as level, open(f"{folder}/size") as size:
                text = size.read().strip().upper()
                scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
                best = max(best, (int(level.read()), int(text.rstrip("KMG")) * scale))
        except (OSError, ValueError):
            continue
    return best[1]


def step_shapes(hidden: list[int], batches: list[int], gates=(1, 3, 4)) -> list[tuple]:
    """Skinny recurrent step GEMMs ``h: [batch, H] @ W_hh^T: [H, gates*H]`` as (m, n, k)."""
    return [(b, g * h, h) for h in hidden for b in batches for g in gates]


def square_shapes(sizes: list[int]) -> list[tuple]:
    return [(s, s, s) for s in sizes]


def sdpa(device: Device, backend: str, batch: int, heads: int, n: int, head_dim: int,
         budget_s: float = 0.2) -> dict:
    """``scaled_dot_product_attention`` forced to the ``math`` or the fused kernel
    (``flash`` on the CPU and for fp16/bf16 on CUDA, ``efficient`` otherwise)."""
    torch = require_torch()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    chosen = {"math": SDPBackend.MATH, "flash": SDPBackend.FLASH_ATTENTION,
              "efficient": SDPBackend.EFFICIENT_ATTENTION}[backend]
    qkv = random_inputs(lambda: tuple(_randn(device, "fp32", batch, heads, n, head_dim)()
                                      for _ in range(3)))

    def run(x):
        with torch.no_grad(), sdpa_kernel([chosen]):
            return torch.nn.functional.scaled_dot_product_attention(*x)
    t = measure(run, qkv, device, budget_s=budget_s)
    # q: [b, h, n, e] @ k^T: [b, h, e, n] -> [b, h, n, n]; then @ v: [b, h, n, e]
    flops = 2 * FLOPS_PER_MAC * batch * heads * n * n * head_dim
    return {"bench": f"sdpa_{backend}", "batch": batch, "heads": heads, "n": n,
            "head_dim": head_dim, "flops": flops, "time_s": t.median_s}


def ffn(device: Device, tokens: int, d: int, budget_s: float = 0.2) -> dict:
    """The Transformer FFN ``Linear(d, 4d) -> ReLU -> Linear(4d, d)`` forward."""
    torch = require_torch()
    ratio = 4  # dim_feedforward = 4 d, as validation.modules.FFN_RATIO
    net = torch.nn.Sequential(torch.nn.Linear(d, ratio * d), torch.nn.ReLU(),
                              torch.nn.Linear(ratio * d, d)).to(device.torch_device)
    xs = random_inputs(_randn(device, "fp32", tokens, d))

    def run(x):
        with torch.no_grad():
            return net(x)
    t = measure(run, xs, device, budget_s=budget_s)
    return {"bench": "ffn", "tokens": tokens, "d": d,
            "flops": 2 * FLOPS_PER_MAC * tokens * d * ratio * d, "time_s": t.median_s}
