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
    The parts' ``input_grad_cost`` add up: a part that still has one reads the record's input
    (the directions of an RNN layer, a chain's modules before the first trainable one).
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
        input_grad_cost=_input_grad_of(parts),
    )


def _input_grad_of(parts: tuple[Cost, ...]) -> Cost | None:
    extras = tuple(p.input_grad_cost for p in parts if p.input_grad_cost is not None)
    if len(extras) <= 1:
        return extras[0] if extras else None
    return combine("grad_input", extras)


def with_input_grad(record: Cost) -> Cost:
    """``record`` as autograd runs it when its input requires grad: ``input_grad_cost`` added.

    Its additive fields and ``saved_input_bytes`` add; a kernel with the name and phase of one
    of the record's adds its FLOPs and bytes to it (MaxPool2d's forward writes its indices
    only then), any other is appended; a composed record shows it as one more part.
    """
    extra = record.input_grad_cost
    if extra is None:
        return record
    kernels = list(record.kernels)
    for k in extra.kernels:
        same = [i for i, old in enumerate(kernels) if (old.name, old.phase) == (k.name, k.phase)]
        if same:
            old = kernels[same[0]]
            kernels[same[0]] = dataclasses.replace(old, flops=old.flops + k.flops,
                                                   bytes=old.bytes + k.bytes)
        else:
            kernels.append(k)
    return dataclasses.replace(
        record,
        **{k: getattr(record, k) + getattr(extra, k) for k in ADDITIVE},
        saved_input_bytes=record.saved_input_bytes + extra.saved_input_bytes,
        kernels=tuple(kernels),
        parts=record.parts + (extra,) if record.parts else (),
        input_grad_cost=None,
    )


def passes_grad(record: Cost) -> bool:
    """Whether the output of ``record`` requires grad because of the record itself: it has
    parameters, or it runs a backward (a parameter-free module does only when its input
    requires grad; ReLU, Dropout and the norms count theirs as if it always does)."""
    return any(not _is_zero(e) for e in (record.params, record.flops_backward))


def _is_zero(expr) -> bool:
    expr = sp.sympify(expr)
    return expr == 0 or expr.is_zero is True


def _differ(given, expected) -> bool:
    """True when two widths are both given and differ for every value of their symbols
    (``h`` and ``e`` may agree; ``h`` and ``2*h`` never do)."""
    if given is None or expected is None:
        return False
    return sp.simplify(expected - given).is_zero is False


def _check_widths(index: int, before: Cost, after: Cost) -> None:
    """Refuse neighbours whose widths are known to differ."""
    given, expected = before.out_features, after.in_features
    if _differ(given, expected):
        raise ValueError(f"Sequential module {index} ({after.name}) takes {expected} input "
                         f"features, but module {index - 1} ({before.name}) gives {given}")


def Sequential(*modules: Cost, name: str = "Sequential") -> Cost:
    """Modules applied one after another, like ``torch.nn.Sequential``.

    Each module's sequence length ``n`` becomes the output length of the module before it,
    and its input width must be the previous output width. The chain's input needs no
    gradient; every module behind one with parameters (or with a backward) computes its
    input's gradient, as autograd does (:func:`with_input_grad`).
    """
    if not modules:
        raise ValueError("Sequential needs at least one module")
    for i, m in enumerate(modules):
        if not isinstance(m, Cost):
            raise ValueError(f"Sequential argument {i} is {type(m).__name__}, not a cost record")
    for i in range(1, len(modules)):
        _check_widths(i, modules[i - 1], modules[i])
    placed = []
    length, grad = S.n, False
    for m in modules:
        shifted = m.xreplace({S.n: length}) if length != S.n else m
        if grad:
            shifted = with_input_grad(shifted)
        if placed and placed[-1].saved_output_bytes != 0 and shifted.saved_input_bytes != 0:
            # The same tensor: saved once by autograd, so count it once.
            shifted = dataclasses.replace(
                shifted, activation_bytes=shifted.activation_bytes - shifted.saved_input_bytes)
        placed.append(shifted)
        length = shifted.out_len
        grad = grad or passes_grad(shifted)
    return dataclasses.replace(
        combine(name, placed, out_len=length),
        saved_input_bytes=placed[0].saved_input_bytes,
        saved_output_bytes=placed[-1].saved_output_bytes,
        in_features=placed[0].in_features,
        out_features=placed[-1].out_features,
    )


def scale(record: Cost, factor) -> Cost:
    """``factor`` copies of ``record`` side by side or in series: every additive field, depth
    and kernel count multiplied, parts (and ``input_grad_cost``) scaled alike (so a breakdown
    still sums to the total). See :func:`stack` for copies that feed each other."""
    factor = sp.sympify(factor)
    extra = record.input_grad_cost
    return dataclasses.replace(
        record,
        **{k: getattr(record, k) * factor for k in ADDITIVE},
        depth_forward=record.depth_forward * factor,
        depth_backward=record.depth_backward * factor,
        kernels=tuple(dataclasses.replace(k, count=k.count * factor) for k in record.kernels),
        parts=tuple(scale(p, factor) for p in record.parts),
        input_grad_cost=None if extra is None else scale(extra, factor),
    )


def stack(layer: Cost, num_layers, name: str) -> Cost:
    """``num_layers`` copies of a shape-preserving layer in series (TransformerEncoder).

    Copies after the first compute their input's gradient when the layer passes one on
    (:func:`passes_grad`), as in :func:`Sequential`.
    """
    from costmodel.checks import check_size

    num_layers = check_size("num_layers", num_layers)
    if sp.simplify(layer.out_len - S.n) != 0:
        raise ValueError(f"{layer.name} changes the sequence length; it cannot be stacked")
    if _differ(layer.out_features, layer.in_features):
        raise ValueError(f"{layer.name} reads {layer.in_features} features but writes "
                         f"{layer.out_features}; it cannot be stacked")
    if layer.input_grad_cost is None or not passes_grad(layer) or num_layers == 1:
        return scale(layer, num_layers).renamed(name)
    rest = scale(with_input_grad(layer), num_layers - 1)
    return dataclasses.replace(combine(name, (layer, rest)), in_features=layer.in_features,
                               out_features=layer.out_features)
