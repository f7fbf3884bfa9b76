"""The Audio Spectrogram Transformer against a small PyTorch AST written here: the patch
embedding (Conv2d with overlapping strides), class tokens, position embeddings, a stack of
pre-norm GELU TransformerEncoderLayers (timm's ViT Block: the same params and matmuls), the
final norm, the pooled class tokens and the head. Params, matmul FLOPs and saved bytes
exact.

Dropout 0: the CPU runs the flash attention op, which FlopCounterMode leaves uncounted;
torch's own flash formulas are mapped onto it (test_attention.torch_flops).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from oracle import assert_three_routes_agree, num_params, saved_bytes
from test_attention import torch_flops
from torch import nn

import costmodel as cm
from costmodel import symbols as S


class ASTRef(nn.Module):
    """AST's forward (ast_models.ASTModel) at a small width."""

    def __init__(self, F, T, p, fs, ts, E, depth, h, mlp, classes, in_chans, tokens, head_norm):
        super().__init__()
        f, t = (F - p) // fs + 1, (T - p) // ts + 1
        self.tokens = tokens
        self.proj = nn.Conv2d(in_chans, E, p, stride=(fs, ts))
        self.class_tokens = nn.Parameter(torch.zeros(1, tokens, E))
        self.pos_embed = nn.Parameter(torch.zeros(1, f * t + tokens, E))
        layer = nn.TransformerEncoderLayer(E, h, mlp, dropout=0.0, activation="gelu",
                                           layer_norm_eps=1e-6, batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, norm=nn.LayerNorm(E, eps=1e-6),
                                            enable_nested_tensor=False)
        self.head = nn.Sequential(*([nn.LayerNorm(E)] if head_norm else []),
                                  nn.Linear(E, classes))

    def forward(self, x):  # x: (b, in_chans, F, T)
        x = self.proj(x).flatten(2).transpose(1, 2)  # (b, f*t, E)
        x = torch.cat((self.class_tokens.expand(x.shape[0], -1, -1), x), dim=1)
        x = self.blocks(x + self.pos_embed)
        x = (x[:, 0] + x[:, 1]) / 2 if self.tokens == 2 else x[:, 0]
        return self.head(x)


configs = st.fixed_dictionaries({
    "F": st.integers(2, 10), "T": st.integers(2, 12), "p": st.integers(1, 4),
    "fs": st.integers(1, 3), "ts": st.integers(1, 3), "h": st.integers(1, 2),
    "hd": st.integers(1, 3), "depth": st.integers(1, 2), "mlp": st.integers(1, 8),
    "classes": st.integers(1, 3), "in_chans": st.integers(1, 2), "tokens": st.sampled_from([1, 2]),
    "head_norm": st.booleans(), "b": st.integers(1, 2),
})


@settings(max_examples=15, deadline=None)
@given(c=configs)
def test_ast_matches_torch(c):
    assume(c["p"] <= c["F"] and c["p"] <= c["T"])
    E = c["h"] * c["hd"]
    rec = cm.AudioSpectrogramTransformer(
        c["classes"], c["fs"], c["ts"], c["F"], patch_size=c["p"], in_chans=c["in_chans"],
        embed_dim=E, depth=c["depth"], num_heads=c["h"], mlp_dim=c["mlp"],
        class_tokens=c["tokens"], head_norm=c["head_norm"])
    got = rec.evaluate(n=c["T"], batch=c["b"])
    torch.manual_seed(0)
    ref = ASTRef(c["F"], c["T"], c["p"], c["fs"], c["ts"], E, c["depth"], c["h"], c["mlp"],
                 c["classes"], c["in_chans"], c["tokens"], c["head_norm"])
    x = torch.randn(c["b"], c["in_chans"], c["F"], c["T"])
    fwd, bwd = torch_flops(ref, x, flash_formulas=True)
    assert got["params"] == num_params(ref)
    assert (got["matmul_flops"], got["matmul_flops_backward"]) == (fwd, bwd)
    assert got["activation_bytes"] == saved_bytes(ref, x)


def test_patch_grid_of_the_paper():
    """128 x 1024, 16 x 16 patches, stride 10 both ways (overlap 6):
    f = (128 - 16) // 10 + 1 = 12, t = (1024 - 16) // 10 + 1 = 101: 1212 patches."""
    f, t = cm.ast_patch_grid(128, 1024)
    assert (f, t, f * t) == (12, 101, 1212)
    f, t = cm.ast_patch_grid(128)  # T left as the sequence length n
    assert f == 12 and t.subs(S.n, 1024) == 101 and t.subs(S.n, 1026) == 102


def test_ast_params_golden():
    """AST (label_dim 527, T = 1024): patch_embed 768*256 + 768 = 197,376; cls + dist
    2*768 = 1,536; positions (1212 + 2)*768 = 932,352; 12 blocks of 2 LayerNorms 3,072 +
    qkv 768*2304 + 2304 = 1,771,776 + proj 590,592 + fc1 2,362,368 + fc2 2,360,064 =
    7,087,872, i.e. 85,054,464; final norm 1,536; mlp_head LayerNorm 1,536 + 768*527 + 527
    = 405,263: 86,594,063.
    ViT-B/16 at 224 x 224 (3 channels, stride 16, one class token, 1000 classes, no head
    norm): 590,592 + 768 + 197*768 + 85,054,464 + 1,536 + 769,000 = 86,567,656, the "86M"
    of ViT-Base (Dosovitskiy et al. 2021, Table 1)."""
    ast = cm.AudioSpectrogramTransformer(input_tdim=1024).evaluate(batch=1)
    assert ast["params"] == (197_376 + 1_536 + 932_352 + 12 * 7_087_872 + 1_536 + 1_536
                             + 405_263) == 86_594_063
    vit = cm.AudioSpectrogramTransformer(1000, 16, 16, 224, 224, in_chans=3, class_tokens=1,
                                         head_norm=False).evaluate(batch=1)
    assert vit["params"] == 86_567_656
    assert abs(vit["params"] - 86e6) / 86e6 < 0.01
    # positions grow with T: 768 per extra token, 12 tokens per extra patch column
    grow = cm.AudioSpectrogramTransformer()
    assert grow.evaluate(n=1034, batch=1)["params"] - ast["params"] == 12 * 768


def test_ast_flops_golden():
    """T = 1024, 1214 tokens (932,352 token-features), flash attention.
    patch_embed 2*1212*768*256 = 476,577,792; per layer qkv 2*932,352*2304 = 4,296,278,016,
    scores and values 2 * 2*12*64*1214^2 = 4,527,501,312, proj 1,432,092,672, MLP
    2 * 2*932,352*3072 = 11,456,741,376: 21,712,613,376; head 2*768*527 = 809,472.
    476,577,792 + 12*21,712,613,376 + 809,472 = 261,028,747,776 (261 GFLOP a spectrogram)."""
    got = cm.AudioSpectrogramTransformer().evaluate(n=1024, batch=1)
    layer = 4_296_278_016 + 4_527_501_312 + 1_432_092_672 + 11_456_741_376
    assert layer == 21_712_613_376
    assert got["matmul_flops"] == 476_577_792 + 12 * layer + 809_472 == 261_028_747_776


def test_crnn_vs_ast_computed():
    """Seed document 000's choice, on its own inputs: the CRNN on 128 x 1292 frames, AST on
    128 x 1024. AST has 46x the parameters (86,594,063 vs 1,869,314), 70x the forward
    matmul FLOPs and 10.7x the saved activations, but 62 dependent steps against the CRNN's
    328 (bidirectional GRU: 2 layers x (1 + 161) steps + 4): fewer sequential steps is the
    whole of its advantage, not less work."""
    crnn = cm.CRNN().evaluate(n=1292, batch=1)
    ast = cm.AudioSpectrogramTransformer().evaluate(n=1024, batch=1)
    assert (crnn["params"], ast["params"]) == (1_869_314, 86_594_063)
    assert 70 < ast["matmul_flops"] / crnn["matmul_flops"] < 71
    assert 10 < ast["activation_bytes"] / crnn["activation_bytes"] < 11
    # depth: patch_embed 1 + 12 layers x 5 (qkv, flash kernel, proj, fc1, fc2) + head 1
    assert ast["depth_forward"] == 1 + 12 * 5 + 1 == 62
    assert crnn["depth_forward"] == 328


def test_symbolic_equals_evaluate_equals_vectorize():
    rec = cm.AudioSpectrogramTransformer(3, 2, 3, 8, patch_size=4, embed_dim="E", depth=2,
                                         num_heads=2, mlp_dim="m")
    assert_three_routes_agree(rec, {"E": 6, "m": 10}, n=11, batch=2)


@pytest.mark.parametrize("call, words", [
    (lambda: cm.ast_patch_grid(8, 100, 16), ("patch_size=16", "input_fdim=8")),
    (lambda: cm.AudioSpectrogramTransformer(input_tdim=10), ("patch_size=16", "input_tdim=10")),
    (lambda: cm.AudioSpectrogramTransformer(input_fdim=12), ("patch_size=16", "input_fdim=12")),
    (lambda: cm.AudioSpectrogramTransformer(fstride=0), ("fstride=0",)),
    (lambda: cm.AudioSpectrogramTransformer(class_tokens=3), ("class_tokens=3",)),
    (lambda: cm.AudioSpectrogramTransformer(embed_dim=770), ("770", "12")),
])
def test_bad_input_names_the_argument(call, words):
    with pytest.raises(ValueError) as err:
        call()
    assert all(w in str(err.value) for w in words)
