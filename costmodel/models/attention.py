"""``torch.nn.MultiheadAttention`` with a choice of attention kernel.

Queries come from the ``n`` input tokens. Self-attention (no ``kdim``/``vdim``) takes keys and
values from the same tokens; with ``kdim``/``vdim`` (or the decoder's cross-attention) they come
from a source of ``n_src`` tokens. ``add_bias_kv`` and ``add_zero_attn`` each append one key
(and value) row, so the key length is ``S = n_src + add_bias_kv + add_zero_attn``.

Kernels (a framework difference, so a parameter: ``attention=``):

* ``"math"``: scores ``Q K^T`` and probabilities are materialised, O(batch*heads*n*S) bytes
  saved; backward is four batched products. This is what PyTorch runs when ``need_weights=True``
  (``nn.MultiheadAttention`` called directly: bmm/baddbmm, weights averaged over heads) and in
  ``scaled_dot_product_attention``'s math backend (the CPU's choice in training with dropout).
* ``"flash"``: one fused kernel keeps only the output and a logsumexp per query row,
  O(batch*heads*n) extra bytes, and recomputes the scores in backward (five products, as
  ``FlopCounterMode`` counts for the flash/efficient backward). PyTorch's CPU picks
  ``_scaled_dot_product_flash_attention_for_cpu`` in training when dropout is 0; its CUDA
  flash/efficient kernels keep an RNG seed instead of a dropout mask.

``causal=True``: the math kernel computes every score and masks afterwards (full dense FLOPs,
plus one mask add per score). A causal flash kernel skips the upper triangle: we count the
``n*(n+1)/2`` query-key pairs that survive the mask (FlashAttention-2's convention; the real
kernel skips whole tiles, so it does a little more). ``FlopCounterMode`` ignores
``is_causal`` and reports the dense count. Causal masking is for self-attention only here.

``kv_cache=True`` (a configuration field; :mod:`costmodel.decode` builds it): the n query
tokens are the newest of a context of ``n_ctx`` tokens whose keys and values are cached. The
projections run on the n new tokens, the core reads K and V of all ``n_ctx`` (``key_len``),
and ``state_bytes`` is the cache. The formulas are the same: without a cache ``n_ctx`` is n,
so prefill is ``n = n_ctx`` and one decode step ``n = 1``. Causal pairs with a cache: each new
query sees the ``n_ctx - n`` cached keys and the new ones up to itself,
``n*(n_ctx - n) + n*(n+1)/2`` (``n*(n+1)/2`` without a cache; ``n_ctx`` at ``n = 1``).

This module builds the configuration, the projections and out_proj; the core's FLOPs, kernel
launches and saved bytes are :mod:`costmodel.models.attention_core`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import sympy as sp

from costmodel import conventions as C
from costmodel import symbols as S
from costmodel.checks import check_bool, check_choice, check_probability, check_size, is_known
from costmodel.compose import combine
from costmodel.cost import Cost
# The attention core (scores, softmax, P V: FLOPs, kernels, saved bytes) lives in its own
# module; names kept importable from here (fused_attention reads the product counts)
from costmodel.models.attention_core import (  # noqa: F401
    AVERAGE_FLOPS, FLASH_BACKWARD_PRODUCTS, FORWARD_PRODUCTS, MASK_FLOPS,
    MATH_BACKWARD_PRODUCTS, SCALE_FLOPS, _core)
from costmodel.models.primitives import linear_part, tokens_of

KERNELS = ("math", "flash")
#: What a constructor takes: a kernel, or "auto" (what PyTorch runs: see
#: costmodel.implementations.sdpa; without a device, PyTorch's CPU choice in training mode).
CHOICES = ("auto", *KERNELS)
#: Keys and values each cached per source token at inference.
KV_TENSORS = 2


@dataclass(frozen=True)
class AttentionConfig:
    """Everything that changes a count; ``source`` is "self" or "cross"."""

    embed_dim: object
    num_heads: object
    dropout: float
    bias: bool
    add_bias_kv: bool
    add_zero_attn: bool
    kdim: object
    vdim: object
    batch_first: bool
    attention: str
    causal: bool
    need_weights: bool
    input_grad: bool
    mask_bytes: object
    source: str
    #: How many times the kv projection's saved memory counts (1; 0 or a copy switch when
    #: an earlier layer already saved the same memory tensor).
    memory_saved: object = 1
    #: what the caller asked for ("auto", "math", "flash"); ``attention`` is the kernel built
    requested: str = ""
    #: self-attention over a KV cache: keys span n_ctx tokens, the n queries are the newest
    kv_cache: bool = False

    @property
    def packed(self) -> bool:
        """PyTorch's ``_qkv_same_embed_dim``: one in_proj_weight for q, k and v."""
        return self.kdim == self.embed_dim and self.vdim == self.embed_dim

    @property
    def key_len(self):
        source = S.n_src if self.source == "cross" else S.n_ctx if self.kv_cache else S.n
        return source + int(self.add_bias_kv) + int(self.add_zero_attn)


@dataclass(frozen=True)
class AttentionRecord(Cost):
    """``MultiheadAttention``'s record with its ``config`` and ``rebuild`` (config -> record),
    so :func:`costmodel.implementations.sdpa.resolve` can rebuild it as a device runs it."""

    config: AttentionConfig | None = field(default=None, compare=False)
    rebuild: Callable | None = field(default=None, compare=False, repr=False)


def module_record(cfg: AttentionConfig) -> AttentionRecord:
    """The record of ``nn.MultiheadAttention`` for ``cfg``, rebuildable."""
    from costmodel.models.layers import cost_fields

    return AttentionRecord(**cost_fields(attention_block(cfg)), config=cfg,
                           rebuild=module_record)


def MultiheadAttention(embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                       add_zero_attn=False, kdim=None, vdim=None, batch_first=False,
                       device=None, dtype=None, *, attention="auto", causal=False,
                       need_weights=True, input_requires_grad=False,
                       mask_bytes=C.DROPOUT_MASK_BYTES_PER_ELEMENT,
                       kv_cache=False) -> AttentionRecord:
    """``torch.nn.MultiheadAttention`` over ``n`` query tokens, in training mode.

    Costmodel-only keywords: ``attention`` ("auto" | "math" | "flash"; "auto" is the kernel
    PyTorch's CPU runs in training mode: math with need_weights=True or dropout, else its
    flash kernel), ``causal``, ``need_weights``
    (the forward argument; True as in a direct call), ``kv_cache`` (the n queries are the
    newest of ``n_ctx`` cached keys and values; see the module docstring), ``input_requires_grad`` (whether the query input
    needs a gradient; the key/value source never does here) and ``mask_bytes`` (dropout mask
    bytes per element: 1 for CUDA's bool mask, ``symbols.dtype_bytes`` for CPU eager).
    """
    embed_dim = check_size("embed_dim", embed_dim)
    num_heads = check_size("num_heads", num_heads)
    if is_known(embed_dim) and is_known(num_heads) and embed_dim % num_heads:
        raise ValueError(f"embed_dim={embed_dim} must be divisible by num_heads={num_heads}")
    for flag, value in (("bias", bias), ("add_bias_kv", add_bias_kv),
                        ("add_zero_attn", add_zero_attn), ("batch_first", batch_first)):
        check_bool(flag, value)
    source = "self" if kdim is None and vdim is None else "cross"
    requested = check_choice("attention", attention, CHOICES)
    if attention == "auto":
        from costmodel.implementations import sdpa

        attention = sdpa.dispatch(sdpa.CPU, "fp32", "training", dropout=float(dropout),
                                  need_weights=bool(need_weights), module="mha").record
    config = AttentionConfig(
        embed_dim, num_heads, check_probability("dropout", dropout), bias, add_bias_kv,
        add_zero_attn, embed_dim if kdim is None else check_size("kdim", kdim),
        embed_dim if vdim is None else check_size("vdim", vdim), batch_first,
        attention, causal, need_weights, input_requires_grad, mask_bytes, source,
        requested=requested, kv_cache=kv_cache)
    return module_record(config)


def validate(cfg: AttentionConfig) -> None:
    check_choice("attention", cfg.attention, KERNELS)
    for flag, name in (("causal", "causal"), ("need_weights", "need_weights"),
                       ("input_requires_grad", "input_grad")):
        check_bool(flag, getattr(cfg, name))
    if cfg.attention == "flash" and cfg.need_weights:
        raise ValueError("attention='flash' needs need_weights=False: with need_weights=True "
                         "PyTorch takes the bmm path and materialises the probabilities")
    check_bool("kv_cache", cfg.kv_cache)
    if cfg.kv_cache and (cfg.source != "self" or cfg.add_bias_kv or cfg.add_zero_attn):
        raise ValueError("kv_cache=True is modelled for self-attention over the n tokens only "
                         "(no kdim/vdim, add_bias_kv or add_zero_attn)")
    if cfg.causal and (cfg.source != "self" or cfg.add_bias_kv or cfg.add_zero_attn):
        raise ValueError("causal=True is modelled for self-attention over the n tokens only "
                         "(no kdim/vdim, add_bias_kv or add_zero_attn)")
    mask = sp.sympify(cfg.mask_bytes)
    if mask.is_number and not mask > 0:
        raise ValueError(f"mask_bytes={cfg.mask_bytes} must be a positive number of bytes")


def attention_block(cfg: AttentionConfig, name: str | None = None) -> Cost:
    """The record for one configuration: projections, core, out_proj."""
    validate(cfg)
    E, h = cfg.embed_dim, cfg.num_heads
    name = name or (f"MultiheadAttention(embed_dim={E}, num_heads={h}, "
                    f"attention={cfg.attention!r})")
    projections = _projections(cfg)
    core = _core(cfg)
    out_proj = linear_part("out_proj", tokens_of(), E, E, bias=cfg.bias, save_input=False)
    parts = projections + (core, out_proj)
    if cfg.add_bias_kv:
        parts += (Cost(name="bias_k, bias_v", params=KV_TENSORS * E),)
    s, src = S.dtype_bytes, cfg.key_len - int(cfg.add_bias_kv) - int(cfg.add_zero_attn)
    # depth: the q/k/v projections side by side (1), the core, out_proj (1)
    record = combine(name, parts, depth_forward=1 + core.depth_forward + 1,
                     depth_backward=1 + core.depth_backward + 1)
    return dataclasses.replace(
        record, state_bytes=KV_TENSORS * S.batch * src * E * s, in_features=E, out_features=E,
        saved_input_bytes=projections[0].saved_input_bytes if not cfg.batch_first else 0)


def _projections(cfg: AttentionConfig) -> tuple[Cost, ...]:
    """In-projections; their saved inputs are the module's inputs (copies if batch_first)."""
    E, b = cfg.embed_dim, S.batch
    t, t_src = tokens_of(), b * S.n_src
    if cfg.source == "self":
        # x: [t, E] @ in_proj_weight^T: [E, 3E] -> qkv: [t, 3E]
        return (linear_part("in_proj", t, E, 3 * E, bias=cfg.bias, input_grad=cfg.input_grad),)
    q = linear_part("q_proj", t, E, E, bias=cfg.bias, input_grad=cfg.input_grad)
    if cfg.packed:
        # memory: [t_src, E] @ W_kv^T: [E, 2E] -> kv: [t_src, 2E]
        kv = linear_part("kv_proj", t_src, E, 2 * E, bias=cfg.bias, input_grad=False,
                         side_input=True)
        return (q, saving(kv, cfg.memory_saved))
    # key: [t_src, kdim] @ W_k^T -> [t_src, E]; value: [t_src, vdim] @ W_v^T -> [t_src, E]
    # key is value (one memory tensor) when kdim == vdim: saved once unless batch_first made
    # each projection copy its transposed input.
    v = linear_part("v_proj", t_src, cfg.vdim, E, bias=cfg.bias, input_grad=False,
                    side_input=True)
    k = linear_part("k_proj", t_src, cfg.kdim, E, bias=cfg.bias, input_grad=False,
                    side_input=True)
    return (q, k,
            saving(v, copy_switch(cfg.batch_first) if cfg.kdim == cfg.vdim else 1))


def copy_switch(batch_first: bool):
    """1 where a projection saves its own contiguous copy of a [batch, n_src, w] source.

    batch_first inputs are transposed to [n_src, batch, w] and copied for the matmul, unless
    batch == 1 or n_src == 1 makes the transpose contiguous already: Min(x - 1, 1) is 0 at
    x = 1, else 1. Time-major inputs are never copied (0).
    """
    return sp.Min(S.batch - 1, 1) * sp.Min(S.n_src - 1, 1) if batch_first else sp.Integer(0)


def saving(part: Cost, factor) -> Cost:
    """``part`` with its saved input counted ``factor`` times (0: already saved elsewhere)."""
    return dataclasses.replace(part, activation_bytes=part.activation_bytes * factor,
                               saved_input_bytes=part.saved_input_bytes * factor)
