"""Host-side costs on a lent GPU (split from :mod:`.gpu_probe`): the host time of one call
with the queue drained, and the host's issue rate for tiny kernels (a raw launch, an eager op,
a one-step cuDNN LSTM call). On the session-6 H200 these showed cuDNN's per-step kernels are
host-bound (docs/validation.md, "GPU, measured: one named H200")."""

from __future__ import annotations

import time


def host_ms(fn, inputs, device, calls: int = 10) -> float:
    """Median host time of one call, the queue drained before each (no sync inside): the
    time the CPU spends issuing the call's kernels. Equal to the event time when the call is
    bound by its launches, far below it when the GPU is the bottleneck."""
    samples = []
    for i in range(calls):
        device.sync()
        start = time.perf_counter()
        fn(inputs[i % len(inputs)])
        samples.append(time.perf_counter() - start)
    device.sync()
    return sorted(samples)[len(samples) // 2] * 1e3


def launch_costs(device, torch, calls: int = 2000) -> dict:
    """Microseconds per call, issued back to back and synchronized once (the host's issue
    rate when the kernels are tiny): a raw kernel launch (``torch.cuda._sleep(0)``), a
    one-element eager op (dispatch + launch), a one-step cuDNN LSTM call (H 16, batch 1)."""
    from .timing import cpu_name

    x = torch.ones(1, device=device.torch_device)
    lstm = torch.nn.LSTM(16, 16).to(device.torch_device).eval()
    step = torch.randn(1, 1, 16, device=device.torch_device)
    out = {"host_cpu": cpu_name()}
    cases = {"eager_add_us": lambda: x.add_(1.0)}
    if device.kind == "cuda":
        cases["raw_launch_us"] = lambda: torch.cuda._sleep(0)

    def lstm_call():
        with torch.inference_mode():
            lstm(step)

    cases["cudnn_lstm_step_call_us"] = lstm_call
    for name, fn in cases.items():
        n = calls if name != "cudnn_lstm_step_call_us" else calls // 10
        for _ in range(10):
            fn()
        device.sync()
        start = time.perf_counter()
        for _ in range(n):
            fn()
        device.sync()
        out[name] = (time.perf_counter() - start) / n * 1e6
    return out


def host_probe(device, budget_s: float = 0.05, lengths: tuple | None = None) -> list[dict]:
    """The calls :func:`costmodel.implementations.host_issue.fit` reads: its ``PROBE``
    module (an fp32 ``nn.LSTM``, H 256, batch 1) timed as users time it at each length, an
    inference call (``eval()`` under ``inference_mode``) and a training step's forward +
    ``sum().backward()`` (no update), each the median of its repeats (:func:`.timing.measure`,
    CUDA events on a GPU). ``lengths``: the probe's unless given (a CPU smoke test passes
    short ones)."""
    from costmodel.implementations.host_issue import PROBE

    from . import require_torch
    from .bench import torch_dtype
    from .timing import measure, random_inputs

    torch = require_torch()
    hidden, batch, dtype = PROBE["hidden"], PROBE["batch"], torch_dtype(PROBE["dtype"])
    lstm = torch.nn.LSTM(hidden, hidden).to(device=device.torch_device, dtype=dtype)

    def inference(x):
        lstm.eval()
        with torch.inference_mode():
            return lstm(x)

    def forward_backward(x):
        lstm.train()
        lstm(x)[0].sum().backward()

    out = []
    for steps in lengths or PROBE["lengths"]:
        inputs = random_inputs(lambda n=steps: torch.randn(n, batch, hidden,
                                                           device=device.torch_device,
                                                           dtype=dtype))
        out.append({"bench": "host_probe", "steps": steps, **{
            f"{name}_s": measure(fn, inputs, device, budget_s=budget_s).median_s
            for name, fn in (("inference", inference), ("forward_backward", forward_backward))}})
        lstm.zero_grad(set_to_none=True)
    return out
