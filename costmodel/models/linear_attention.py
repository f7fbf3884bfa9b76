"""Attention in O(n) memory: kernelised linear attention and Linformer.

``LinearAttention`` (Katharopoulos et al. 2020, non-causal) replaces softmax(Q K^T) V by
phi(Q) (phi(K)^T V) / (phi(Q) sum_n phi(K)) with the feature map phi(x) = elu(x) + 1, per
head of width hd = E / h::

    q, k, v    three Linear(E, E, bias) on the n tokens
    kv         phi(k)^T: [b*h, hd, n] @ v: [b*h, n, hd] -> [b*h, hd, hd]
    z          sum over n of phi(k): [b*h, hd]
    num        phi(q): [b*h, n, hd] @ kv: [b*h, hd, hd] -> [b*h, n, hd]
    den        phi(q): [b*h, n, hd] @ z: [b*h, hd, 1] -> [b*h, n, 1]
    out        out_proj(num / den)

Matmul FLOPs 8 b n E^2 + 4 b n E hd + 2 b n E: linear in n; nothing of size n^2 exists.

``Linformer`` (Wang et al. 2020) projects the keys and values along the sequence to ``k``
rows with learned E, F: [k, n] (shared by the heads, ``share_kv`` makes F = E), then runs
softmax attention against k keys: scores [b, h, n, k], O(n k) memory. E and F are sized by
the sequence length, so the parameter count grows with n.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from costmodel import conventions as C
from costmodel import symbols as S
from costmodel.checks import check_bool, check_size, is_known
from costmodel.compose import combine
from costmodel.cost import Cost, Kernel
from costmodel.models.primitives import linear_part, mm_flops, tokens_of
from costmodel.models.sequence_ops import fold_copy, pointwise

#: phi(x) = elu(x) + 1: compare, exp, subtract 1 (elu: 3), add 1 (1) = 4. Backward:
#: elu' = 1 or phi(x) (a select, 1), times the gradient (1) = 2.
FEATURE_MAP_FLOPS = 4
FEATURE_MAP_BACKWARD_FLOPS = 2
#: z = sum over n of phi(k): one add per element; backward broadcasts dz: one add into
#: d phi(k) per element.
SUM_FLOPS = 1
#: num / den: one divide per element. Backward: dnum = g / den (1) and
#: dden = -sum(g * num / den^2) (multiply, divide, negate folded, add: 3) = 4.
DIVIDE_FLOPS = 1
DIVIDE_BACKWARD_FLOPS = 4
#: Keys and values.
KV_TENSORS = 2
#: Scaling q by 1/sqrt(hd): one multiply per element, forward and backward.
SCALE_FLOPS = 1


def _heads(embed_dim, num_heads):
    E, h = check_size("embed_dim", embed_dim), check_size("num_heads", num_heads)
    if is_known(E) and is_known(h) and E % h:
        raise ValueError(f"embed_dim={E} must be divisible by num_heads={h}")
    return E, h, sp.sympify(E) / h


def _qkv(E, bias, input_grad) -> tuple[Cost, ...]:
    """q, k, v projections of the same tokens: x saved once (by q_proj)."""
    t = tokens_of()
    # x: [t, E] @ W^T: [E, E] -> [t, E], three times
    return (linear_part("q_proj", t, E, E, bias=bias, input_grad=input_grad),
            linear_part("k_proj", t, E, E, bias=bias, input_grad=input_grad, save_input=False),
            linear_part("v_proj", t, E, E, bias=bias, input_grad=input_grad, save_input=False))


def _bmm(name: str, batch, m, k, n, saved_elements, backward_products=2) -> Cost:
    """A batched product [batch, m, k] @ [batch, k, n]; backward dA = dC B^T, dB = A^T dC."""
    s = S.dtype_bytes
    fwd = mm_flops(batch * m, k, n)
    moved = batch * (m * k + k * n + m * n) * s
    return Cost(name=name, matmul_flops=fwd, matmul_flops_backward=backward_products * fwd,
                bytes=moved, activation_bytes=saved_elements * s, depth_forward=1,
                depth_backward=1,
                kernels=(Kernel(name, "gemm", "forward", fwd, moved, shape=(batch * m, n, k)),
                         Kernel(f"{name}.backward", "gemm", "backward",
                                backward_products * fwd, 2 * moved)))


def LinearAttention(embed_dim, num_heads, bias=True, *, input_requires_grad=False) -> Cost:
    """Non-causal linear attention with phi = elu + 1 (see the module docstring)."""
    E, h, hd = _heads(embed_dim, num_heads)
    check_bool("bias", bias)
    check_bool("input_requires_grad", input_requires_grad)
    b, t = S.batch, tokens_of()
    bh = b * h
    # elu keeps its own tensor and phi = elu + 1 is a new one, which the next product keeps
    phi = [pointwise(f"phi_{x}", t * E, FEATURE_MAP_FLOPS, FEATURE_MAP_BACKWARD_FLOPS,
                     saved_elements=2 * t * E) for x in "qk"]
    parts = (
        *_qkv(E, bias, input_requires_grad), *phi,
        # phi(k)^T: [bh, hd, n] @ v: [bh, n, hd]; saves phi(k) (counted above) and v
        _bmm("kv", bh, hd, S.n, hd, saved_elements=t * E),
        pointwise("z", t * E, SUM_FLOPS, SUM_FLOPS, saves="none", kind="reduction"),
        # phi(q): [bh, n, hd] @ kv: [bh, hd, hd]; saves kv and the copy it makes of phi(q)
        # to fold [b, h, n, hd] (a transposed view) into [b*h, n, hd]; den keeps the view
        _bmm("num", bh, S.n, hd, hd,
             saved_elements=bh * hd * hd + t * E * fold_copy(h, b, S.n)),
        # phi(q): [bh, n, hd] @ z: [bh, hd, 1]; saves z
        _bmm("den", bh, S.n, hd, 1, saved_elements=bh * hd),
        # num / den saves both: [t, E] and [bh, n]
        pointwise("divide", t * E, DIVIDE_FLOPS, DIVIDE_BACKWARD_FLOPS, inputs=2,
                  saved_elements=t * E + bh * S.n, kind="elementwise"),
        linear_part("out_proj", t, E, E, bias=bias),  # saves num / den
    )
    name = f"LinearAttention(embed_dim={E}, num_heads={h})"
    # kv and den side by side after the projections: q/k/v (1), kv (1), num and den (1), out
    record = combine(name, parts, depth_forward=4, depth_backward=4)
    # the causal form's carried state (kv and z per head), O(1) in n
    return dataclasses.replace(record, state_bytes=bh * (hd * hd + hd) * S.dtype_bytes)


def _sequence_projection(name: str, E, k) -> Cost:
    """keys: [b, n, E] -> E_proj: [k, n] @ keys -> [b, k, E]; the [k, n] weights are params."""
    b, s = S.batch, S.dtype_bytes
    fwd = mm_flops(b * k, S.n, E)
    # dW: dK': [b, k, E] @ keys^T: [b, E, n]; dkeys: W^T: [n, k] @ dK': [b, k, E]
    bwd = mm_flops(b * k, E, S.n) + mm_flops(b * S.n, k, E)
    moved = (b * S.n * E + k * S.n + b * k * E) * s
    return Cost(name=name, params=k * S.n, matmul_flops=fwd, matmul_flops_backward=bwd,
                bytes=moved, activation_bytes=b * S.n * E * s, depth_forward=1,
                depth_backward=1,
                kernels=(Kernel(name, "gemm", "forward", fwd, moved, shape=(k, E, S.n, b)),
                         Kernel(f"{name}.backward", "gemm", "backward", bwd, 2 * moved)))


def Linformer(embed_dim, num_heads, k, bias=True, share_kv=False, *,
              input_requires_grad=False) -> Cost:
    """Linformer self-attention with sequence projections to ``k`` rows (module docstring).

    Keys and values are projected with their own [k, n] matrices (one matrix for both when
    ``share_kv``); scores and probabilities are [batch, heads, n, k] (math attention, no
    dropout), so memory is O(batch * heads * n * k).
    """
    E, h, hd = _heads(embed_dim, num_heads)
    k = check_size("k", k)
    check_bool("bias", bias)
    check_bool("share_kv", share_kv)
    check_bool("input_requires_grad", input_requires_grad)
    b, t, s = S.batch, tokens_of(), S.dtype_bytes
    bh, entries = b * h, b * h * S.n * k
    key_proj = _sequence_projection("proj_k", E, k)
    value_proj = _sequence_projection("proj_v", E, k)
    if share_kv:
        value_proj = dataclasses.replace(value_proj, params=0)  # the same matrix as keys
    softmax = pointwise("softmax", entries, C.SOFTMAX_FLOPS, C.SOFTMAX_BACKWARD_FLOPS,
                        saves="output", kind="softmax")
    parts = (
        *_qkv(E, bias, input_requires_grad), key_proj, value_proj,
        pointwise("scale", t * E, SCALE_FLOPS, SCALE_FLOPS, saves="none", kind="elementwise"),
        # q: [bh, n, hd] @ k'^T: [bh, hd, k] -> scores [bh, n, k]; saves q and k'
        _bmm("scores", bh, S.n, hd, k, saved_elements=t * E + b * k * E),
        softmax,
        # P: [bh, n, k] @ v': [bh, k, hd] -> [bh, n, hd]; saves P (the softmax's) and v'
        _bmm("av", bh, S.n, k, hd, saved_elements=b * k * E),
        linear_part("out_proj", t, E, E, bias=bias),
    )
    name = f"Linformer(embed_dim={E}, num_heads={h}, k={k}, share_kv={share_kv})"
    # q/k/v (1), the sequence projections side by side (1), scores (1), av (1), out (1)
    record = combine(name, parts, depth_forward=5, depth_backward=5)
    # what attention reads besides the queries: the projected keys and values, 2 * b * k * E
    return dataclasses.replace(record, state_bytes=KV_TENSORS * b * k * E * s)
