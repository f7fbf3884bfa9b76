"""The cost record itself: combining, evaluating, vectorizing, rendering, errors."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from costmodel import symbols as S
from costmodel.compose import Sequential, combine, scale, stack
from costmodel.cost import FIELDS, Cost, leading_terms
from costmodel.models.primitives import linear_part, pointwise_part

d = S.size_symbol("d")


def test_combine_sums_parts_and_breakdown_matches_total():
    a = linear_part("a", S.batch * S.n, d, 4 * d)
    b = linear_part("b", S.batch * S.n, 4 * d, d)
    total = combine("ab", [a, b])
    for q in ("params", "flops", "flops_backward", "activation_bytes", "bytes"):
        assert sp.expand(total.get(q) - sum(r[q] for r in total.breakdown([q]))) == 0
    assert total.depth_forward == 2  # two dependent GEMMs


def test_sequential_counts_a_tensor_saved_by_two_neighbours_once():
    tokens = S.batch * S.n
    relu = pointwise_part("relu", tokens * d, 1, 1, saves="output")
    lin = linear_part("lin", tokens, d, d)
    seq = Sequential(relu, lin)
    # relu keeps its output (tokens*d), the Linear the same tensor as its input: once
    assert sp.expand(seq.activation_bytes - tokens * d * S.dtype_bytes) == 0


def test_sequential_feeds_output_length_forward():
    halve = Cost(name="halve", out_len=sp.floor(S.n / 2))
    lin = linear_part("lin", S.batch * S.n, 3, 5)
    seq = Sequential(halve, lin)
    # 2 * batch * floor(n/2) * 3 * 5 matmul FLOPs: at n=11, batch=2 -> 2*2*5*15 = 300
    assert seq.evaluate(n=11, batch=2)["matmul_flops"] == 300


def test_scale_and_stack_multiply_everything_additive():
    layer = linear_part("lin", S.batch * S.n, d, d)
    four = stack(layer, 4, name="four")
    assert sp.expand(four.params - 4 * layer.params) == 0
    assert four.depth_forward == 4
    assert all(k.count == 4 for k in four.kernels)
    assert sp.expand(scale(layer, 3).flops - 3 * layer.flops) == 0
    with pytest.raises(ValueError, match="num_layers"):
        stack(layer, 0, name="none")


def test_evaluate_returns_every_field_and_exact_ints():
    values = linear_part("lin", S.batch * S.n, 768, 768).evaluate(n=512, batch=3)
    assert tuple(values) == FIELDS
    assert values["matmul_flops"] == 2 * 3 * 512 * 768 * 768  # 2 * tokens * in * out
    assert isinstance(values["params"], int)


def test_evaluate_dtype_and_optimizer_change_bytes():
    lin = linear_part("lin", S.batch * S.n, 10, 10)  # 110 params
    assert lin.evaluate(n=1, dtype="bf16")["weight_bytes"] == 220
    assert lin.evaluate(n=1, dtype="fp32", optimizer="adam")["optimizer_bytes"] == 110 * 2 * 4
    assert lin.evaluate(n=1, optimizer="sgd")["optimizer_bytes"] == 0


def test_vectorize_broadcasts_and_equals_evaluate():
    lin = linear_part("lin", S.batch * S.n, d, d)
    f = lin.vectorize()
    out = f(n=np.array([[1], [2]]), d=np.array([3, 4, 5]), batch=2)
    assert out["flops"].shape == (2, 3)
    assert out["flops"][1, 2] == lin.evaluate(n=2, d=5, batch=2)["flops"]


@pytest.mark.parametrize("kwargs, word", [
    (dict(n=0), "n"), (dict(n=2, batch=-1), "batch"), (dict(n=2, dtype="fp7"), "dtype"),
    (dict(n=2, optimizer="lion"), "optimizer"), (dict(n=2, e=3), "e="), (dict(n=2), "d"),
])
def test_evaluate_errors_name_the_argument(kwargs, word):
    with pytest.raises(ValueError, match=word):
        linear_part("lin", S.batch * S.n, d, d).evaluate(**kwargs)


def test_leading_terms_keep_every_term_no_other_outgrows():
    n, b = S.n, S.batch
    lead = leading_terms(8 * b * n * d ** 2 + 4 * b * n ** 2 * d + 7 * n * d)
    assert sp.expand(lead - (b * n * d ** 2 + b * n ** 2 * d)) == 0
    assert leading_terms(sp.Integer(5)) == 1
    assert leading_terms(sp.floor(n / 2) * d * S.dtype_bytes) == n * d
    # d*n and h*n**2 cannot be ordered without knowing d vs h*n: both stay
    h = S.size_symbol("h")
    assert sp.expand(leading_terms(b * n * (10 * d + h * n + 16)) - (b * n * d + b * h * n ** 2)) == 0


def test_unknown_quantity_is_a_clear_error():
    with pytest.raises(ValueError, match="quantity='speed'"):
        Cost(name="x").get("speed")


def test_runtime_symbols_are_set_by_their_keywords_only():
    import numpy as np
    import pytest

    import costmodel as cm

    record = cm.LSTM(8, 8)
    for bad in ({"s": 2}, {"k_opt": 0}):
        with pytest.raises(ValueError, match="set it with"):
            record.evaluate(n=1, **bad)
        with pytest.raises(ValueError, match="set it with"):
            record.vectorize()(n=np.array([1]), batch=1, **bad)
