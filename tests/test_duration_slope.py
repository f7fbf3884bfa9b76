"""tools/duration_slope.py: the within-shape duration slope docs/validation.md reports
("Found, not kept (session 11)"): the 70-72 W parts (L4, T4) run a long kernel at a lower
clock than a short one of the same shape; the parts that hold their clock do not."""

from tests.toolload import load_tool


def test_power_capped_parts_slow_down_with_duration_and_the_others_do_not():
    median = load_tool("duration_slope.py").slopes().groupby("gpu").slope.median()
    assert round(median["l4"], 3) == -0.071 and round(median["t4"], 3) == -0.073
    assert all(abs(median[g]) < 0.025 for g in ("a100-pcie-40gb", "a100-pcie-80gb", "h100"))
