"""torch as the oracle: FLOPs from FlopCounterMode and bytes from saved_tensors_hooks."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from costmodel.validation.modules import saved_storages


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
