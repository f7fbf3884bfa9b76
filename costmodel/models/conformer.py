"""A Conformer block (Gulati et al. 2020), laid out as ``torchaudio.models.ConformerLayer``:

    x = x + 1/2 * FFN(x)          FFN: LayerNorm, Linear(d, f), SiLU, Dropout, Linear(f, d),
                                  Dropout
    x = x + MHSA(x)               LayerNorm, nn.MultiheadAttention (need_weights=False),
                                  Dropout
    x = x + Conv(x)               LayerNorm, pointwise Conv1d(d, 2d, 1), GLU, depthwise
                                  Conv1d(d, d, K, groups=d, padding=(K-1)/2), BatchNorm1d,
                                  SiLU, pointwise Conv1d(d, d, 1), Dropout
    x = x + 1/2 * FFN(x)
    x = LayerNorm(x)

Built from the existing records (``LayerNorm``, ``Linear`` parts, ``MultiheadAttention``,
``Conv1d``, ``Dropout``) with :func:`costmodel.compose.combine`. The attention is the plain
multi-head attention torchaudio uses (the paper's relative positional encoding is not
modelled). Every matmul after the first LayerNorm computes its input gradient.
"""

from __future__ import annotations

from costmodel import conventions as C
from costmodel.checks import check_size, is_known
from costmodel.compose import combine
from costmodel.cost import Cost
from costmodel.models.attention import MultiheadAttention
from costmodel.models.conv import Conv1d
from costmodel.models.layers import LayerNorm, dropout_or_none, named
from costmodel.models.primitives import linear_part, pointwise_part, tokens_of
from costmodel.models.sequence_ops import batchnorm, glu, silu

#: FFN width when not given: four times d_model (the paper's expansion factor).
FFN_EXPANSION = 4
#: The half-step residual of each FFN: multiply by 1/2 and add (2 FLOPs per element);
#: backward scales the gradient (1).
HALF_STEP_FLOPS = 2
HALF_STEP_BACKWARD_FLOPS = 1
#: A residual add (1 FLOP per element forward; the gradient passes through).
RESIDUAL_FLOPS = 1
#: The pointwise convolution's output channels before GLU: twice d_model.
GLU_CHANNELS = 2


def _residual(name: str, elements, flops=RESIDUAL_FLOPS, backward=0) -> Cost:
    return pointwise_part(name, elements, flops, backward, inputs=2)


def _ffn(prefix: str, d, f, dropout, mask_bytes) -> tuple[Cost, ...]:
    t = tokens_of()
    return (
        named(LayerNorm(d), f"{prefix}.norm"),
        linear_part(f"{prefix}.linear1", t, d, f),  # [t, d] @ [d, f] -> [t, f]
        silu(f"{prefix}.silu", t * f),
        *dropout_or_none(dropout, f, mask_bytes, f"{prefix}.dropout1"),
        linear_part(f"{prefix}.linear2", t, f, d),  # [t, f] @ [f, d] -> [t, d]
        *dropout_or_none(dropout, d, mask_bytes, f"{prefix}.dropout2"),
        _residual(f"{prefix}.half_step", t * d, HALF_STEP_FLOPS, HALF_STEP_BACKWARD_FLOPS),
    )


def _conv_module(d, kernel_size, dropout, mask_bytes) -> tuple[Cost, ...]:
    """(batch, d, n) layout; the depthwise conv keeps the length (odd kernel, same padding)."""
    t = tokens_of()
    return (
        named(LayerNorm(d), "conv.norm"),
        named(Conv1d(d, GLU_CHANNELS * d, 1, input_requires_grad=True), "conv.pointwise1"),
        glu("conv.glu", t * d),
        named(Conv1d(d, d, kernel_size, padding=(kernel_size - 1) // 2, groups=d,
                     input_requires_grad=True), "conv.depthwise"),
        batchnorm("conv.batchnorm", d, t * d),
        silu("conv.silu", t * d),
        named(Conv1d(d, d, 1, input_requires_grad=True), "conv.pointwise2"),
        *dropout_or_none(dropout, d, mask_bytes, "conv.dropout"),
        _residual("conv.residual", t * d),
    )


def ConformerBlock(d_model, num_heads, ffn_dim=None, depthwise_conv_kernel_size=31,
                   dropout=0.1, *, attention="math",
                   mask_bytes=C.DROPOUT_MASK_BYTES_PER_ELEMENT) -> Cost:
    """One Conformer block (``torchaudio.models.ConformerLayer(d_model, ffn_dim, num_heads,
    depthwise_conv_kernel_size, dropout)``), training mode, time-major attention input.

    ``ffn_dim`` defaults to 4 * d_model. ``attention`` ("math" | "flash") and ``mask_bytes``
    as for :func:`costmodel.TransformerEncoderLayer`.
    """
    d = check_size("d_model", d_model)
    f = FFN_EXPANSION * d if ffn_dim is None else check_size("ffn_dim", ffn_dim)
    K = check_size("depthwise_conv_kernel_size", depthwise_conv_kernel_size)
    if is_known(K) and K % 2 == 0:
        raise ValueError(f"depthwise_conv_kernel_size={K} must be odd (same padding keeps "
                         f"the sequence length)")
    if not is_known(K):
        raise ValueError("depthwise_conv_kernel_size must be an odd integer, not a symbol")
    t = tokens_of()
    attn = MultiheadAttention(d, num_heads, dropout, attention=attention, need_weights=False,
                              input_requires_grad=True, mask_bytes=mask_bytes)
    parts = (
        *_ffn("ffn1", d, f, dropout, mask_bytes),
        named(LayerNorm(d), "self_attn_layer_norm"),
        named(attn, "self_attn"),
        *dropout_or_none(dropout, d, mask_bytes, "self_attn_dropout"),
        _residual("self_attn.residual", t * d),
        *_conv_module(d, K, dropout, mask_bytes),
        *_ffn("ffn2", d, f, dropout, mask_bytes),
        named(LayerNorm(d), "final_layer_norm"),
    )
    name = (f"ConformerBlock(d_model={d}, num_heads={num_heads}, ffn_dim={f}, "
            f"depthwise_conv_kernel_size={K}, attention={attention!r})")
    return combine(name, parts)

