"""DeepBench's GEMM sheets as a reference source (costmodel.reference.deepbench_gemm) and the
small-M kernel's fit (costmodel.implementations.cublas_fit)."""

import pandas as pd
import pytest

from costmodel.hardware import load_hardware
from costmodel.implementations import cublas, cublas_fit
from costmodel.reference import REQUIRED_COLUMNS, deepbench_gemm, fit as fitmod

ROWS = deepbench_gemm.rows()


def test_rows_carry_provenance_and_only_fp32():
    assert set(REQUIRED_COLUMNS) <= set(ROWS.columns)
    assert (ROWS.dtype == "fp32").all() and (ROWS.measured_s > 0).all()
    assert (ROWS.floor_applies == 0).all()  # 400 back-to-back calls: no per-call floor
    assert set(ROWS.repo) == {"baidu-research/DeepBench"}
    assert (ROWS.groupby("gpu").size() == 160).all()  # 160 fp32 rows per sheet
    # CUDA 10.1 sheets (V100, T4) are the current cuBLAS; the CUDA 7.5/8.0 ones are not
    current = set(ROWS[ROWS.current_cublas].gpu)
    assert "t4" in current and not current & {"p100", "m40", "titan-x", "titan-xp"}


def test_a_t4_row_as_read():
    # T4 "Results FP32" row 5: DeepSpeech, M 1760, N 16, K 1760, NN, 0.13 ms: 16 rows (tokens)
    row = ROWS[(ROWS.gpu == "t4") & (ROWS.row == 5)]
    assert len(row) == 1
    assert row.iloc[0][["m", "n", "k", "transposes"]].tolist() == [16, 1760, 1760, "NN"]
    assert row.iloc[0].measured_s == pytest.approx(0.13e-3)


def test_predict_is_the_cublas_time_without_the_floor():
    params = cublas.shipped()
    rows = ROWS[ROWS.gpu == "t4"].head(3).reset_index(drop=True)
    hw = load_hardware("t4")
    expected = cublas.gemm_time_s(rows.m, rows.n, rows.k, 1, hw, "fp32",
                                  cublas.params_for(params, hw), 1, 0.0)
    assert deepbench_gemm.predict(rows, params) == pytest.approx(list(expected))


def test_the_shared_fitted_file_is_written_by_neusight():
    assert fitmod.writer("deepbench-gemm") == "neusight"
    assert fitmod.writer("neusight-layers") == "neusight"
    assert fitmod.writer("attention") == "attention"  # its own file, sdpa.toml
    assert fitmod.writer("neusight") == "neusight"


def test_small_m_rows_come_from_a_current_cublas_where_there_are_any():
    frame = pd.DataFrame({"m": [8, 16, 64, 8], "current_cublas": [True, False, True, False]})
    assert cublas_fit._few_rows(frame).m.tolist() == [8]  # m < 64, current only
    old = frame.assign(current_cublas=False)
    assert cublas_fit._few_rows(old).m.tolist() == [8, 16, 8]  # none current: all of m < 64
    assert cublas_fit._few_rows(frame.drop(columns="current_cublas")).m.tolist() == [8, 16, 8]


def test_fit_without_few_row_gemms_says_what_is_missing():
    rows = pd.DataFrame({"gpu": ["a100"], "family": ["linear"], "dtype": ["fp32"],
                         "source": ["x"], "m": [512.0], "n": [512.0], "k": [512.0],
                         "batch": [1.0], "weight_batch": [1.0], "measured_s": [1e-4]})
    with pytest.raises(ValueError, match="no GEMM with m < 64"):
        cublas_fit.fit(rows, load_hardware)
