"""Write costmodel/data/reference/kernelbench-blocks.json from a git copy of
ScalingIntelligence/KernelBench: the PyTorch-eager baseline times of its level-3 attention
problems on every catalogue GPU the repository's main line has timed.

    python tools/import_kernelbench_blocks.py GIT_DIR

Same runs as tools/import_kernelbench_rnn.py (every distinct ``results/timing/<machine>/
baseline_time_torch.json`` blob on the main line, each row citing the commit that added it),
the problems of :data:`PROBLEMS`, their sizes read from the problem's file at that commit.
fp32 throughout (``torch.rand``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_kernelbench_ops import sizes
from import_kernelbench_rnn import git, runs, write

OUT = Path(__file__).resolve().parents[1] / "costmodel" / "data" / "reference" / \
    "kernelbench-blocks.json"
#: problem number -> (what its forward runs, as a phrase the file must contain)
PROBLEMS = {
    31: "self.attn(x, x, x)",  # nn.MultiheadAttention + residual + nn.LayerNorm
    43: "F.softmax(att, dim=-1)",  # minGPT's CausalSelfAttention, hand-written
    44: "self.mlpf(self.ln_2(x))",  # minGPT's Block: LN, attention, LN, MLP with NewGELU
    50: "F.relu(att)",  # causal attention with ReLU for softmax, no output projection
}
COLUMNS = ("machine", "device", "gpu", "problem", "batch", "tokens", "embed", "heads",
           "mean_ms", "std_ms", "min_ms", "max_ms", "trials", "torch", "commit", "date", "path")


def shape(number: int, src: str) -> dict:
    """(batch, tokens, embed, heads) of a problem's file, or SystemExit when the file does
    not run what :data:`PROBLEMS` says. Tokens: the sequence length the forward sees."""
    if PROBLEMS[number] not in src:
        raise SystemExit(f"problem {number}: {PROBLEMS[number]!r} not in its forward")
    c = sizes(src)
    if number == 31:  # x [B, C, H, W] viewed as H * W tokens of C = embed_dim channels
        return {"batch": c["batch_size"], "tokens": c["image_height"] * c["image_width"],
                "embed": c["embed_dim"], "heads": c["num_heads"]}
    tokens = c["seq_len"] if number in (43, 44) else c["max_seqlen"]
    return {"batch": c["batch_size"], "tokens": tokens, "embed": c["n_embd"],
            "heads": c["n_head"]}


def rows(gitdir: str) -> tuple[list[list], dict]:
    found, skipped = runs(gitdir, "level3",
                          lambda name: int(name.split("_")[0]) in PROBLEMS)
    out = []
    for machine, device, gpu, name, stats, torch, commit, date, path in found:
        src = git(gitdir, "show", f"{commit}:KernelBench/level3/{name}")
        s = shape(int(name.split("_")[0]), src)
        out.append([machine, device, gpu, name, s["batch"], s["tokens"], s["embed"],
                    s["heads"], stats["mean"], stats["std"], stats["min"], stats["max"],
                    stats["num_trials"], torch, commit, date, path])
    return out, skipped


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    write(OUT, COLUMNS, argv[0], "KernelBench level-3 reference problems, PyTorch eager "
          "baseline times",
          ("one call of the problem's forward on fp32 inputs (torch.rand): nn.MultiheadAttention"
           " (need_weights=True, its default) + residual + nn.LayerNorm (31), minGPT's "
           "hand-written causal self-attention (43) and Transformer block (44), a causal "
           "attention with ReLU for softmax (50); the module in train mode (dropout p = 0) "
           "under torch.no_grad(); scripts/generate_baseline_time.py"),
          "tools/import_kernelbench_blocks.py", *rows(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
