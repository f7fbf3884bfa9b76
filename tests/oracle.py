"""torch as the oracle: FLOPs from FlopCounterMode and bytes from saved_tensors_hooks; and the
record's own three routes to a number, checked against each other."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

import costmodel as cm
from costmodel import symbols as S
from costmodel.validation.modules import saved_storages

_RUNTIME = {"n": S.n, "batch": S.batch, "n_src": S.n_src}


def assert_three_routes_agree(record, sizes: dict, **runtime) -> None:
    """Every field of ``record`` at one point is the same number three ways: its sympy
    expression substituted, ``evaluate`` (exact) and ``vectorize`` (numpy). ``runtime``: n,
    batch and optionally n_src; fp32 (4 bytes) and Adam (2 states), evaluate's defaults."""
    numbers = record.evaluate(**runtime, **sizes)
    subs = {S.dtype_bytes: 4, S.optimizer_states: 2,
            **{_RUNTIME[k]: v for k, v in runtime.items()},
            **{S.size_symbol(k): v for k, v in sizes.items()}}
    vec = record.vectorize()(**{**runtime, "n": np.array([runtime["n"]])}, **sizes)
    for q in cm.FIELDS:
        assert record.get(q).xreplace(subs) == numbers[q], q
        assert math.isclose(float(vec[q][0]), numbers[q]), q


def _first(out):
    while isinstance(out, (tuple, list)):
        out = out[0]
    return out


def matmul_flops(module, *inputs, device="cpu", custom_mapping=None, **kwargs):
    """(forward, backward) FLOPs FlopCounterMode counts for one training step on ``inputs``.

    The inputs keep their own ``requires_grad``; every parameter requires grad; ``kwargs`` go
    to the module's forward. On the 'meta' device PyTorch decomposes nn.LSTM into counted
    matmuls (the CPU oneDNN kernel counts 0). ``custom_mapping`` adds FLOP formulas for ops
    the counter does not know (see test_attention's CPU flash-attention ops).
    """
    module = module.to(device).train()
    inputs = torch.utils._pytree.tree_map(
        lambda t: t.to(device).detach().requires_grad_(t.requires_grad)
        if torch.is_tensor(t) else t, inputs)
    counter = FlopCounterMode(display=False, custom_mapping=custom_mapping)
    with counter:
        out = _first(module(*inputs, **kwargs))
        forward = counter.get_total_flops()
        out.sum().backward()
    return forward, counter.get_total_flops() - forward


def saved_bytes(module, *inputs, **kwargs):
    """Bytes autograd saves for backward: each storage once, parameters excluded."""
    module.train()
    with saved_storages(module) as seen:
        module(*inputs, **kwargs)
    return sum(seen.values())


def num_params(module) -> int:
    return sum(p.numel() for p in module.parameters())
