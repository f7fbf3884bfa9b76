"""The newer sequence models as rows of ``costmodel compare --models``: S4, Mamba, linear
attention, Linformer, a Conformer block and the Audio Spectrogram Transformer, each at width
``d`` (one block per ``--layers``; AST's encoder depth is ``--layers``), so they sit on the same
axes as the RNN/LSTM/GRU and the Transformer layer. Sizes the comparison does not set take the
defaults of the reference implementations (see each constant's source).
"""

from __future__ import annotations

import costmodel as cm
from costmodel.compose import Sequential

FAMILIES = ("s4", "mamba", "linear_attention", "linformer", "conformer", "ast")
#: Families with attention heads (the comparison's heads apply).
WITH_HEADS = ("linear_attention", "linformer", "conformer", "ast")
#: Families that generate token by token with a state of fixed size (decode: the record at
#: n = 1, whatever the context): S4 and Mamba in recurrent mode, causal linear attention
#: (its per-token step is the record at n = 1: phi(k)^T v of one token, then q against the
#: hd x hd state). Linformer (its [k, n] projections fix n), Conformer and AST are encoders.
CONSTANT_STATE = ("s4", "mamba", "linear_attention")
#: Linformer's projected length: k = 256, the value of Wang et al. 2020's main experiments
#: ("Linformer: Self-Attention with Linear Complexity", Table 2).
LINFORMER_K = 256
#: AST's patch side (its ``patch_size`` default, Gong et al. 2021): a spectrogram of fewer
#: frames has no patch column, so no token.
AST_PATCH_FRAMES = 16
#: S4's state size: s4d.py's S4D(d_model, d_state=64) default (state-spaces/s4).
S4_STATE = 64

#: The sizes each family takes from its reference implementation, for figure footnotes.
SIZES = {"s4": f"S4: d_state {S4_STATE}, FFT convolution",
         "mamba": "Mamba: d_state 16, d_conv 4, expand 2 (its defaults)",
         "linear_attention": "linear attention: phi = elu + 1, non-causal",
         "linformer": f"Linformer: k = {LINFORMER_K}",
         "conformer": "Conformer: depthwise kernel 31",
         "ast": "AST: 16x16 patches, stride 10, 128 mel bins, n = frames"}


def check_length(models, n_smallest: int) -> None:
    """ValueError when a family cannot take sequences as short as ``n_smallest``."""
    if "ast" in models and n_smallest < AST_PATCH_FRAMES:
        raise ValueError(f"n={n_smallest}: ast needs at least {AST_PATCH_FRAMES} frames (one "
                         f"{AST_PATCH_FRAMES}-frame patch column); choose n >= "
                         f"{AST_PATCH_FRAMES} or drop ast")


def build_family(name: str, d: int, heads: int, ffn: int, layers: int, attention: str,
                 serving: bool = False):
    """The record of one family at width ``d``; ``serving`` builds S4 in recurrent mode
    (step by step, as it generates) instead of its FFT convolution mode."""
    fused = "flash" if attention == "auto" else attention  # torchaudio/AST call SDPA
    if name == "ast":
        return cm.AudioSpectrogramTransformer(embed_dim=d, depth=layers, num_heads=heads,
                                              mlp_dim=ffn, attention=fused)
    one = {
        "s4": lambda: cm.S4(d, S4_STATE, mode="recurrent" if serving else "convolution"),
        "mamba": lambda: cm.Mamba(d),
        "linear_attention": lambda: cm.LinearAttention(d, heads),
        "linformer": lambda: cm.Linformer(d, heads, LINFORMER_K),
        "conformer": lambda: cm.ConformerBlock(d, heads, ffn, dropout=0.0, attention=fused),
    }[name]
    return one() if layers == 1 else Sequential(*(one() for _ in range(layers)))
