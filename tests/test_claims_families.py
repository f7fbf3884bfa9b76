"""The seed documents' claims about the newer families (S4, Mamba, Linformer, AST), computed
with their records; the log-aware big-O they need; the utilization of one record."""

from __future__ import annotations

import pytest
import sympy as sp

import costmodel as cm
from costmodel import symbols as S
from costmodel.bigo import big_o, leading_terms
from costmodel.claims import check_claims
from costmodel.claims.evaluators import REGISTRY


@pytest.fixture(scope="module")
def results():
    return {v.claim.id: v for v in check_claims()}


@pytest.mark.parametrize("cid, status, computed, convention", [
    # Linformer(d, h, k=256).activation_bytes in n: 261 n + 512 at d = h = 1: O(n)
    ("000-156", "holds", "O(n)", ""),
    # S4 by FFT: 15 n ceil(log2 2n) + 379 n + 806 -> n log n; step by step 469 n + 800 -> n
    ("000-158", "convention", "O(n*log(n))",
     "computed step by step (recurrent mode), as it generates"),
    # S4's recurrent state: [d, d_state/2] complex = d * 64 reals, no n
    ("000-159", "holds", "O(1)", ""),
    # Mamba(d).flops at d = 1: 426 n + 118
    ("000-160", "holds", "O(n)", ""),
    # Mamba's state: batch * 2d * (d_conv + d_state) * s = 2 * (4 + 16) = 40 at d = 1
    ("000-161", "holds", "O(1)", ""),
    ("004-017", "holds", "O(1)", ""),
    ("004-018", "holds", "O(1)", ""),
])
def test_family_claims(results, cid, status, computed, convention):
    v = results[cid]
    assert (v.status, str(v.computed), v.convention) == (status, computed, convention), v.reason
    assert v.reason  # the why is always given


def test_ast_parameters_are_the_family_record(results):
    # 16x16 patch Conv2d(1, 768): 768*256 + 768                          =    197,376
    # positional embeddings (1,212 + 2) * 768 + cls and dist tokens 2*768 =    933,888
    # 12 pre-norm layers: 4*768^2 + 4*768 + 2*768*3072 + 3072 + 768 + 4*768
    #                   = 7,087,872 each                                 = 85,054,464
    # final LayerNorm 2*768, head LayerNorm 2*768, head Linear 768*2 + 2  =      4,610
    #                                                                total = 86,190,338
    ast = 197_376 + 933_888 + 85_054_464 + 4_610
    assert ast == 86_190_338
    record = cm.AudioSpectrogramTransformer(num_classes=2, input_tdim=1024)
    assert int(record.params) == ast
    v = results["000-007"]
    crnn_flat, crnn_mean = (int(cm.CRNN(freq_reduction=r).params) for r in ("flatten", "mean"))
    assert v.status == "off" and v.computed == (ast / crnn_flat, ast / crnn_mean)


def test_leading_terms_keep_logarithms():
    n, d = S.n, S.size_symbol("d")
    two_n = 2 * n
    fft = 15 * n * sp.ceiling(sp.log(two_n) / sp.log(2)) + 379 * n + 806
    assert leading_terms(fft) == n * sp.log(n)  # n log n outgrows n
    scan = 2 * sp.ceiling(sp.log(n) / sp.log(2)) + 5
    assert big_o(scan) == "O(log(n))"  # a parallel scan's depth is not O(1)
    # a power outgrows any power of a log; incomparable sizes both stay
    assert leading_terms(n**2 + n * sp.log(n) ** 3) == n**2
    assert leading_terms(d**2 * n + d * n * sp.log(n)) == d**2 * n + d * n * sp.log(n)
    assert big_o(cm.Mamba("d").depth_forward) == "O(log(n))"


def test_utilization_counts_flops_and_time_of_the_same_record():
    from costmodel.claims.evaluators_measured import _ast, _utilization
    from costmodel.hardware import load_hardware
    from costmodel.implementations.sdpa import resolve
    from costmodel.roofline import predict

    layer, hw = _ast({"ast_d": 768}), load_hardware("a100")
    ran = resolve(layer, hw, "fp32", "training")[0]  # A100 fp32 training: a fused kernel
    flops = ran.evaluate(n=1212, batch=1)["flops_training"]
    t = predict(ran, hw, n=1212, batch=1)
    want = flops / (t.forward_s + t.backward_s) / hw.peaks["fp32"]
    assert _utilization(layer, {"gpu": "a100"}, 1212, 1) == pytest.approx(want, rel=1e-12)
    # the device-free record (math kernel) counts other FLOPs: the old mix was wrong
    assert layer.evaluate(n=1212, batch=1)["flops_training"] != flops


def test_big_o_alternative_keywords_are_named():
    out = REGISTRY["big_o"]({"model": "S4", "args": ["d"], "field": "flops", "keep": ["n"],
                             "alt_kwargs": {"mode": "recurrent"}, "alt_label": "stepwise"})
    assert out.value == "O(n*log(n))" and out.alternatives == (("stepwise", "O(n)"),)
