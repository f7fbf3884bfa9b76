"""Transcribe DeepBench's V100 training sheet into ``costmodel/data/reference/``.

    python tools/import_deepbench_v100.py DEEPBENCH_CHECKOUT      (needs openpyxl; a dev tool)

Reads ``results/train/DeepBench_NV_V100.xlsx`` of a checkout of ``baidu-research/DeepBench``
(file as of commit 30c5115, 2019-10-07, "Patch the code base to ensure Tensor Cores to be used
in more cases and update NVIDIA results based on this patch") and writes
``deepbench-rnn-train-V100.json`` and ``deepbench-gemm-train-V100.json`` in the layout of the
other DeepBench files there (one JSON per sheet family, the provenance once, every row with its
sheet and spreadsheet row). Cells are copied as read; nothing is rounded or derived.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "costmodel" / "data" / "reference"
PATH = "results/train/DeepBench_NV_V100.xlsx"
HEAD = "da81ba7820739e2e506dc27f382d15be5479f98f"
SHEETS = {"Results FP32": "fp32",
          "Results - FP16 ip, Mixed math": "fp16_tensor_op_math"}
RNN_SECTIONS = {"Recurrent Layers - Vanilla": "vanilla_relu", "Recurrent Layers - LSTM": "lstm",
                "Recurrent Layers - GRU": "gru"}
RNN_WHAT = (
    "cuDNN 7.6.2 single-layer unidirectional RNN on one V100, code/nvidia/rnn_bench.cu at the "
    "commit that produced the sheet: CUDNN_SKIP_INPUT (the input GEMM W*x_t is NOT included), "
    "input size = hidden size, CUDNN_UNIDIRECTIONAL, cell vanilla=CUDNN_RNN_RELU, "
    "lstm=CUDNN_LSTM, gru=CUDNN_GRU, no algorithm set (cudnnSetRNNDescriptor default: "
    "CUDNN_RNN_ALGO_STANDARD); built with USE_TENSOR_CORES, so cudnnSetRNNMatrixMathType("
    "CUDNN_TENSOR_OP_MATH) on both sheets (tensor cores take fp16 data only: the FP32 sheet "
    "runs fp32 math, the FP16 sheet fp16 inputs with fp32 accumulation on tensor cores). "
    "fwd = cudnnRNNForwardTraining (writes the reserve space); bwd_data = "
    "cudnnRNNBackwardData; bwd_weights = cudnnRNNBackwardWeights. Wall-clock "
    "(std::chrono::steady_clock) mean of 100 back-to-back calls after one warm-up, device "
    "synchronised at the end, microseconds -> msec in the sheet.")
GEMM_WHAT = (
    "Dense GEMM C(MxN)=op(A)*op(B), K reduction, cuBLAS, code/nvidia/gemm_bench.cu at commit "
    "30c5115: fp32 = cublasSgemm (CUBLAS_TENSOR_OP_MATH set, but tensor cores take fp16 data "
    "only on Volta); FP16 sheet = cublasGemmEx with CUDA_R_16F A, B, C and compute type and "
    "CUBLAS_GEMM_DFALT_TENSOR_OP (the code's compute type is 16-bit; the sheet's precision "
    "note says 32-bit addition). Wall-clock (std::chrono::steady_clock) mean of 400 "
    "back-to-back calls after one warm-up call, truncated to whole microseconds, msec in the "
    "sheet. tflops_reported = 2*M*N*K/time from the sheet.")
SPECS_NOTE = ("GPU form factor not stated ('NVIDIA V100'); the host CPU, Xeon E5-2698 v4, is "
              "the DGX-1's, whose V100s are SXM2: read as V100 SXM2 (16 GB) -- an inference, "
              "not a quote.")


def _last_commit(checkout: Path) -> tuple[str, str]:
    out = subprocess.run(["git", "-C", str(checkout), "log", "-1", "--format=%H %as", "--",
                          PATH], check=True, capture_output=True, text=True).stdout.split()
    return out[0], out[1]


def _provenance(checkout: Path, specs: dict, what: str) -> dict:
    commit, date = _last_commit(checkout)
    return {"source": "baidu-research/DeepBench", "path": PATH, "repo_head_commit": HEAD,
            "file_last_commit": commit, "file_last_commit_date": date,
            "url": f"https://github.com/baidu-research/DeepBench/blob/{HEAD}/{PATH}",
            "gpu": "NV_V100", "mode": "train", "specs_sheet": specs,
            "specs_note": SPECS_NOTE,
            "sheet_precision_notes": {"Results FP32": "Float",
                                      "Results - FP16 ip, Mixed math":
                                      "16 bit inputs, 16 bit multiplication, 32 bit addition"},
            "what": what}


def _rnn_rows(sheet, dtype: str) -> list[dict]:
    rows, cell = [], None
    for index, values in enumerate(sheet.iter_rows(values_only=True), 1):
        head = [v for v in values if v is not None]
        if not head:
            continue
        if head[0] in RNN_SECTIONS:
            cell = RNN_SECTIONS[head[0]]
            continue
        if head[0] == "All-Reduce":
            cell = None
        if cell is None or not isinstance(head[1], int):
            continue
        app, hidden, batch, steps, fwd, bwd_data, bwd_weights = head[:7]
        rows.append({"sheet": sheet.title, "row": index, "cell": cell, "hidden": hidden,
                     "batch": batch, "timesteps": steps, "app": app, "fwd_ms": fwd,
                     "bwd_data_ms": bwd_data, "bwd_weights_ms": bwd_weights,
                     "tflops_fwd_reported": head[7], "tflops_bwd_data_reported": head[8],
                     "tflops_bwd_weights_reported": head[9], "total_ms_reported": head[10],
                     "dtype": dtype})
    return rows


def _gemm_rows(sheet, dtype: str) -> list[dict]:
    rows, inside = [], False
    for index, values in enumerate(sheet.iter_rows(values_only=True), 1):
        if values[0] == "Dense Matrix Multiplication":
            inside = True
            continue
        if inside and values[0] is not None:  # the next section's title
            break
        if inside and isinstance(values[2], int):
            app, m, n, k, ta, tb, _, time_ms, tflops = values[1:10]
            rows.append({"sheet": sheet.title, "row": index, "app": app, "M": m, "N": n,
                         "K": k, "transA": ta, "transB": tb, "time_ms": time_ms,
                         "tflops_reported": tflops, "dtype": dtype})
    return rows


def _write(name: str, body: dict) -> None:
    text = json.dumps(body, separators=(",", ":"))
    (OUT / name).write_text(text.replace("},{", "},\n{") + "\n", encoding="utf-8")


def main(checkout: Path) -> None:
    import openpyxl

    blob = subprocess.run(["git", "-C", str(checkout), "show", f"HEAD:{PATH}"], check=True,
                          capture_output=True).stdout
    book = openpyxl.load_workbook(io.BytesIO(blob), data_only=True)
    specs = {row[0]: row[1] for row in book["Specs"].iter_rows(values_only=True) if row[0]}
    rnn, gemm = [], []
    for title, dtype in SHEETS.items():
        rnn += _rnn_rows(book[title], dtype)
        gemm += _gemm_rows(book[title], dtype)
    _write("deepbench-rnn-train-V100.json",
           {**_provenance(checkout, specs, RNN_WHAT), "rows": rnn})
    _write("deepbench-gemm-train-V100.json",
           {**_provenance(checkout, specs, GEMM_WHAT), "rows": gemm})
    print(f"{len(rnn)} RNN rows, {len(gemm)} GEMM rows")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
