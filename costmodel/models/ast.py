"""The Audio Spectrogram Transformer (Gong, Chung and Glass 2021), the Transformer the
music-emotion study (seed document 000) chose over its CRNN, so the two can be compared.

On ``batch`` log-mel spectrograms of ``n_mels`` (F = 128) bins by ``n`` frames (T)::

    patch_embed   Conv2d(1, 768, kernel_size=16, stride=(10, 10)) on (batch, 1, F, T):
                  16 x 16 patches overlapping by 6 in both axes, f x t of them, each a token
    tokens        cat(cls token, distillation token, patches) + position embeddings
                  [(f*t + 2), 768], all parameters
    blocks        12 ViT-Base layers: pre-norm, 12 heads, MLP 3072, GELU, LayerNorm eps 1e-6
                  (timm's Block; the same params and matmuls as
                  TransformerEncoderLayer(768, 12, 3072, activation="gelu", norm_first=True))
    norm          LayerNorm(768) over every token
    pool          (x[:, 0] + x[:, 1]) / 2: the mean of the two class tokens
    mlp_head      LayerNorm(768), Linear(768, num_classes)

The patch grid is PyTorch's convolution output size (as in AST's ``get_shape``)::

    f = (F - 16) // fstride + 1,  t = (T - 16) // tstride + 1,  patches = f * t
    F = 128, T = 1024, strides 10:  f = (128 - 16) // 10 + 1 = 12,
                                    t = (1024 - 16) // 10 + 1 = 101,  12 * 101 = 1212 patches,
                                    1214 tokens with the two class tokens.

(The paper writes N = 12 ceil((100t - 16) / 10) for t seconds at 100 frames per second: the
same 1212 at T = 1024, but one patch column fewer whenever 10 divides T - 16; the code's
floor formula is what runs.) The position embeddings are sized by the token count, so the
parameter count grows with T: 768 per extra token. AST's own module also keeps the DeiT
classifier heads ``v.head`` and ``v.head_dist`` (2 x Linear(768, 1000), 1,538,000 params)
that its forward never uses; they are not counted here.
"""

from __future__ import annotations

import sympy as sp

from costmodel import symbols as S
from costmodel.checks import check_bool, check_size, is_known
from costmodel.compose import Sequential, combine
from costmodel.cost import Cost
from costmodel.models.conv import Conv2d, conv_out_size
from costmodel.models.layers import LayerNorm, Linear, named
from costmodel.models.primitives import pointwise_part
from costmodel.models.transformer import TransformerEncoder, TransformerEncoderLayer

#: timm's ViT LayerNorm epsilon.
VIT_LAYER_NORM_EPS = 1e-6
#: Position-embedding add: one add per token element (its gradient passes through).
POSITION_ADD_FLOPS = 1
#: Pooling two class tokens: an add and a halving per element (2); backward halves the
#: gradient into both (1 per element of each).
TWO_TOKEN_POOL_FLOPS = 2
TWO_TOKEN_POOL_BACKWARD_FLOPS = 1


def ast_patch_grid(input_fdim=128, input_tdim=S.n, patch_size=16, fstride=10, tstride=10):
    """``(f, t)``: patches along frequency and time (see the module docstring).

    ValueError when a patch is larger than the spectrogram along an axis whose size is known.
    """
    F = check_size("input_fdim", input_fdim)
    T = check_size("input_tdim", input_tdim)
    p = check_size("patch_size", patch_size)
    for axis, size in (("input_fdim", F), ("input_tdim", T)):
        if is_known(size) and is_known(p) and p > size:
            raise ValueError(f"patch_size={p} is larger than the spectrogram: {axis}={size} "
                             f"(patch_size must be at most {axis})")
    return (conv_out_size(F, p, check_size("fstride", fstride)),
            conv_out_size(T, p, check_size("tstride", tstride)))


def _tokens(E, f, class_tokens) -> Cost:
    """(batch, E, f, t) patches -> (batch, f*t + class_tokens, E) tokens plus positions; its
    input length n is t, its output length the token count."""
    tokens = f * S.n + class_tokens
    elements = S.batch * tokens * sp.sympify(E)
    part = pointwise_part("tokens", elements, POSITION_ADD_FLOPS, 0, inputs=2)
    return Cost(name="tokens", params=class_tokens * E + tokens * E,  # class tokens, positions
                elementwise_flops=part.elementwise_flops, bytes=part.bytes,
                kernels=part.kernels, out_len=tokens)


def _pool(E, class_tokens) -> Cost:
    if class_tokens == 1:
        # x[:, 0] is a view: the head's first op saves it, which keeps the whole [batch, n, E]
        # token tensor alive, n - 1 rows more than the row it counts itself
        return Cost(name="pool", activation_bytes=S.batch * (S.n - 1) * E * S.dtype_bytes,
                    out_len=1)
    part = pointwise_part("pool", S.batch * E, TWO_TOKEN_POOL_FLOPS,
                          class_tokens * TWO_TOKEN_POOL_BACKWARD_FLOPS, inputs=class_tokens)
    return Cost(name="pool", elementwise_flops=part.elementwise_flops,
                elementwise_flops_backward=part.elementwise_flops_backward, bytes=part.bytes,
                kernels=part.kernels, out_len=1)


def AudioSpectrogramTransformer(num_classes=527, fstride=10, tstride=10, input_fdim=128,
                                input_tdim=None, *, patch_size=16, in_chans=1, embed_dim=768,
                                depth=12, num_heads=12, mlp_dim=3072, class_tokens=2,
                                head_norm=True, dropout=0.0, attention="flash") -> Cost:
    """AST (``ASTModel(label_dim, fstride, tstride, input_fdim, input_tdim)``), training mode.

    ``input_tdim=None`` leaves the frame count as the sequence length ``n``; an int fixes it.
    The ViT-Base width (768, 12 heads, MLP 3072, 12 layers) and AST's two class tokens are
    defaults; ``class_tokens=1, head_norm=False, in_chans=3`` gives a plain ViT.
    ``attention`` is the encoder's kernel ("flash" | "math").
    """
    if class_tokens not in (1, 2):
        raise ValueError(f"class_tokens={class_tokens!r} must be 1 (cls) or 2 (cls and "
                         f"distillation)")
    check_bool("head_norm", head_norm)
    E = check_size("embed_dim", embed_dim)
    T = S.n if input_tdim is None else check_size("input_tdim", input_tdim)
    f, _ = ast_patch_grid(input_fdim, T, patch_size, fstride, tstride)
    patch = named(Conv2d(check_size("in_chans", in_chans), E, patch_size,
                         stride=(fstride, tstride), input_height=input_fdim), "patch_embed")
    layer = TransformerEncoderLayer(E, num_heads, mlp_dim, dropout, activation="gelu",
                                    layer_norm_eps=VIT_LAYER_NORM_EPS, batch_first=True,
                                    norm_first=True, attention=attention)
    blocks = named(TransformerEncoder(layer, depth, norm=LayerNorm(E, eps=VIT_LAYER_NORM_EPS)),
                   "blocks")
    head = (named(LayerNorm(E), "mlp_head.norm"),) if head_norm else ()
    head += (named(Linear(E, check_size("num_classes", num_classes),
                          input_requires_grad=True), "mlp_head.linear"),)
    name = (f"AudioSpectrogramTransformer(num_classes={num_classes}, fstride={fstride}, "
            f"tstride={tstride}, input_fdim={input_fdim}, embed_dim={E}, depth={depth})")
    record = Sequential(patch, _tokens(E, f, class_tokens), blocks, _pool(E, class_tokens),
                        combine("mlp_head", head), name=name)
    return record if input_tdim is None else record.xreplace({S.n: T})
