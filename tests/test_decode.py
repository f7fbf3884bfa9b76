"""Prefill and decode as a substitution (costmodel.decode): same formulas at another query
length, torch as the oracle for one KV-cache decode step, the CLI printing the library's."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import costmodel as cm
from costmodel import symbols as S
from costmodel.cost import FIELDS
from costmodel.decode import (cached, compare_serving, first_at_most, serve, step_timing,
                              symbolic_crossover)
from costmodel.hardware import load_hardware
from costmodel.roofline import predict
from clirun import run

H100 = load_hardware("h100")


@pytest.mark.parametrize("attention,causal", [("math", False), ("math", True),
                                              ("flash", False), ("flash", True)])
def test_a_cache_of_n_tokens_is_the_record_without_one(attention, causal):
    """House rule 1: the cached layer at n_ctx = n is the training layer, field by field."""
    layer = cm.TransformerEncoderLayer(64, 4, 128, dropout=0.0, attention=attention,
                                       causal=causal)
    with_cache = cached(layer)
    assert S.n_ctx in with_cache.free_symbols and S.n_ctx not in layer.free_symbols
    same = with_cache.xreplace({S.n_ctx: S.n})
    for q in FIELDS:
        assert (same.get(q) - layer.get(q)).expand() == 0, q


def _decode_step_flops(mha: nn.MultiheadAttention, x_new, k_cache, v_cache) -> int:
    """One decode step of ``mha`` with a KV cache, written with its own weights: project the
    new token, append its k and v to the cache, attend over the cache, out_proj."""
    E, h = mha.embed_dim, mha.num_heads
    b = x_new.shape[0]
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter, sdpa_kernel(SDPBackend.MATH):
        q, k, v = F.linear(x_new, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
        heads = lambda t: t.reshape(b, -1, h, E // h).transpose(1, 2)  # noqa: E731
        k_all, v_all = torch.cat([k_cache, heads(k)], 2), torch.cat([v_cache, heads(v)], 2)
        out = F.scaled_dot_product_attention(heads(q), k_all, v_all)
        F.linear(out.transpose(1, 2).reshape(b, 1, E), mha.out_proj.weight, mha.out_proj.bias)
    return counter.get_total_flops()


@settings(max_examples=8, deadline=None)
@given(heads=st.integers(1, 4), head_dim=st.integers(1, 8), b=st.integers(1, 3),
       context=st.integers(1, 40))
def test_decode_step_matmul_flops_equal_torch_with_a_kv_cache(heads, head_dim, b, context):
    E = heads * head_dim
    mha = nn.MultiheadAttention(E, heads, batch_first=True)
    cache = [torch.randn(b, heads, context - 1, head_dim) for _ in range(2)]
    expected = _decode_step_flops(mha, torch.randn(b, 1, E), *cache)
    record = cm.MultiheadAttention(E, heads, attention="math", need_weights=False,
                                   kv_cache=True)
    got = record.evaluate(n=1, batch=b, n_ctx=context)["matmul_flops"]
    # 2*b*E*3E (in_proj) + 2 * 2*b*heads*context*head_dim (q k^T, p v) + 2*b*E*E (out_proj)
    assert got == expected == 2 * b * E * 3 * E + 4 * b * E * context + 2 * b * E * E


def test_decode_golden_numbers_h100():
    """d=1024, 16 heads, ffn 4096, fp32, batch 1, context 4096 (docs/decode.md)."""
    layer = cm.TransformerEncoderLayer(1024, 16, 4096, dropout=0.0)
    row = serve(layer, H100, "decode", 4096)
    params = (4 * 1024 ** 2 + 4 * 1024) + (2 * 1024 * 4096 + 4096 + 1024) + 2 * 2 * 1024
    assert params == 12_596_224 == layer.evaluate(n=1)["params"]
    kv = 2 * 4096 * 1024 * 4  # K and V, context tokens, d wide, 4 bytes
    transient = 1024 * 4 + 2 * 4096 * 4  # the FFN stage: its input and two [1, ffn] tensors
    assert row["state_bytes"] == kv == 33_554_432
    assert row["memory_bytes"] == params * 4 + kv + transient == 83_976_192
    assert row["max_batch"] == (int(H100.memory_bytes) - params * 4) // (kv + transient)
    assert row["tokens_per_s"] == pytest.approx(1 / row["time_s"])


def test_recurrence_decode_is_the_record_at_one_step():
    lstm = cm.LSTM(256, 256)
    row = serve(lstm, H100, "decode", 10_000)
    assert row["state_bytes"] == 2 * 256 * 4  # h and c, fp32
    assert row["max_context"] is None  # a decode step does not grow with the context
    one_step = predict(lstm, H100, mode="inference", n=1, batch=1)
    assert row["time_s"] == float(one_step.forward_s)


@settings(max_examples=10, deadline=None)
@given(a=st.integers(1, 1 << 20), b=st.integers(1, 1 << 20))
def test_per_token_time_grows_with_context_for_attention_only(a, b):
    short, long = sorted((a, b))
    layer, lstm = cm.TransformerEncoderLayer(512, 8, 2048, dropout=0.0), cm.LSTM(512, 512)
    t = lambda rec, c: float(step_timing(rec, H100, "decode", c).forward_s)  # noqa: E731
    assert t(layer, short) <= t(layer, long)
    assert t(lstm, short) == t(lstm, long)


def test_crossovers_are_where_the_recurrence_stops_losing():
    result = compare_serving(4096, 1024, "h100", "decode", models=("lstm", "transformer"))
    time = next(c for c in result.crossovers if c["quantity"] == "time_s")["context"]
    tf, lstm = cm.TransformerEncoderLayer(1024, 16, 4096, dropout=0.0), cm.LSTM(1024, 1024)
    t = lambda rec, c: float(step_timing(rec, H100, "decode", c).forward_s)  # noqa: E731
    assert t(lstm, time) <= t(tf, time)
    assert time == 1 or t(lstm, time - 1) > t(tf, time - 1)  # from context 1 on: no earlier one


def test_symbolic_crossover_rounds_the_root_up():
    # 2 * n_ctx >= 7 from n_ctx = 3.5: the first whole context is 4; a constant below: 1
    assert symbolic_crossover(sympy_int(7), 2 * S.n_ctx) == 4
    assert symbolic_crossover(sympy_int(1), 2 * S.n_ctx) == 1
    assert symbolic_crossover(3 * S.n_ctx, 2 * S.n_ctx) is None
    assert first_at_most(lambda c: 100, lambda c: c) == 100


def sympy_int(v):
    import sympy as sp
    return sp.Integer(v)



@pytest.mark.parametrize("mode", ["decode", "prefill"])
def test_cli_prints_the_library_numbers(mode):
    code, out, _ = run("compare", "--mode", mode, "--n", "4096", "--d", "1024", "--gpu",
                       "h100", "--models", "gru,transformer", "--format", "json")
    assert code == 0
    data = json.loads(out)
    library = compare_serving(4096, 1024, "h100", mode, models=("gru", "transformer"))
    assert data["rows"] == [dict(r) for r in library.rows]
    assert data["crossovers"] == [dict(c) for c in library.crossovers]


@pytest.mark.parametrize("argv,word", [
    (("--mode", "decode", "--n", "0", "--d", "64"), "n=0"),
    (("--mode", "decode", "--n", "8", "--d", "64", "--bidirectional"), "bidirectional"),
])
def test_bad_serving_input_is_one_line_exit_2(argv, word):
    code, out, err = run("compare", *argv)
    assert code == 2 and word in err and not out


@pytest.mark.parametrize("call,word", [
    (lambda: serve(cm.LSTM(8, 8), H100, "decode", 0), "context"),
    (lambda: serve(cm.LSTM(8, 8), H100, "decode", 4, batch=0), "batch"),
    (lambda: serve(cm.LSTM(8, 8), H100, "sample", 4), "mode"),
    (lambda: cm.MultiheadAttention(8, 2, kdim=4, kv_cache=True), "kv_cache"),
])
def test_library_errors_name_the_argument(call, word):
    with pytest.raises(ValueError, match=word):
        call()


@pytest.mark.parametrize("name,record", [
    ("s4", lambda: cm.S4(128, 64)), ("mamba", lambda: cm.Mamba(128)),
    ("linear_attention", lambda: cm.LinearAttention(128, 2)),
    ("linformer", lambda: cm.Linformer(128, 2, 256)),
    ("conformer", lambda: cm.ConformerBlock(128, 2, 512, dropout=0.0, attention="flash")),
    ("ast", lambda: cm.AudioSpectrogramTransformer(embed_dim=128, depth=1, num_heads=2,
                                                   mlp_dim=512))])
def test_compare_rows_of_the_new_families_are_their_records(name, record):
    code, out, _ = run("compare", "--n", "64", "--d", "128", "--models", name, "--format",
                       "json")
    assert code == 0
    row = json.loads(out)["rows"][0]
    expected = record().evaluate(n=64, batch=1)
    assert {k: row[k] for k in expected} == expected


def test_serving_a_family_in_recurrent_mode_and_refusing_encoders():
    result = compare_serving(512, 128, "h100", "decode", models=("s4", "transformer"))
    s4 = next(r for r in result.rows if r["model"] == "s4")
    assert s4["state_bytes"] == 128 * 64 * 4  # H * N * 4 bytes, S4D's recurrent state
    assert s4["time_s"] == float(step_timing(cm.S4(128, 64, mode="recurrent"), H100,
                                             "decode", 512).forward_s)
    code, out, err = run("compare", "--mode", "decode", "--n", "8", "--d", "64", "--models",
                         "ast,lstm")
    assert code == 2 and not out and "models=ast" in err and err.count("\n") == 1


@settings(max_examples=10, deadline=None)
@given(new=st.integers(1, 64), cached_tokens=st.integers(0, 512))
def test_causal_pairs_with_a_cache(new, cached_tokens):
    """Flash (skips masked pairs): n*(n_ctx - n) + n(n+1)/2 pairs; one decode step sees the
    whole context, so causal and dense count the same; math computes all n*n_ctx."""
    E, h = 32, 2
    at = dict(n=new, batch=1, n_ctx=new + cached_tokens)
    flops = lambda **kw: cm.MultiheadAttention(  # noqa: E731
        E, h, need_weights=False, kv_cache=True, **kw).evaluate(**at)["matmul_flops"]
    projections = 2 * new * E * 3 * E + 2 * new * E * E
    pairs = new * cached_tokens + new * (new + 1) // 2
    assert flops(attention="flash", causal=True) == projections + 2 * 2 * E * pairs
    assert flops(attention="math", causal=True) == flops(attention="math") == (
        projections + 2 * 2 * E * new * (new + cached_tokens))
    if new == 1:
        assert flops(attention="flash", causal=True) == flops(attention="flash")


def test_costmodel_predict_decode_is_serve():
    layer = cm.TransformerEncoderLayer(256, 4, 1024, dropout=0.0)
    for mode in ("prefill", "decode"):
        p = cm.predict(layer, "h100", n=2048, mode=mode)
        assert p.mode == mode and p.saved_bytes == 0
        assert p.total_s == serve(layer, H100, mode, 2048)["time_s"]


def test_prefill_crossover_is_compares_forward_time_crossover():
    """A cache of n tokens is no cache: the prompt crossover is compare's time crossover."""
    from costmodel.compare import compare

    kw = dict(models=("gru", "transformer"))
    served = compare_serving(256, 256, "h100", "prefill", **kw).crossovers
    plain = [c for c in compare(256, 256, "h100", **kw).crossovers
             if c["quantity"] == "time_forward_s"]
    assert [c["context"] for c in served] == [c["n"] for c in plain]
    assert [c["all_context"] for c in served] == [c["all_n"] for c in plain]


@pytest.mark.parametrize("mode", ["decode", "prefill"])
def test_serving_sweep_is_serve_at_every_point(mode):
    from costmodel.serving_sweep import serving_sweep

    out = serving_sweep([1, 300], [128, 256], [1, 4], "h100", mode, models=("gru", "transformer"))
    build = {"gru": lambda d: cm.GRU(d, d),
             "transformer": lambda d: cm.TransformerEncoderLayer(d, d // 64, 4 * d,
                                                                 dropout=0.0)}
    for i in range(len(out["model"])):
        row = serve(build[str(out["model"][i])](int(out["d"][i])), H100, mode,
                    int(out["context"][i]), batch=int(out["batch"][i]))
        for key in ("state_bytes", "memory_bytes", "binding"):
            assert out[key][i] == row[key], key
        assert out["time_s"][i] == pytest.approx(row["time_s"], rel=1e-12)


def test_cli_sweep_decode_csv_is_the_library():
    import csv
    import io

    from costmodel.serving_sweep import serving_sweep

    code, out, _ = run("sweep", "--mode", "decode", "--n", "1,512", "--d", "128", "--batch",
                       "2", "--gpu", "h100", "--models", "lstm,transformer")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    lib = serving_sweep([1, 512], [128], [2], "h100", "decode", models=("lstm", "transformer"))
    assert [int(r["memory_bytes"]) for r in rows] == lib["memory_bytes"].tolist()
    assert [float(r["time_s"]) for r in rows] == lib["time_s"].tolist()


@pytest.mark.parametrize("mode", ["decode", "prefill"])
def test_serving_carries_the_cudnn_stack(mode):
    """H100 (Hopper): auto is cuDNN 8's floor (pr62143); the DeepBench-era floor is slower per
    step, so a served LSTM takes longer with it; the Transformer has no recurrent step."""
    kw = dict(models=("lstm", "transformer"))
    served = {s: compare_serving(4096, 1024, "h100", mode, cudnn_stack=s, **kw)
              for s in ("auto", "deepbench", "pr62143")}
    time = {s: {r["model"]: r["time_s"] for r in result.rows} for s, result in served.items()}
    assert time["deepbench"]["lstm"] > time["pr62143"]["lstm"] == time["auto"]["lstm"]
    assert time["deepbench"]["transformer"] == time["pr62143"]["transformer"] \
        == time["auto"]["transformer"]
    assert [r.assumptions["cudnn_stack"] for r in served.values()] == ["pr62143", "deepbench",
                                                                       "pr62143"]
    lstm = cm.LSTM(1024, 1024)
    for stack in ("deepbench", "pr62143"):
        assert time[stack]["lstm"] == float(step_timing(lstm, H100, mode, 4096,
                                                        cudnn_stack=stack).forward_s)


def test_serving_sweep_and_cli_carry_the_cudnn_stack():
    from costmodel.serving_sweep import serving_sweep

    lstm = cm.LSTM(128, 128)
    lib = serving_sweep([64], [128], [2], "h100", "decode", models=("lstm",),
                        cudnn_stack="deepbench")
    assert lib["time_s"][0] == serve(lstm, H100, "decode", 64, batch=2,
                                     cudnn_stack="deepbench")["time_s"]
    assert lib["time_s"][0] > serve(lstm, H100, "decode", 64, batch=2)["time_s"]
    code, out, _ = run("compare", "--mode", "decode", "--n", "64", "--d", "128", "--batch", "2",
                       "--gpu", "h100", "--models", "lstm", "--cudnn-stack", "deepbench",
                       "--format", "json")
    assert code == 0 and json.loads(out)["rows"][0]["time_s"] == lib["time_s"][0]


def test_a_recurrence_that_does_not_fit_has_no_context_either():
    """A recurrence's state does not grow with the context (longest context: unbounded),
    unless even one token does not fit: d 65536 puts an RNN's weights alone at 34 GB, over a
    T4's 16 GB, so largest batch and longest context are both 0, not 'unbounded'."""
    result = compare_serving(512, 65536, "t4", "decode", heads=1024,
                             models=("rnn", "transformer"))
    rnn = next(r for r in result.rows if r["model"] == "rnn")
    assert rnn["memory_bytes"] > 16e9 and rnn["max_batch"] == 0 and rnn["max_context"] == 0
    small = compare_serving(512, 768, "t4", "decode", models=("rnn", "transformer"))
    assert next(r for r in small.rows if r["model"] == "rnn")["max_context"] is None
