"""Transcribe NeuSight's end-to-end model latencies into ``costmodel/data/reference/``.

    python tools/import_neusight_e2e.py NEUSIGHT_GIT_DIR      (a dev tool; reads with git show)

Reads ``scripts/asplos/summary/summary.csv`` of ``sitar-lab/NeuSight`` at commit ``HEAD``
below: one line per (model, sequence length, batch, GPU, mode) with the measured whole-model
latency (``label_all_fw_latency``, ``label_all_bwall_latency``: copied by the artifact's
``summarize.py`` from ``scripts/asplos/label/<device>/<model>-<mode>-<seq>-<batch>.json``) and
NeuSight's own prediction of the same run (``neusight_all_*``, from
``scripts/asplos/results/prediction/<device>/neusight/``). Kept: the NVIDIA GPUs, the dense
models (BERT-large, GPT-2 large, GPT-3 XL and 2.7B as NeuSight configures them, OPT-1.3B), no
fusion/parallel option. Left out: Switch Transformer (mixture of experts with a custom
routing loop; costmodel has no record for it) and the AMD GPUs. Writes
``neusight-e2e.json``; numbers are copied as read (ms), nothing rounded.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "costmodel" / "data" / "reference"
HEAD = "6945927d9afcca2b9daf021f8395e53edc5b4eef"
SUMMARY = "scripts/asplos/summary/summary.csv"
CONFIGS = "scripts/asplos/data/DLmodel_configs/{}.json"
MODELS = ("bert_large", "gpt2_large", "gpt3_xl", "gpt3_27", "opt_13")
COLUMNS = ("row", "device", "model", "mode", "seq", "batch", "fw_ms", "bw_ms",
           "neusight_fw_ms", "neusight_bw_ms", "neusight_ood")
WHAT = (
    "Whole-model latency of a HuggingFace transformers model built from config "
    "(scripts/asplos/data/DLmodel_configs/<model>.json, random weights), fp32 (torch default, "
    "no TF32 matmul), attn_implementation='eager' (explicit matmul / softmax / matmul, not SDPA), "
    "input_ids = ones(batch, seq). neusight/Tracing/trace.py measure_e2e: inference = "
    "model.eval() (BERT: AutoModelForSequenceClassification; GPT-2/GPT-3/OPT: "
    "AutoModelForCausalLM, LM head included) under torch.no_grad(), one forward; training = "
    "model.train() (dropout on; BERT: AutoModelForPreTraining, MLM + NSP heads), forward timed "
    "(fw_ms), cross-entropy on the logits not timed, loss.backward() timed (bw_ms); no "
    "optimizer step. Each: CUDA events around the call, 25 repetitions (gc.collect and "
    "empty_cache before each), mean of the 5 fastest, in ms.")


def _show(git_dir: str, path: str) -> str:
    return subprocess.run(["git", "-C", git_dir, "show", f"{HEAD}:{path}"], check=True,
                          capture_output=True, text=True).stdout


def _rows(git_dir: str) -> list[list]:
    out = []
    for i, line in enumerate(csv.DictReader(io.StringIO(_show(git_dir, SUMMARY)))):
        if (line["model_name"] not in MODELS or line["option"] or "AMD" in line["device"]
                or not line["label_all_fw_latency"]):
            continue
        train = line["mode"] == "train"
        out.append([i + 2, line["device"], line["model_name"],
                    "training" if train else "inference", int(line["seqlen"]),
                    int(line["batch"]), float(line["label_all_fw_latency"]),
                    float(line["label_all_bwall_latency"]) if train else 0.0,
                    float(line["neusight_all_fw_latency"]),
                    float(line["neusight_all_bwall_latency"]) if train else 0.0,
                    line["OOD"] == "True"])
    return sorted(out, key=lambda r: (r[1], r[2], r[3], r[5]))


def main(git_dir: str) -> None:
    configs = {m: json.loads(_show(git_dir, CONFIGS.format(m))) for m in MODELS}
    data = {
        "provenance": {
            "repo": "https://github.com/sitar-lab/NeuSight", "commit": HEAD,
            "source": SUMMARY + " (label_all_*: scripts/asplos/label/<device>/*.json)",
            "what": WHAT,
            "software": "PyTorch 2.1.0 + CUDA 12.1 per the artifact's per-op dataset; "
                        "HuggingFace transformers (version not pinned in the artifact)",
            "neusight_prediction": "neusight_*_ms: NeuSight's own predicted forward / backward "
                                   "of the same run (its per-op MLP summed over the op graph)",
            "neusight_ood": "summarize.py is_ood: the model (gpt3_27, opt_13, gpt3_xl) or the "
                            "GPU (H100, L4, A100 80GB PCIe) was not in NeuSight's training set",
            "row": "line number in summary.csv (header = line 1)",
            "model_configs": configs,
        },
        "columns": list(COLUMNS),
        "rows": _rows(git_dir),
    }
    target = OUT / "neusight-e2e.json"
    target.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {target} ({len(data['rows'])} rows)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
