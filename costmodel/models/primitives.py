"""Small formula functions the families compose: a matmul, a linear map, a pointwise op.

Each returns a :class:`~costmodel.cost.Cost` for one operation applied to ``tokens`` rows
(``tokens`` is usually ``batch * n``). Shapes are in the comments, PyTorch's layout.
"""

from __future__ import annotations

import sympy as sp

from costmodel import conventions as C
from costmodel import symbols as S
from costmodel.cost import Cost, Kernel


def mm_flops(m, k, n) -> sp.Expr:
    """FLOPs of ``[m, k] @ [k, n]``: m*n outputs, k multiply-adds each."""
    return C.FLOPS_PER_MAC * sp.sympify(m) * k * n


def linear_part(
    name: str,
    tokens,
    in_features,
    out_features,
    *,
    bias: bool = True,
    input_grad: bool = True,
    side_input: bool = False,
    save_input: bool = True,
    depth: int = 1,
    kind: str = "gemm",
) -> Cost:
    """``y = x W^T + b`` on ``tokens`` rows (``kind="rnn_gemm"`` inside a cuDNN recurrence).

    Forward:  x: [tokens, in] @ W^T: [in, out] -> y: [tokens, out]  (+ b broadcast).
    Backward: dx = dy: [tokens, out] @ W: [out, in]   (only when ``input_grad``)
              dW = dy^T: [out, tokens] @ x: [tokens, in]
              db = sum over tokens of dy (tokens*out adds, elementwise).
    Autograd saves x for dW (``save_input``; a caller may share an already-saved tensor).
    Without ``input_grad`` the dx GEMM becomes the record's ``input_grad_cost``, unless x is a
    ``side_input`` that never needs a gradient (an attention's key/value memory).
    """
    s = S.dtype_bytes
    fwd = mm_flops(tokens, in_features, out_features)
    grad_in = mm_flops(tokens, out_features, in_features)
    grad_w = mm_flops(out_features, tokens, in_features)
    bias_elems = tokens * out_features if bias else 0
    weights = in_features * out_features + (out_features if bias else 0)
    fwd_bytes = (tokens * in_features + weights + tokens * out_features) * s
    saved = tokens * in_features * s if save_input else 0
    kernels = (
        Kernel(f"{name}", kind, "forward", fwd, fwd_bytes,
               shape=(tokens, out_features, in_features)),
        Kernel(f"{name}.grad_weight", kind, "backward", grad_w,
               (tokens * out_features + tokens * in_features + weights) * s,
               shape=(out_features, in_features, tokens)),
    )
    grad_input = Cost(
        name=f"{name}.grad_input", matmul_flops_backward=grad_in,
        kernels=(Kernel(f"{name}.grad_input", kind, "backward", grad_in,
                        (tokens * out_features + weights + tokens * in_features) * s,
                        shape=(tokens, in_features, out_features)),))
    return Cost(
        name=name,
        params=weights,
        matmul_flops=fwd,
        elementwise_flops=bias_elems,
        matmul_flops_backward=(grad_in if input_grad else 0) + grad_w,
        elementwise_flops_backward=bias_elems,
        bytes=fwd_bytes,
        activation_bytes=saved,
        saved_input_bytes=saved,
        depth_forward=depth,
        depth_backward=depth,
        kernels=kernels + (grad_input.kernels if input_grad else ()),
        input_grad_cost=None if input_grad or side_input else grad_input,
    )


def pointwise_part(
    name: str,
    elements,
    flops_per_element,
    backward_flops_per_element,
    *,
    saved_elements=0,
    inputs: int = 1,
    saves: str = "none",
    depth: int = 0,
    kind: str = "elementwise",
) -> Cost:
    """An elementwise op over ``elements`` values (``inputs`` tensors read, one written).

    ``saves`` says which tensor autograd keeps: "input", "output" or "none"; it fixes
    ``saved_input_bytes``/``saved_output_bytes`` so ``Sequential`` can count shared ones once.
    ``depth`` is 0 by default: a pointwise op follows its producer on the critical path
    without a dependent step of its own (see docs/conventions.md, "Depth").
    ``kind`` labels the kernel for the roofline's per-op rates ("activation", "dropout",
    "softmax", ...; "elementwise" for plain arithmetic); it changes no count.
    """
    s = S.dtype_bytes
    saved = (sp.sympify(saved_elements) if saved_elements else
             (sp.sympify(elements) if saves != "none" else sp.Integer(0))) * s
    fwd = sp.sympify(elements) * flops_per_element
    bytes_ = (inputs + 1) * sp.sympify(elements) * s
    return Cost(
        name=name,
        elementwise_flops=fwd,
        elementwise_flops_backward=sp.sympify(elements) * backward_flops_per_element,
        bytes=bytes_,
        activation_bytes=saved,
        saved_input_bytes=saved if saves == "input" else 0,
        saved_output_bytes=saved if saves == "output" else 0,
        depth_forward=depth,
        depth_backward=depth,
        kernels=(Kernel(name, kind, "forward", fwd, bytes_),),
    )


def tokens_of(batch=S.batch, n=S.n) -> sp.Expr:
    return batch * n
