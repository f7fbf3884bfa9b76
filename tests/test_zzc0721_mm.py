"""zzc0721/torch-performance-test-data's best torch.mm rates on named GPUs (reference source
``zzc0721-mm``): the importer's table reading, the rows kept, their pricing, the protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest

from costmodel.hardware import load_hardware
from costmodel.implementations import cublas
from costmodel.reference import neusight
from costmodel.reference import zzc0721_mm as zm
from tests.clirun import run
from tests.toolload import load_tool

TABLE = """| device | fp32 | tf32 | fp16 | bf16 | note | contributor |
| --- | --- | --- | --- | --- | --- | --- |
| NVIDIA Tesla T4 16GB | 4.17 |  | 41.91 | 2.46 | Colab | [zzc0208](https://github.com/zzc0208) |
| NVIDIA H20 | 31.99 | 71.80 | 142.09 | 142.25 | cloud | [x](https://github.com/x) |
| NVIDIA L4 | 15.38 | 31.88 | 68.83 | N/A | bare metal | [y](https://github.com/y) |
"""


@pytest.fixture(scope="module")
def scored():
    return zm.scored()


def test_importer_reads_the_table_and_counts_what_it_leaves_out():
    rows, left = load_tool("import_zzc0721_mm.py").read(TABLE)
    assert left == {"NVIDIA H20": 1}  # no catalogue entry
    (t4, l4) = rows
    assert t4 == [1, "NVIDIA Tesla T4 16GB", "t4", 4.17, None, 41.91, 2.46, "Colab", "zzc0208"]
    assert l4[2:7] == ["l4", 15.38, 31.88, 68.83, None]  # 'N/A' and empty cells: no number


def test_rows_leave_out_the_clock_sources_fp32_and_bf16_without_a_peak():
    f = zm.rows()
    clocked = {load_hardware(g).name for g in zm.CLOCK_FROM_HERE}
    names = f.gpu.map(lambda g: load_hardware(g).name)
    assert not (names.isin(clocked) & (f.dtype == "fp32")).any()
    assert not f[f.dtype == "bf16"].gpu.isin(["t4", "v100", "p100", "m40", "gtx-1080-ti"]).any()
    # all 26 runs give fp32; 7 are clock sources (the B200, the A100 PCIe 40GB, the H100 PCIe,
    # the L4, the A6000 and the H100 SXM's two runs): 26 - 7 = 19 fp32 rows remain
    assert (f.dtype == "fp32").sum() == 19 and f.row.nunique() == 26
    # the B200's fp16 cell, 1627.64 TFLOP/s: 1e12 FLOPs take 1 / 1627.64 s
    b200 = f[(f.gpu == "b200") & (f.dtype == "fp16")]
    assert math.isclose(b200.measured_s.iloc[0], 1 / 1627.64)


def test_clock_from_here_names_every_entry_whose_clock_is_this_sources_own_gpu():
    """A catalogue sustained clock derived from this repository's timing of the same GPU
    makes that GPU's fp32 row the derivation's input; the H200 borrows the H100 SXM's."""
    cited = {hw for hw in ("a100-pcie-40gb", "b200-sxm-180gb", "h100-pcie-80gb",
                           "h100-sxm5-80gb", "l4", "rtx-a6000", "h200-sxm-141gb", "a10", "t4")
             if "zzc0721" in str(load_hardware(hw).provenance["sustained_clock_hz"])}
    assert cited - {"h200-sxm-141gb"} == set(zm.CLOCK_FROM_HERE)


def test_best_rate_is_the_fastest_size_and_pascal_fp16_runs_at_the_fp32_rate():
    p100 = load_hardware("p100")
    p = cublas.params_for(neusight.fitted_on_all(), p100)
    rates = [2 * n ** 3 / max(float(v) for v in cublas.gemm_terms(n, n, n, 1, p100, "fp32", p))
             for n in zm.SIZES]
    assert math.isclose(zm.best_rate(p100, "fp32", p), max(rates), rel_tol=1e-12)
    # PyTorch's half GEMM accumulates in fp32: no half2 speed-up on the P100
    assert math.isclose(zm.best_rate(p100, "fp16", p), zm.best_rate(p100, "fp32", p),
                        rel_tol=1e-12)


def test_a_gpu_in_the_fit_is_priced_without_its_rows_one_in_none_by_the_shipped_fit(scored):
    assert zm._trained_on("t4") and zm._trained_on("p100") and not zm._trained_on("rtx4090")
    assert zm._params_without("rtx4090") is neusight.fitted_on_all()
    t4 = scored[scored.gpu == "t4"]
    hw = load_hardware("t4")
    held = [1e12 / zm.best_rate(hw, d, cublas.params_for(zm._params_without("t4"), hw))
            for d in t4.dtype]
    np.testing.assert_allclose(t4.predicted_model_s, held, rtol=1e-12)
    shipped = [1e12 / zm.best_rate(hw, d, cublas.params_for(neusight.fitted_on_all(), hw))
               for d in t4.dtype]
    assert not np.allclose(held, shipped, rtol=1e-6)  # the refit is not the shipped fit


def test_validate_reference_scores_it(scored):
    code, out, err = run("validate", "--reference", "zzc0721-mm", "-q")
    assert code == 0, err
    assert "zzc0721-mm" in out and "rtx4090" in out
    assert len(scored) == len(zm.rows()) and scored.error_model.notna().all()
