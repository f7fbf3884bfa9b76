"""The attention core of :mod:`costmodel.models.attention`: scores ``Q K^T``, softmax
(mask, dropout, head averaging) and ``P V``, with its FLOPs, its kernel launches (shapes for
cuBLAS's and the fused kernel's time models) and the bytes it saves for backward.

The ``"math"`` kernel materialises the scores and probabilities and saves O(batch*heads*n*S)
bytes for S keys (``AttentionConfig.key_len``); the ``"flash"`` kernel keeps only the output
and a logsumexp per query row, O(batch*heads*n) extra bytes, and recomputes the scores in
backward. What is saved is what PyTorch eager keeps alive: autograd holds a whole storage when
it saves a view of it (the packed q/k/v projection's buffer). The choice of kernel, causal
masking and the KV cache are described in :mod:`costmodel.models.attention`, which builds the
rest of the module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sympy as sp

from costmodel import conventions as C
from costmodel import symbols as S
from costmodel.cost import Cost, Kernel
from costmodel.models.primitives import mm_flops, tokens_of

if TYPE_CHECKING:
    from costmodel.models.attention import AttentionConfig

#: Forward products of the attention core: scores Q K^T and output P V.
FORWARD_PRODUCTS = 2
#: Math backward: dP = dO V^T, dV = P^T dO, dQ = dS K, dK = dS^T Q.
MATH_BACKWARD_PRODUCTS = 4
#: Flash backward: the four above after recomputing the scores Q K^T.
FLASH_BACKWARD_PRODUCTS = 5
#: Averaging the weights over heads (need_weights=True): one add per probability.
AVERAGE_FLOPS = 1
#: Causal masking on the math path: one add of the -inf mask per score.
MASK_FLOPS = 1
#: Scaling q (and on the sdpa math path also k) by 1/sqrt(head_dim): one multiply per element.
SCALE_FLOPS = 1


def _buffers(cfg: AttentionConfig) -> tuple[dict, dict]:
    """Storages holding q, k and v, and which storage each lives in.

    Autograd keeps a whole storage alive when it saves a view of it: the packed projection
    is one [3, n, batch, E] buffer (self) or q plus a [2, n_src, batch, E] buffer (cross);
    add_bias_kv/add_zero_attn concatenate new k and v tensors of S rows.
    """
    E, b = cfg.embed_dim, S.batch
    t, t_src = tokens_of(), b * S.n_src
    if cfg.source == "self":
        sizes, home = {"qkv": 3 * t * E}, {"q": "qkv", "k": "qkv", "v": "qkv"}
    elif cfg.packed:
        sizes, home = {"q": t * E, "kv": 2 * t_src * E}, {"q": "q", "k": "kv", "v": "kv"}
    else:
        sizes = {"q": t * E, "k": t_src * E, "v": t_src * E}
        home = {"q": "q", "k": "k", "v": "v"}
    if cfg.add_bias_kv or cfg.add_zero_attn:
        sizes.update({"k+": b * cfg.key_len * E, "v+": b * cfg.key_len * E})
        home.update({"k": "k+", "v": "v+"})
    return sizes, home


def _saved_bytes(cfg: AttentionConfig, entries) -> sp.Expr:
    """Bytes the core saves, as measured on PyTorch eager (see the module docstring)."""
    E, b, s = cfg.embed_dim, S.batch, S.dtype_bytes
    t = tokens_of()
    sizes, home = _buffers(cfg)
    dropout = cfg.dropout > 0 and cfg.attention == "math"
    stats = 0
    if cfg.attention == "flash":  # q, k, v, the output and a logsumexp per query row
        views, new = ("q", "k", "v"), 0
        stats = b * cfg.num_heads * S.n * C.STATISTICS_BYTES
    elif cfg.need_weights:  # bmm(q * scale, k^T) then bmm(P, v)
        views, new = ("k", "v"), t * E + entries
    else:  # sdpa math: (q * sqrt(scale)) @ (k * sqrt(scale))^T then P @ v
        views, new = ("v",), t * E + b * cfg.key_len * E + entries
    kept = sum(sizes[key] for key in {home[v] for v in views})
    masks = entries * (cfg.mask_bytes + s) if dropout else 0  # mask and dropped P
    out = t * E  # the attention output, saved for out_proj's weight gradient
    return (kept + new + out) * s + masks + stats


def _core(cfg: AttentionConfig) -> Cost:
    """Scores, softmax, (dropout), values: the math kernels or one flash kernel."""
    E, h, b = cfg.embed_dim, cfg.num_heads, S.batch
    t, L, head_dim = tokens_of(), cfg.key_len, sp.sympify(cfg.embed_dim) / cfg.num_heads
    flash = cfg.attention == "flash"
    if flash and cfg.causal:
        # new query i sees the L - n cached keys and new keys 0..i: 1 + 2 + ... + n
        pairs = S.n * (L - S.n) + S.n * (S.n + 1) / 2
        # q: [b*h, n, hd] @ k^T over the kept pairs only
        product = mm_flops(b * h, head_dim, pairs)
    else:
        pairs = S.n * L
        # q: [b, h, n, hd] @ k^T: [b, h, hd, L] -> scores: [b, h, n, L] (P @ v alike)
        product = mm_flops(b * h * S.n, head_dim, L)
    entries = b * h * pairs
    dropout = cfg.dropout > 0 and not flash
    scale = t * E + (b * L * E if not (flash or cfg.need_weights) else 0)
    softmax_fwd = entries * (C.SOFTMAX_FLOPS + (MASK_FLOPS if cfg.causal and not flash else 0)
                             + (C.DROPOUT_FLOPS if dropout else 0))
    average = entries * AVERAGE_FLOPS if cfg.need_weights else 0
    softmax_bwd = entries * (C.SOFTMAX_BACKWARD_FLOPS + (C.DROPOUT_FLOPS if dropout else 0)
                             + (C.SOFTMAX_FLOPS if flash else 0))  # flash recomputes exp
    fwd_mm = FORWARD_PRODUCTS * product
    bwd_mm = (FLASH_BACKWARD_PRODUCTS if flash else MATH_BACKWARD_PRODUCTS) * product
    kernels, traffic = _kernels(cfg, product, entries, softmax_fwd, softmax_bwd, average)
    return Cost(
        name=f"{cfg.attention}_attention",
        matmul_flops=fwd_mm,
        elementwise_flops=scale + softmax_fwd + average,
        matmul_flops_backward=bwd_mm,
        elementwise_flops_backward=scale + softmax_bwd,
        bytes=traffic,
        activation_bytes=_saved_bytes(cfg, entries),
        depth_forward=1 if flash else FORWARD_PRODUCTS,  # one fused kernel, or 2 bmm
        depth_backward=1 if flash else FORWARD_PRODUCTS,
        kernels=kernels,
    )


def _kernels(cfg: AttentionConfig, product, entries, softmax_fwd, softmax_bwd, average=0):
    """(kernel launches, forward bytes moved) of the core. ``average``: the FLOPs of
    need_weights=True's mean of the weights over heads (PyTorch's default
    ``average_attn_weights=True``: ``attn_output_weights.mean(dim=1)`` in
    ``multi_head_attention_forward``), a reduction that reads P once more and writes
    [batch, n, L]; it has no backward unless the returned weights are used."""
    E, b, s, L, t = cfg.embed_dim, S.batch, S.dtype_bytes, cfg.key_len, tokens_of()
    q_bytes, kv_bytes = t * E * s, b * L * E * s
    qkvo_bytes = 2 * q_bytes + 2 * kv_bytes  # q, k, v read and the output written
    if cfg.attention == "flash":
        lse = b * cfg.num_heads * S.n * C.STATISTICS_BYTES
        # (queries, keys, head_dim, batch * heads, pairs per batch and head): what the fused
        # kernel's time model (implementations/fused_attention.py) tiles
        shape = (S.n, L, sp.sympify(E) / cfg.num_heads, b * cfg.num_heads,
                 entries / (b * cfg.num_heads))
        return (Kernel("flash_attention", "attention", "forward",
                       FORWARD_PRODUCTS * product + softmax_fwd, qkvo_bytes + lse, shape=shape),
                Kernel("flash_attention.backward", "attention", "backward",
                       FLASH_BACKWARD_PRODUCTS * product + softmax_bwd,
                       2 * qkvo_bytes + lse, shape=shape)), qkvo_bytes + lse  # + dO, dQ dK dV
    p_bytes = entries * s
    # each backward bmm launch pair: dP and dV (av.backward), dQ and dK (scores.backward)
    pair = MATH_BACKWARD_PRODUCTS // FORWARD_PRODUCTS
    # (m, n, k, GEMMs in the launch): b*h batched GEMMs, priced by cuBLAS's tiles and waves
    # on a GPU (the generic roofline ignores a batched shape). Scores: [n, hd] @ [hd, L];
    # av: [n, L] @ [L, hd]; a backward pair as two GEMMs of the output's shape: dP like the
    # scores and dV [L, n] @ [n, hd] like av (taken as av's), dQ and dK like av.
    bh, hd = b * cfg.num_heads, sp.sympify(E) / cfg.num_heads
    scores_shape, av_shape = (S.n, L, hd, bh), (S.n, hd, L, bh)
    pair_shape = (S.n, hd, L, pair * bh)
    averaged = (Kernel("average_weights", "reduction", "forward", average,
                       p_bytes + p_bytes / cfg.num_heads),) if cfg.need_weights else ()
    return (
        Kernel("scores", "gemm", "forward", product, q_bytes + kv_bytes + p_bytes,
               shape=scores_shape),
        Kernel("softmax", "softmax", "forward", softmax_fwd, 2 * p_bytes),  # read, write
        Kernel("av", "gemm", "forward", product, p_bytes + kv_bytes + q_bytes, shape=av_shape),
        Kernel("av.backward", "gemm", "backward", pair * product, 2 * p_bytes + qkvo_bytes,
               shape=pair_shape),
        Kernel("softmax.backward", "softmax", "backward", softmax_bwd, 3 * p_bytes),
        Kernel("scores.backward", "gemm", "backward", pair * product, p_bytes + qkvo_bytes,
               shape=pair_shape),
        *averaged,
    ), qkvo_bytes + 4 * p_bytes + sum(k.bytes for k in averaged)  # scores, P: written, read
