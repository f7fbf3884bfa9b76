"""Timing one callable properly: warm-up, median of repeats, rotated random inputs, the timer's
own cost subtracted; CUDA events on a GPU, a host clock with a stated thread count on the CPU.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

from . import require_torch

WARMUP_CALLS = 2  # first call pays allocation and kernel selection; the second fills caches
MIN_REPEATS = 3  # a median needs at least three samples
MAX_REPEATS = 50
OVERHEAD_SAMPLES = 200  # empty timed calls whose median is the timer's own cost
ROTATE = 3  # distinct random inputs cycled so repeats do not all hit warm caches
NO_CUDA_NOTE = "No CUDA: the CPU path (torch CPU kernels, host clock)."
QUIET_CORES = 0.3  # other processes using more than this many cores: the machine is busy
QUIET_POLL_S = 0.1  # the window over which other processes' CPU use is sampled
# freeing one mmapped block this large (<= glibc's 32 MiB cap on its dynamic mmap threshold)
# raises the allocator's mmap threshold to it and its trim threshold to twice that, the state
# of any process that has run a few large modules: later per-call buffers up to this size are
# reused from the heap instead of faulting in new pages on some calls and not on others
SETTLE_BYTES = 30 << 20


@dataclass(frozen=True)
class Measurement:
    """Seconds per call after subtracting ``overhead_s``; ``p10_s``/``p90_s`` show the spread."""

    median_s: float
    p10_s: float
    p90_s: float
    min_s: float
    repeats: int
    overhead_s: float
    busy_cores: float = 0.0  # CPU used by other processes while this was timed (cores)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Device:
    """Where benchmarks run: ``kind`` is "cpu" or "cuda"; ``threads`` is the CPU thread count."""

    kind: str
    threads: int
    name: str
    note: str = ""

    def sync(self):
        if self.kind == "cuda":
            require_torch().cuda.synchronize()

    @property
    def torch_device(self):
        return require_torch().device(self.kind)


def open_device(kind: str = "auto", threads: int | None = None) -> Device:
    """Pin the CPU thread count (``torch.set_num_threads``) and pick the device. ``auto``
    takes CUDA when available, else the CPU with :data:`NO_CUDA_NOTE`."""
    torch = require_torch()
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads={threads} must be at least 1")
        torch.set_num_threads(threads)
    note = ""
    if kind in ("auto", "cuda") and not torch.cuda.is_available():
        if kind == "cuda":
            raise ValueError("--device cuda: torch sees no CUDA device; use --device cpu")
        kind, note = "cpu", NO_CUDA_NOTE
    elif kind == "auto":
        kind = "cuda"
    if kind == "cuda":
        name = torch.cuda.get_device_name()
    else:
        name = cpu_name()
        settle_allocator()
    return Device(kind, torch.get_num_threads(), name, note)


def typical(round_medians) -> float:
    """The time kept for a configuration timed in several rounds: the median of the round
    medians. Not the lowest: on a shared VM a configuration's speed is bimodal (a 256-wide
    Transformer layer ran at 1.00x in 2 of 15 rounds and 1.27x in the other 13), so the
    lowest of 3 rounds is the lucky mode in some runs and not in others; two independent runs
    of the validation grid agreed to 5.0 % at the median and 14 % at the 90th percentile
    with medians against 8.8 % and 28.5 % with minima (docs/validation.md)."""
    values = sorted(float(v) for v in round_medians)
    if not values:
        raise ValueError("round_medians: at least one timing is needed")
    return float(statistics.median(values))


def settle_allocator() -> None:
    """Put the CPU allocator in a long-running process's state (see :data:`SETTLE_BYTES`):
    one large block allocated, written and freed."""
    torch = require_torch()
    torch.empty(SETTLE_BYTES // 4).fill_(1.0)  # freed at once


def cpu_name() -> str:
    """The CPU model name as ``lscpu`` shows it (from /proc/cpuinfo), else the platform's."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def _cpu_jiffies() -> tuple[float, float] | None:
    """(busy jiffies of the whole machine, jiffies of this process), or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [float(v) for v in stat.readline().split()[1:]]
        with open("/proc/self/stat", encoding="ascii") as own:
            mine = own.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields[:8]) - idle, float(mine[11]) + float(mine[12])  # utime + stime


def other_cores(since: tuple[float, float] | None, wall_s: float) -> float:
    """Cores other processes used since ``since`` (a :func:`_cpu_jiffies` reading)."""
    now = _cpu_jiffies()
    if since is None or now is None or wall_s <= 0:
        return 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return max(0.0, ((now[0] - since[0]) - (now[1] - since[1])) / tick / wall_s)


def wait_quiet(max_wait_s: float, poll_s: float = QUIET_POLL_S) -> float:
    """Sleep until other processes use less than :data:`QUIET_CORES` (sampled over
    ``poll_s``), at most ``max_wait_s``; the seconds waited."""
    waited = 0.0
    while True:
        before = _cpu_jiffies()
        time.sleep(poll_s)
        waited += poll_s
        if other_cores(before, poll_s) < QUIET_CORES or waited >= max_wait_s:
            return waited


def random_inputs(make: Callable[[], object], count: int = ROTATE) -> list:
    """``count`` independent random inputs (``make`` draws from torch.randn; never zeros)."""
    return [make() for _ in range(count)]


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _host_samples(fn, inputs, repeats: int) -> list[float]:
    samples = []
    for i in range(repeats):
        x = inputs[i % len(inputs)]
        start = time.perf_counter()
        fn(x)
        samples.append(time.perf_counter() - start)
    return samples


def _cuda_samples(fn, inputs, repeats: int) -> list[float]:
    torch = require_torch()
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
              for _ in range(repeats)]
    torch.cuda.synchronize()
    for i, (start, end) in enumerate(events):
        start.record()
        fn(inputs[i % len(inputs)])
        end.record()
    torch.cuda.synchronize()
    return [start.elapsed_time(end) * 1e-3 for start, end in events]  # ms -> s


_OVERHEAD: dict[str, float] = {}


def timer_overhead_s(device: Device) -> float:
    """The median cost of timing an empty call (a host-clock pair or an event pair)."""
    if device.kind not in _OVERHEAD:
        sample = _cuda_samples if device.kind == "cuda" else _host_samples
        _OVERHEAD[device.kind] = statistics.median(
            sample(lambda x: None, [None], OVERHEAD_SAMPLES))
    return _OVERHEAD[device.kind]


def measure(fn: Callable[[object], object], inputs: Sequence, device: Device, *,
            budget_s: float = 0.5, warmup: int = WARMUP_CALLS,
            max_repeats: int = MAX_REPEATS) -> Measurement:
    """Time ``fn(x)`` over ``inputs`` in rotation: ``warmup`` calls, then as many repeats as fit
    in ``budget_s`` (at least :data:`MIN_REPEATS`); the median minus the timer's cost."""
    inputs = list(inputs) or [None]
    sample = _cuda_samples if device.kind == "cuda" else _host_samples
    start = time.perf_counter()
    for i in range(max(1, warmup)):
        fn(inputs[i % len(inputs)])
    device.sync()
    per_call = (time.perf_counter() - start) / max(1, warmup)
    repeats = int(min(max_repeats, max(MIN_REPEATS, budget_s / max(per_call, 1e-9))))
    overhead = timer_overhead_s(device)
    before, start = _cpu_jiffies(), time.perf_counter()
    samples = [max(0.0, s - overhead) for s in sample(fn, inputs, repeats)]
    busy = other_cores(before, time.perf_counter() - start)
    return Measurement(statistics.median(samples), _percentile(samples, 0.1),
                       _percentile(samples, 0.9), min(samples), repeats, overhead, busy)
