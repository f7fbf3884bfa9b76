"""Transformer layers and stacks mirroring ``torch.nn`` (training mode, the non-fast path).

``TransformerEncoderLayer``/``TransformerDecoderLayer`` return a :class:`LayerRecord`: a cost
record that also keeps the layer's :class:`LayerConfig` (``record.config.d_model``, ...), so
``TransformerEncoder(layer, num_layers)`` takes it as torch takes the layer module. Parts are
named as torch names the submodules (``self_attn``, ``norm1``, ``linear1``, ``activation``,
``dropout``, ``linear2``, ``dropout1``, ...) so ``record.breakdown()`` shows where cost comes
from. Costmodel-only keywords: ``attention`` ("auto" | "math" | "flash"; "auto" is the
kernel PyTorch runs, resolved per device and mode by :func:`costmodel.predict`, see
:mod:`costmodel.implementations.sdpa`; without a device, the CPU's choice in training),
``causal`` (the self-attention's mask) and ``mask_bytes``
(dropout mask bytes per element: 1 for CUDA's bool mask, ``symbols.dtype_bytes`` on CPU eager).

``activation`` is "relu" or "gelu"; torch also takes a callable, which we reject (its cost is
unknown). Inputs (``src``/``tgt`` and ``memory``) do not require grad; the first layer of a
stack therefore skips the grad-input matmul of its first projection and later layers do not.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import sympy as sp

from costmodel import conventions as C
from costmodel import symbols as S
from costmodel.checks import (check_bool, check_choice, check_probability, check_size,
                              is_known)
from costmodel.compose import combine, scale
from costmodel.cost import Cost
from costmodel.models.attention import (CHOICES, AttentionConfig, attention_block,
                                        copy_switch)
from costmodel.models.layers import (LayerNorm, activation_part, cost_fields,
                                     dropout_or_none, named)
from costmodel.models.primitives import linear_part, pointwise_part, tokens_of

#: Math attention at its softmax: the scores and the probabilities it writes are both live
#: (sdpa's math kernel and need_weights=True's bmm path; the CPU inference fast path's softmax
#: allocates nothing, measured: there one copy, so this is its upper bound; tests/test_sdpa.py).
MATH_SCORE_COPIES = 2
#: The FFN at its activation: linear1's output and the activation's (out of place) are live.
FFN_HIDDEN_COPIES = 2
#: A residual add: one add per element forward; its backward passes the gradient through.
RESIDUAL_FLOPS = 1
ACTIVATIONS = ("relu", "gelu")


@dataclass(frozen=True)
class LayerConfig:
    kind: str  # "encoder" or "decoder"
    d_model: object
    nhead: object
    dim_feedforward: object
    dropout: float
    activation: str
    layer_norm_eps: float
    batch_first: bool
    norm_first: bool
    bias: bool
    attention: str  # "auto", "math" or "flash": what the caller asked for
    causal: bool
    mask_bytes: object
    #: the attention record built ("math" | "flash"): attention itself, or for "auto" what
    #: PyTorch runs (costmodel.implementations.sdpa); device-free: the CPU in training mode
    kernel: str = ""
    #: self-attention over a KV cache of n_ctx tokens (costmodel.decode; see models.attention)
    kv_cache: bool = False

    def forward_transient_bytes(self) -> sp.Expr:
        """Bytes live at the peak of one inference forward beyond the weights and K, V (the
        ``state_bytes``): the larger of the attention stage (input, q, and the core's working
        set: the n x L scores and probabilities of math attention, or the fused kernels'
        output and one fp32 statistic per query row) and the FFN stage (input and two
        [tokens, ffn] tensors). Layers run one after another, so a stack's peak is one layer's.
        """
        d, t, s, b = self.d_model, tokens_of(), S.dtype_bytes, S.batch
        keys = [S.n_ctx if self.kv_cache else S.n] + ([S.n_src] if self.kind == "decoder"
                                                        else [])
        if self.kernel == "math":
            core = sp.Max(*(MATH_SCORE_COPIES * b * self.nhead * S.n * L * s for L in keys))
        else:
            core = t * d * s + b * self.nhead * S.n * C.STATISTICS_BYTES
        attention_stage = 2 * t * d * s + core  # input and q, then the core
        ffn_stage = t * d * s + FFN_HIDDEN_COPIES * t * self.dim_feedforward * s
        return sp.Max(attention_stage, ffn_stage)


@dataclass(frozen=True)
class LayerRecord(Cost):
    """A layer's cost record that remembers how it was built: ``config``, and ``rebuild``
    (config -> record), which builds the same layer or stack from a changed config (the
    attention kernel and dropout a device and mode imply, see :func:`costmodel.predict`)."""

    config: LayerConfig | None = field(default=None, compare=False)
    rebuild: Callable | None = field(default=None, compare=False, repr=False)


def _config(kind, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
            batch_first, norm_first, bias, attention, causal, mask_bytes) -> LayerConfig:
    if callable(activation) or activation not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r} is not one of: relu, gelu (a callable "
                         f"is not accepted: its cost is unknown)")
    for flag, value in (("batch_first", batch_first), ("norm_first", norm_first),
                        ("bias", bias), ("causal", causal)):
        check_bool(flag, value)
    cfg = LayerConfig(kind, check_size("d_model", d_model), check_size("nhead", nhead),
                      check_size("dim_feedforward", dim_feedforward),
                      check_probability("dropout", dropout), activation, layer_norm_eps,
                      batch_first, norm_first, bias, attention, causal, mask_bytes)
    return _checked(cfg)


def _checked(cfg: LayerConfig) -> LayerConfig:
    """``cfg`` with its kernel chosen (device-free for "auto"), every check run."""
    check_choice("attention", cfg.attention, CHOICES)
    check_bool("causal", cfg.causal)
    if cfg.attention != "auto":
        cfg = dataclasses.replace(cfg, kernel=cfg.attention)
    elif not cfg.kernel:
        from costmodel.implementations import sdpa

        cfg = dataclasses.replace(cfg, kernel=sdpa.dispatch(
            sdpa.CPU, "fp32", "training", **sdpa.layer_arguments(cfg)).record)
    _attention(cfg, "self", input_grad=True)  # embed_dim % num_heads and kernel checks
    return cfg


def _attention(cfg: LayerConfig, source: str, input_grad: bool, memory_saved=True) -> Cost:
    d = cfg.d_model
    att = AttentionConfig(d, cfg.nhead, cfg.dropout, cfg.bias, False, False, d, d,
                          cfg.batch_first, cfg.kernel, cfg.causal and source == "self",
                          need_weights=False, input_grad=input_grad, mask_bytes=cfg.mask_bytes,
                          source=source, memory_saved=memory_saved,
                          kv_cache=cfg.kv_cache and source == "self")
    if is_known(d) and is_known(cfg.nhead) and d % cfg.nhead:
        raise ValueError(f"d_model={d} must be divisible by nhead={cfg.nhead}")
    return attention_block(att)


def _residual(cfg: LayerConfig, name: str) -> Cost:
    return pointwise_part(name, tokens_of() * cfg.d_model, RESIDUAL_FLOPS, 0, inputs=2)


def _ffn(cfg: LayerConfig, dropout_name: str) -> tuple[Cost, ...]:
    """linear1 -> activation -> dropout -> linear2 -> dropout{2,3}."""
    d, ff, t = cfg.d_model, cfg.dim_feedforward, tokens_of()
    inner = dropout_or_none(cfg.dropout, ff, cfg.mask_bytes, "dropout")
    # ReLU saves its output; with no dropout between, that is linear2's saved input too.
    shared = not inner and cfg.activation == "relu"
    return (
        named(linear_part("linear1", t, d, ff, bias=cfg.bias), "linear1"),  # [t,d]@[d,ff]
        activation_part(cfg.activation, ff, "activation"),
        *inner,
        named(linear_part("linear2", t, ff, d, bias=cfg.bias, save_input=not shared),
               "linear2"),  # [t, ff] @ [ff, d] -> [t, d]
        *dropout_or_none(cfg.dropout, d, cfg.mask_bytes, dropout_name),
    )


def _norm(cfg: LayerConfig, name: str) -> Cost:
    return named(LayerNorm(cfg.d_model, eps=cfg.layer_norm_eps, bias=cfg.bias), name)


def _block(cfg: LayerConfig, index: int, sublayer: tuple[Cost, ...]) -> tuple[Cost, ...]:
    """One residual block: x + drop(f(norm(x))) (norm_first) or norm(x + drop(f(x)))."""
    norm = _norm(cfg, f"norm{index}")
    residual = _residual(cfg, f"residual{index}")
    return (norm, *sublayer, residual) if cfg.norm_first else (*sublayer, residual, norm)


def build_layer(cfg: LayerConfig, input_grad: bool = False, memory_saved=1):
    """The layer record; ``input_grad`` says whether the layer's input needs a gradient."""
    self_grad = input_grad or cfg.norm_first  # behind norm1's weights when norm_first
    blocks = [(named(_attention(cfg, "self", self_grad), "self_attn"),
               *dropout_or_none(cfg.dropout, cfg.d_model, cfg.mask_bytes, "dropout1"))]
    if cfg.kind == "decoder":
        cross = _attention(cfg, "cross", input_grad=True, memory_saved=memory_saved)
        blocks.append((named(cross, "multihead_attn"),
                       *dropout_or_none(cfg.dropout, cfg.d_model, cfg.mask_bytes, "dropout2")))
    last = len(blocks) + 1
    blocks.append(_ffn(cfg, f"dropout{last}"))
    parts = [p for i, sub in enumerate(blocks, start=1) for p in _block(cfg, i, sub)]
    kind = "Encoder" if cfg.kind == "encoder" else "Decoder"
    name = f"Transformer{kind}Layer(d_model={cfg.d_model}, nhead={cfg.nhead})"
    record = combine(name, parts)
    return LayerRecord(**{**cost_fields(record), "in_features": cfg.d_model,
                          "out_features": cfg.d_model}, config=cfg,
                       rebuild=lambda c: build_layer(_checked(c), input_grad, memory_saved))


def TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
                            activation="relu", layer_norm_eps=1e-5, batch_first=False,
                            norm_first=False, bias=True, device=None, dtype=None, *,
                            attention="auto", causal=False,
                            mask_bytes=C.DROPOUT_MASK_BYTES_PER_ELEMENT) -> LayerRecord:
    """``torch.nn.TransformerEncoderLayer``: self-attention block, then the FFN block."""
    return build_layer(_config("encoder", d_model, nhead, dim_feedforward, dropout, activation,
                               layer_norm_eps, batch_first, norm_first, bias, attention,
                               causal, mask_bytes))


def TransformerDecoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
                            activation="relu", layer_norm_eps=1e-5, batch_first=False,
                            norm_first=False, bias=True, device=None, dtype=None, *,
                            attention="auto", causal=False,
                            mask_bytes=C.DROPOUT_MASK_BYTES_PER_ELEMENT) -> LayerRecord:
    """``torch.nn.TransformerDecoderLayer``: self-attention, cross-attention over a memory of
    ``n_src`` tokens, FFN. ``causal`` masks the self-attention (``tgt_is_causal``)."""
    return build_layer(_config("decoder", d_model, nhead, dim_feedforward, dropout, activation,
                               layer_norm_eps, batch_first, norm_first, bias, attention,
                               causal, mask_bytes))


def _stack(kind: str, layer, num_layers, norm, attention, causal) -> Cost:
    if not isinstance(layer, LayerRecord) or layer.config is None or layer.config.kind != kind:
        raise ValueError(f"{kind}_layer must be a Transformer{kind.title()}Layer record")
    num_layers = check_size("num_layers", num_layers)
    if norm is not None and not isinstance(norm, Cost):
        raise ValueError(f"norm={norm!r} must be a cost record (e.g. LayerNorm(d_model)) or None")
    cfg = layer.config
    if attention is not None or causal is not None:
        cfg = _checked(dataclasses.replace(
            cfg, attention=cfg.attention if attention is None else attention, kernel="",
            causal=cfg.causal if causal is None else causal))
    return _stack_of(kind, cfg, num_layers, norm)


def _stack_of(kind: str, cfg: LayerConfig, num_layers, norm) -> "LayerRecord":
    first = build_layer(cfg)
    # Later layers: their input needs a gradient; memory is saved again only where each
    # layer's projection copies it (batch_first transposes it first).
    rest = scale(build_layer(cfg, input_grad=True, memory_saved=copy_switch(cfg.batch_first)),
                 num_layers - 1)
    merged = [combine(a.name, (a, b)) for a, b in zip(first.parts, rest.parts)]
    if norm is not None:
        merged.append(named(norm, "norm"))
    name = f"Transformer{kind.title()}(num_layers={num_layers}, d_model={cfg.d_model})"
    return LayerRecord(**{**cost_fields(combine(name, merged)), "in_features": cfg.d_model,
                          "out_features": cfg.d_model}, config=cfg,
                       rebuild=lambda c: _stack_of(kind, _checked(c), num_layers, norm))


def TransformerEncoder(encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
                       mask_check=True, *, attention=None, causal=None) -> Cost:
    """``torch.nn.TransformerEncoder``: ``num_layers`` copies of ``encoder_layer`` (a record
    from :func:`TransformerEncoderLayer`) and an optional final ``norm`` record."""
    return _stack("encoder", encoder_layer, num_layers, norm, attention, causal)


def TransformerDecoder(decoder_layer, num_layers, norm=None, *, attention=None,
                       causal=None) -> Cost:
    """``torch.nn.TransformerDecoder`` over a memory of ``n_src`` tokens."""
    return _stack("decoder", decoder_layer, num_layers, norm, attention, causal)
