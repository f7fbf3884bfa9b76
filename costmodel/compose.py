"""Putting records together: ``combine`` (parts in series or side by side), ``Sequential``
(modules in order, the sequence length flowing through), ``scale`` (copies side by side) and
``stack`` (identical layers in series). Each returns a new :class:`costmodel.cost.Cost`."""

from __future__ import annotations

import dataclasses
from typing import Iterable

import sympy as sp

from costmodel import symbols as S
from costmodel.cost import ADDITIVE, Cost, Kernel, _sum


def combine(
    name: str,
    parts: Iterable[Cost],
    *,
    depth_forward=None,
    depth_backward=None,
    kernels: tuple[Kernel, ...] | None = None,
    out_len=None,
    notes: tuple[str, ...] = (),
) -> Cost:
    """A record whose additive fields are the sums of ``parts``.

    Depth defaults to the parts in series (their depths add), kernels to their concatenation.
    """
    parts = tuple(parts)
    sums = {k: _sum(getattr(p, k) for p in parts) for k in ADDITIVE}
    return Cost(
        name=name,
        **sums,
        depth_forward=_sum(p.depth_forward for p in parts) if depth_forward is None
        else depth_forward,
        depth_backward=_sum(p.depth_backward for p in parts) if depth_backward is None
        else depth_backward,
        out_len=(parts[-1].out_len if parts else S.n) if out_len is None else out_len,
        kernels=tuple(k for p in parts for k in p.kernels) if kernels is None else kernels,
        parts=parts,
        notes=notes,
    )


def Sequential(*modules: Cost, name: str = "Sequential") -> Cost:
    """Modules applied one after another, like ``torch.nn.Sequential``.

    Each module's sequence length ``n`` becomes the output length of the module before it.
    """
    if not modules:
        raise ValueError("Sequential needs at least one module")
    for i, m in enumerate(modules):
        if not isinstance(m, Cost):
            raise ValueError(f"Sequential argument {i} is {type(m).__name__}, not a cost record")
    placed = []
    length = S.n
    for m in modules:
        shifted = m.xreplace({S.n: length}) if length != S.n else m
        if placed and placed[-1].saved_output_bytes != 0 and shifted.saved_input_bytes != 0:
            # The same tensor: saved once by autograd, so count it once.
            shifted = dataclasses.replace(
                shifted, activation_bytes=shifted.activation_bytes - shifted.saved_input_bytes)
        placed.append(shifted)
        length = shifted.out_len
    return dataclasses.replace(
        combine(name, placed, out_len=length),
        saved_input_bytes=placed[0].saved_input_bytes,
        saved_output_bytes=placed[-1].saved_output_bytes,
    )


def scale(record: Cost, factor) -> Cost:
    """``factor`` copies of ``record`` one after another: additive fields, depths and kernel
    counts multiplied, parts scaled alike (so a breakdown still sums to the total)."""
    factor = sp.sympify(factor)
    return dataclasses.replace(
        record,
        **{k: getattr(record, k) * factor for k in ADDITIVE},
        depth_forward=record.depth_forward * factor,
        depth_backward=record.depth_backward * factor,
        kernels=tuple(dataclasses.replace(k, count=k.count * factor) for k in record.kernels),
        parts=tuple(scale(p, factor) for p in record.parts),
    )


def stack(layer: Cost, num_layers, name: str) -> Cost:
    """``num_layers`` copies of a shape-preserving layer in series (TransformerEncoder)."""
    from costmodel.checks import check_size

    num_layers = check_size("num_layers", num_layers)
    if sp.simplify(layer.out_len - S.n) != 0:
        raise ValueError(f"{layer.name} changes the sequence length; it cannot be stacked")
    return scale(layer, num_layers).renamed(name)
