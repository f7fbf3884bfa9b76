"""The hardware catalogue: schema, provenance, names, arithmetic cross-checks, generated docs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from costmodel import hardware as hwmod
from costmodel.hardware import (
    DTYPES, FIGURES, PEAK_KEYS, TORCH_CUDNN_ALLOW_TF32_DEFAULT, Hardware, list_hardware,
    load_hardware, matmul_peak, normalize_name,
)
from costmodel.hardware_docs import _REGENERATE, render_markdown
from costmodel.hardware_file import parse

REPO = Path(__file__).resolve().parents[1]
CATALOGUE = list_hardware()
TOLERANCE = 0.01  # arithmetic cross-checks agree within 1 %


def close(actual: float, expected: float, rel: float = TOLERANCE) -> bool:
    return math.isclose(actual, expected, rel_tol=rel)


# ---- every shipped file loads and passes the schema --------------------------------------------

def test_catalogue_has_every_requested_device():
    assert len(CATALOGUE) == 26  # 17 + the six NVIDIA GPUs of the DeepBench data + B200, A6000,
    # RTX 3090 Ti
    assert {hw.vendor for hw in CATALOGUE} == {"NVIDIA", "AMD"}


@pytest.mark.parametrize("hw", CATALOGUE, ids=lambda hw: hw.name)
def test_shipped_file_is_complete(hw: Hardware):
    assert all(getattr(hw, field) is not None for field in FIGURES)
    assert isinstance(hw.sm_count, int)
    assert set(hw.peaks) | set(hw.unsupported) >= set(DTYPES)  # every dtype: figure or marked
    assert not set(hw.peaks) & set(hw.unsupported)
    assert all(reason.strip() for reason in hw.unsupported.values())
    assert all(value > 0 and math.isfinite(value) for value in hw.peaks.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        hw.hbm_bytes_per_s = 1.0
    with pytest.raises(TypeError):
        hw.peaks["fp16"] = 1.0
    assert hash(hw) == hash(load_hardware(hw.name))  # usable as a cache key


@pytest.mark.parametrize("hw", CATALOGUE, ids=lambda hw: hw.name)
def test_every_figure_has_provenance(hw: Hardware):
    optional = {f for f in hwmod.OPTIONAL_FIGURES if getattr(hw, f) is not None}
    expected = (set(FIGURES) | optional | {"memory_technology"}
                | {f"peak_flops_per_s.{key}" for key in hw.peaks})
    assert set(hw.provenance) == expected
    for field, prov in hw.provenance.items():
        assert prov.source.strip() and prov.quote.strip(), field
        assert "http" in prov.source, field  # title + URL
        assert isinstance(prov.read, dt.date), field
        assert prov.confidence in hwmod.CONFIDENCE, field
        if prov.confidence == "d" or prov.printed == "sparse":
            assert prov.derivation.strip(), field
        assert (prov.printed in hwmod.PRINTED) == field.startswith("peak_flops_per_s."), field


@pytest.mark.parametrize("hw", CATALOGUE, ids=lambda hw: hw.name)
def test_memory_technology_is_in_its_quote(hw: Hardware):
    assert hw.memory_technology in hwmod.MEMORY_TECHNOLOGIES
    assert hw.memory_family in hwmod.MEMORY_FAMILIES
    # the quote names the part ("HBM2e", "HBM2E"); HBM2 must not be read from an "HBM2e" quote
    quote = hw.provenance["memory_technology"].quote.lower()
    tech = hw.memory_technology.lower()
    assert any(not quote[i + len(tech):i + len(tech) + 1].isalnum()
               for i in range(len(quote)) if quote.startswith(tech, i)), quote


def test_no_machine_path_in_shipped_data():
    for path in (REPO / "costmodel" / "data" / "hardware").glob("*.toml"):
        assert "/work/" not in path.read_text(encoding="utf-8"), path.name


# ---- names ---------------------------------------------------------------------------------

CHOSEN = {  # short name users type -> the one documented variant it means
    "a100": "A100 SXM4 40GB", "h100": "H100 SXM5 80GB", "h200": "H200 SXM 141GB",
    "v100": "V100 SXM2 16GB", "t4": "T4", "a10": "A10", "l4": "L4", "l40s": "L40S",
    "rtx3090": "RTX 3090", "3090": "RTX 3090", "rtx4090": "RTX 4090", "4090": "RTX 4090",
    "mi250x": "MI250X (per GCD)", "mi300x": "MI300X",
}


@pytest.mark.parametrize("short, name", CHOSEN.items())
def test_short_names_users_type(short, name):
    assert load_hardware(short).name == name


def test_every_short_name_resolves_to_its_device_and_none_is_shared():
    seen: dict[str, str] = {}
    for hw in CATALOGUE:
        for short in hw.short_names:
            assert short not in seen, f"{short!r} is listed by {seen.get(short)} and {hw.name}"
            seen[short] = hw.name
            assert load_hardware(short) is hw
        assert load_hardware(hw.name) is hw
        assert load_hardware(hw.name.upper()) is hw


@pytest.mark.parametrize("reported, name", [  # strings torch.cuda.get_device_name() returns
    ("NVIDIA A100-SXM4-80GB", "A100 SXM4 80GB"), ("NVIDIA H100 80GB HBM3", "H100 SXM5 80GB"),
    ("NVIDIA GeForce RTX 4090", "RTX 4090"), ("Tesla T4", "T4"),
    ("Tesla V100-SXM2-16GB", "V100 SXM2 16GB"), ("AMD Instinct MI300X", "MI300X"),
])
def test_device_names_as_torch_reports_them(reported, name):
    assert load_hardware(reported).name == name


@settings(max_examples=60)
@given(st.sampled_from(sorted({s for hw in CATALOGUE for s in hw.short_names})),
       st.lists(st.booleans(), min_size=20, max_size=20), st.sampled_from(["", " ", "  "]))
def test_lookup_ignores_case_and_surrounding_space(short, upper, pad):
    typed = "".join(c.upper() if u else c for c, u in zip(short, upper + [False] * len(short)))
    assert load_hardware(pad + typed + pad).short_names == load_hardware(short).short_names


@pytest.mark.parametrize("typed, expected", [
    ("a1000", "a100"), ("h10", "h100"), ("rtx5090", "rtx4090"), ("mi300", "mi300x"),
])
def test_unknown_name_lists_the_closest(typed, expected):
    with pytest.raises(ValueError, match="closest") as err:
        load_hardware(typed)
    assert typed in str(err.value) and expected in str(err.value)


def test_unknown_name_with_nothing_close_lists_known_names():
    with pytest.raises(ValueError, match="known: .*h100"):
        load_hardware("zzzz")


def test_normalize_name_drops_vendor_words_only_in_front():
    assert normalize_name("  NVIDIA GeForce RTX 4090 ") == "rtx-4090"
    assert normalize_name("AMD") == "amd"
    assert normalize_name("MI250X (per GCD)") == "mi250x-per-gcd"


# ---- arithmetic cross-checks (reference table §3): units x FLOP/clk x clock ------------------

CROSS_CHECKS = [
    # device, peak key, golden FLOP/s with its arithmetic
    ("a100", "fp32", 6912 * 2 * 1.41e9),            # 6912 cores * 2 * 1.41 GHz = 19.49e12
    ("a100", "fp16", 108 * 2048 * 1.41e9),          # 108 SMs * 2048 FLOP/clk/SM * 1.41 GHz = 311.9e12
    ("a100-80gb", "fp16", 108 * 2048 * 1.41e9),     # same GA100 compute = 311.9e12
    ("h100", "fp32", 16896 * 2 * 1.98e9),           # 16896 * 2 * 1.98 GHz = 66.9e12
    ("h100", "fp16", 132 * 4096 * 1.83e9),          # 132 * 4096 * 1.83 GHz = 989.4e12 (tensor clock)
    ("h100", "fp8", 132 * 8192 * 1.83e9),           # 132 * 8192 * 1.83 GHz = 1978.9e12
    ("h100-pcie", "fp32", 14592 * 2 * 1.755e9),     # 14592 * 2 * 1.755 GHz = 51.2e12
    ("h100-pcie", "fp16", 114 * 4096 * 1.62e9),     # 114 * 4096 * 1.62 GHz = 756.4e12
    ("h200", "fp16", 132 * 4096 * 1.83e9),          # same GH100 compute = 989.4e12
    ("v100", "fp32", 5120 * 2 * 1.53e9),            # 5120 * 2 * 1.53 GHz = 15.67e12
    ("v100", "fp16", 80 * 1024 * 1.53e9),           # 80 * 1024 * 1.53 GHz = 125.3e12
    ("v100-pcie", "fp16", 80 * 1024 * 1.38e9),      # 80 * 1024 * 1.38 GHz = 113.0e12 (printed 112)
    ("t4", "fp32", 2560 * 2 * 1.59e9),              # 2560 * 2 * 1.59 GHz = 8.14e12
    ("t4", "fp16", 40 * 1024 * 1.59e9),             # 40 * 1024 * 1.59 GHz = 65.1e12
    ("a10", "fp32", 9216 * 2 * 1.695e9),            # 9216 * 2 * 1.695 GHz = 31.2e12
    ("a10", "fp16", 72 * 1024 * 1.695e9),           # 72 * 1024 * 1.695 GHz = 125.0e12
    ("l4", "fp32", 7424 * 2 * 2.04e9),              # 7424 * 2 * 2.04 GHz = 30.3e12 (60 SMs: 31.3)
    ("l4", "fp16", 58 * 1024 * 2.04e9),             # 58 * 1024 * 2.04 GHz = 121.2e12
    ("l40s", "fp32", 18176 * 2 * 2.52e9),           # 18176 * 2 * 2.52 GHz = 91.6e12
    ("l40s", "fp16", 142 * 1024 * 2.49e9),          # 142 * 1024 * 2.49 GHz = 362.1e12
    ("rtx3090", "fp32", 10496 * 2 * 1.695e9),       # 10496 * 2 * 1.695 GHz = 35.6e12
    ("rtx3090", "fp16", 82 * 1024 * 1.695e9 / 2),   # 142.3e12 FP16-acc / 2 (FP32 acc) = 71.2e12
    ("rtx3090ti", "fp32", 10752 * 2 * 1.86e9),      # 10752 * 2 * 1.86 GHz = 40.0e12
    ("rtx3090ti", "fp16", 84 * 1024 * 1.86e9 / 2),  # 160.0e12 FP16-acc / 2 (FP32 acc) = 80.0e12
    ("rtx4090", "fp32", 16384 * 2 * 2.52e9),        # 16384 * 2 * 2.52 GHz = 82.6e12
    ("rtx4090", "fp16", 128 * 1024 * 2.52e9 / 2),   # 330.3e12 FP16-acc / 2 (FP32 acc) = 165.2e12
    ("mi250x", "fp16", 110 * 1024 * 1.7e9),         # per GCD: 110 CUs * 1024 * 1.7 GHz = 191.5e12
    ("mi250x", "fp64", 7040 * 2 * 1.7e9),           # per GCD: 7040 lanes * 2 * 1.7 GHz = 23.9e12
    ("mi300x", "fp64", 19456 * 2 * 2.1e9),          # 19456 * 2 * 2.1 GHz = 81.7e12
    ("mi300x", "fp16", 304 * 2048 * 2.1e9),         # 304 CUs * 2048 * 2.1 GHz = 1307.4e12
]


@pytest.mark.parametrize("short, key, golden", CROSS_CHECKS)
def test_peak_matches_units_times_rate_times_clock(short, key, golden):
    assert close(load_hardware(short).peak_flops_per_s(key), golden)


BANDWIDTH_CHECKS = [  # bus bits / 8 * data rate per pin
    ("a100", 5120 / 8 * 2 * 1215e6),   # 5120-bit HBM2 at 1215 MHz DDR = 1555.2e9
    ("a100-80gb", 5120 / 8 * 3.186e9),  # 5120-bit HBM2e at 3.186 Gb/s = 2039.0e9
    ("v100", 4096 / 8 * 1.75e9),       # 4096-bit HBM2 at 1.75 Gb/s = 896e9 (printed 900)
    ("t4", 256 / 8 * 10e9),            # 256-bit GDDR6 at 10 Gb/s = 320e9
    ("a10", 384 / 8 * 12.5e9),         # 384-bit GDDR6 at 12.5 Gb/s = 600e9
    ("l4", 192 / 8 * 12.5e9),          # 192-bit GDDR6 at 12.5 Gb/s = 300e9
    ("l40s", 384 / 8 * 18e9),          # 384-bit GDDR6 at 18 Gb/s = 864e9
    ("rtx3090", 384 / 8 * 19.5e9),     # 384-bit GDDR6X at 19.5 Gb/s = 936e9
    ("rtx3090ti", 384 / 8 * 21e9),     # 384-bit GDDR6X at 21 Gb/s = 1008e9
    ("rtx4090", 384 / 8 * 21e9),       # 384-bit GDDR6X at 21 Gb/s = 1008e9
    ("mi250x", 4096 / 8 * 3.2e9),      # per GCD: 4 HBM2e stacks * 1024 bit at 3.2 Gb/s = 1638.4e9
]


@pytest.mark.parametrize("short, golden", BANDWIDTH_CHECKS)
def test_bandwidth_matches_bus_times_data_rate(short, golden):
    assert close(load_hardware(short).hbm_bytes_per_s, golden)


@pytest.mark.parametrize("short, gib", [("a100", 40), ("h100", 50), ("rtx4090", 72), ("v100", 6),
                                        ("rtx3090ti", 6)])  # 12 controllers x 512 KiB
def test_l2_is_binary(short, gib):
    assert load_hardware(short).l2_bytes == gib * 2**20  # e.g. A100 reports 41,943,040 B


def test_ratios_between_devices_and_dtypes():
    by = {hw.name: hw for hw in CATALOGUE}
    for hw in CATALOGUE:  # bf16 runs at the fp16 rate wherever both exist
        if "bf16" in hw.peaks:
            assert hw.peaks["bf16"] == hw.peaks["fp16"], hw.name
    a100s = [hw for hw in CATALOGUE if hw.name.startswith("A100")]
    assert len({tuple(sorted(hw.peaks.items())) for hw in a100s}) == 1  # one GA100 compute
    assert by["H200 SXM 141GB"].peaks == by["H100 SXM5 80GB"].peaks   # memory differs only
    for name in ("RTX 3090", "RTX 3090 Ti", "RTX 4090"):  # GeForce: TF32 = half the FP32-acc
        # FP16 rate
        assert close(by[name].peaks["tf32"] * 2, by[name].peaks["fp16"])
    h100 = by["H100 SXM5 80GB"]  # tensor peaks assume 1.83 GHz, not the 1.98 GHz boost
    assert close(h100.peaks["fp16"] / (h100.sm_count * 4096), 1.83e9)
    assert not close(h100.peaks["fp16"] / (h100.sm_count * 4096), h100.boost_clock_hz)


def test_mi250x_is_one_gcd():
    gcd = load_hardware("mi250x")
    assert gcd.sm_count * 2 == 220                    # 220 CUs per package
    assert close(gcd.peaks["fp16"] * 2, 383e12)       # 383 TFLOPS per package
    assert close(gcd.memory_bytes * 2, 128e9)         # 128 GB per package


# ---- peaks and PyTorch math modes -------------------------------------------------------------

def test_unsupported_dtype_names_dtype_and_what_is_available():
    with pytest.raises(ValueError, match=r"no bf16 support .*available: fp64, fp32, fp16"):
        load_hardware("v100").peak_flops_per_s("bf16")
    with pytest.raises(ValueError, match=r"unknown dtype 'fp4'.*available"):
        load_hardware("h100").peak_flops_per_s("fp4")


def test_matmul_peak_follows_torch_math_modes():
    a100 = load_hardware("a100")
    assert matmul_peak(a100, "fp32") == a100.peaks["fp32"]   # cuBLAS default: no TF32
    assert matmul_peak(a100, "fp32", allow_tf32=TORCH_CUDNN_ALLOW_TF32_DEFAULT) == a100.peaks["tf32"]
    assert matmul_peak(a100, "fp64") == a100.peaks["fp64_matrix"]  # DGEMM on FP64 tensor cores
    assert matmul_peak(a100, "bf16") == a100.peaks["bf16"]
    v100 = load_hardware("v100")   # no TF32: the flag changes nothing
    assert matmul_peak(v100, "fp32", allow_tf32=True) == v100.peaks["fp32"]
    mi250x = load_hardware("mi250x")   # rocBLAS fp32 GEMM runs on MFMA
    assert matmul_peak(mi250x, "fp32") == mi250x.peaks["fp32_matrix"]
    assert close(mi250x.peaks["fp32_matrix"], 2 * mi250x.peaks["fp32"])  # 95.7 vs 2 * 47.9


def test_half_matmul_without_tensor_cores_runs_at_the_fp32_rate():
    # PyTorch's half GEMM accumulates in fp32 (CUDABlas.cpp): the P100's native half2 rate
    # (2 x 9.3 = 18.7 TFLOP/s) is not what torch.mm reaches there
    p100 = load_hardware("p100")
    assert close(p100.peaks["fp16"], 2 * p100.peaks["fp32"])
    assert matmul_peak(p100, "fp16") == p100.peaks["fp32"]
    v100 = load_hardware("v100")   # tensor cores: the fp16 peak (125 vs 15.7 TFLOP/s fp32)
    assert matmul_peak(v100, "fp16") == v100.peaks["fp16"] > 7 * v100.peaks["fp32"]


# ---- user files and malformed files ----------------------------------------------------------

MINIMAL = 'name = "My GPU"\nhbm_bytes_per_s = 1e12\n[peak_flops_per_s]\nfp16 = 1e14\n'


def write(tmp_path: Path, text: str, name: str = "mine.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_user_file_loads(tmp_path):
    hw = load_hardware(write(tmp_path, MINIMAL))
    assert hw.name == "My GPU" and hw.peak_flops_per_s("fp16") == 1e14
    assert hw.sm_count is None and hw.provenance == {}
    with pytest.raises(ValueError, match="fp32"):
        hw.peak_flops_per_s("fp32")


@pytest.mark.parametrize("text", ['memory_technology = "GDDR6"\n' + MINIMAL,
                                  MINIMAL + '[memory_technology]\nvalue = "GDDR6"\n'])
def test_user_memory_technology_as_string_or_table(tmp_path, text):
    hw = load_hardware(write(tmp_path, text))
    assert hw.memory_technology == "GDDR6" and hw.memory_family == "GDDR"
    # neither a bare string nor a table without quote carries any provenance
    assert hw.provenance.get("memory_technology", hwmod.Provenance()) == hwmod.Provenance()


def test_shipped_memory_technology_must_be_a_table_with_provenance():
    text = (REPO / "costmodel/data/hardware/t4.toml").read_text(encoding="utf-8")
    table = text[text.index("[memory_technology]"):text.index("[memory_bytes]")]
    plain = 'memory_technology = "GDDR6"\n' + text.replace(table, "")
    assert parse(plain, "t4.toml", strict=False).memory_technology == "GDDR6"
    with pytest.raises(ValueError, match=r"t4\.toml: field 'memory_technology': must be a table"):
        parse(plain, "t4.toml", strict=True)
    with pytest.raises(ValueError, match=r"t4\.toml: field 'memory_technology': missing"):
        parse(text.replace(table, ""), "t4.toml", strict=True)


def test_shipped_file_copied_as_user_file_loads_the_same(tmp_path):
    source = REPO / "costmodel" / "data" / "hardware" / "a100-sxm4-40gb.toml"
    copy = load_hardware(str(write(tmp_path, source.read_text(encoding="utf-8"))))
    assert copy.peaks == load_hardware("a100").peaks
    assert copy.provenance == load_hardware("a100").provenance


@settings(max_examples=50)
@given(st.floats(min_value=1e6, max_value=1e16, allow_nan=False))
def test_user_bandwidth_round_trips(bandwidth):
    hw = parse(MINIMAL.replace("1e12", repr(bandwidth)), "mine.toml", strict=False)
    assert hw.hbm_bytes_per_s == bandwidth


@settings(max_examples=50)
@given(st.one_of(  # TOML literals that are numbers but not positive and finite
    st.floats(max_value=0.0, allow_nan=False, allow_infinity=False).map(repr),
    st.integers(max_value=0).map(str), st.sampled_from(["inf", "-inf", "nan"])))
def test_non_positive_bandwidth_is_rejected(literal):
    with pytest.raises(ValueError, match=r"mine\.toml: field 'hbm_bytes_per_s': must be a positive"):
        parse(MINIMAL.replace("1e12", literal), "mine.toml", strict=False)


MALFORMED = [  # (text, field named in the error, words in the error)
    ('name = "X"\n[peak_flops_per_s]\nfp16 = 1e14\n', "hbm_bytes_per_s", "missing"),
    (MINIMAL.replace("1e12", '"fast"'), "hbm_bytes_per_s", "must be a number"),
    (MINIMAL.replace("1e12", "-1e12"), "hbm_bytes_per_s", "positive"),
    (MINIMAL + "fp4 = 1e15\n", "peak_flops_per_s.fp4", "unknown dtype key"),
    ("sm_count = 80.5\n" + MINIMAL, "sm_count", "whole number"),
    (MINIMAL.replace("name", "nmae"), "nmae", "unknown key"),
    (MINIMAL + "[peak_flops_per_s.fp8]\nsupported = false\n", "peak_flops_per_s.fp8.reason",
     "non-empty string"),
    (MINIMAL.replace("fp16 = 1e14", "fp16 = true"), "peak_flops_per_s.fp16", "must be a number"),
    ('name = "X"\nhbm_bytes_per_s = 1e12\n[peak_flops_per_s.fp8]\nsupported = false\n'
     'reason = "none"\n', "peak_flops_per_s", "no supported peak"),
    (MINIMAL + "[sm_count]\nvalue = 80\nconfidence = \"d\"\n", "sm_count.derivation", "required"),
    (MINIMAL + "[l2_bytes]\nvalue = 1e6\nprinted = \"dense\"\n", "l2_bytes.printed", "only"),
    (MINIMAL + "[l2_bytes]\nvalu = 1e6\n", "l2_bytes", "unknown key"),
    (MINIMAL + "[l2_bytes]\nvalue = 1e6\nread = \"yesterday\"\n", "l2_bytes.read", "date"),
    (MINIMAL + "[l2_bytes]\nvalue = 1e6\nconfidence = \"sure\"\n", "l2_bytes.confidence", "not one of"),
    ('short_names = ["My GPU"]\n' + MINIMAL, "short_names", "must be written as 'my-gpu'"),
    ("memory_technology = 5\n" + MINIMAL, "memory_technology", "5 is not one of"),
    (MINIMAL + '[memory_technology]\nvalue = "HBM9"\n', "memory_technology.value", "not one of"),
    (MINIMAL + '[memory_technology]\nquote = "HBM2"\n', "memory_technology", "missing 'value'"),
    (MINIMAL + '[memory_technology]\nvalue = "HBM2"\ntype = "x"\n', "memory_technology",
     "unknown key"),
    (MINIMAL + '[memory_technology]\nvalue = "HBM2"\nconfidence = "d"\n',
     "memory_technology.derivation", "required"),
    (MINIMAL + '[memory_technology]\nvalue = "HBM2"\nprinted = "dense"\n',
     "memory_technology.printed", "only"),
]


@pytest.mark.parametrize("text, field, words", MALFORMED, ids=[m[1] for m in MALFORMED])
def test_malformed_file_names_file_and_field(tmp_path, text, field, words):
    path = write(tmp_path, text, "broken.toml")
    with pytest.raises(ValueError) as err:
        load_hardware(str(path))
    message = str(err.value)
    assert str(path) in message and f"field '{field}'" in message and words in message


def test_invalid_toml_is_a_value_error_naming_the_file(tmp_path):
    path = write(tmp_path, 'name = "X\n', "syntax.toml")
    with pytest.raises(ValueError, match=r"syntax\.toml: not valid TOML"):
        load_hardware(str(path))


def test_missing_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match=r"nothere\.toml: cannot read"):
        load_hardware(str(tmp_path / "nothere.toml"))


@pytest.mark.parametrize("drop", ["quote", "source", "read", "confidence"])
def test_shipped_files_must_carry_provenance(drop):
    text = (REPO / "costmodel/data/hardware/t4.toml").read_text(encoding="utf-8")
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(f"{drop} ="))
    broken = "\n".join(lines[:first] + lines[first + 1:])
    with pytest.raises(ValueError, match=rf"t4\.toml: field '\w+': missing provenance \['{drop}'\]"):
        parse(broken, "t4.toml", strict=True)
    parse(broken, "t4.toml", strict=False)  # a user's copy may omit it


def test_shipped_files_must_mark_every_dtype():
    text = (REPO / "costmodel/data/hardware/t4.toml").read_text(encoding="utf-8")
    fp8 = '[peak_flops_per_s.fp8]\nsupported = false\nreason = "no FP8 tensor cores before Hopper/Ada"\n'
    assert fp8 in text
    broken = text.replace(fp8, "")
    parse(broken, "t4.toml", strict=False)  # in a user's file, absent means unsupported
    with pytest.raises(ValueError, match=r"field 'peak_flops_per_s': missing \['fp8'\]"):
        parse(broken, "t4.toml", strict=True)


# ---- generated docs --------------------------------------------------------------------------

def test_docs_hardware_md_is_current():
    committed = (REPO / "docs" / "hardware.md").read_text(encoding="utf-8")
    assert committed == render_markdown(), (
        "docs/hardware.md is stale; regenerate with: " + _REGENERATE)


def test_rendered_docs_show_every_device_and_every_source():
    text = render_markdown()
    for hw in CATALOGUE:
        assert f"### {hw.name}" in text
        for prov in hw.provenance.values():
            assert prov.source.replace("|", "\\|") in text
    assert "| A100 SXM4 40GB | 9.7 | 19.5 | 19.5 |  | 156 | 312 | 312 | — | 624 |" in text
    assert "| T4 | `t4` | NVIDIA | GDDR6 | 16 | 320 | 40 | 4 | 1590 |" in text
    assert "| memory_technology | HBM2e | " in text  # the source table row shows the name
    assert set(PEAK_KEYS) <= set(text.split())


@pytest.mark.parametrize("field, line", [
    ("hbm_bytes_per_s", "hbm_bytes_per_s = 1e-300\n[peak_flops_per_s]\nfp32 = 1e13\n"),
    ("peak_flops_per_s.fp32", "hbm_bytes_per_s = 1e12\n[peak_flops_per_s]\nfp32 = 5\n"),
])
def test_a_rate_below_a_million_per_second_is_refused_as_a_unit_error(tmp_path, field, line):
    """A peak of 1e-300 FLOP/s made every time infinite (JSON 'Infinity', exit 0): a rate
    under 1e6 per second is refused, naming the field."""
    path = tmp_path / "slow.toml"
    path.write_text('name = "slow"\n' + line)
    with pytest.raises(ValueError, match=rf"field '{re.escape(field)}': .* below 1e\+06"):
        load_hardware(str(path))
