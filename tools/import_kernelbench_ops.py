"""Write costmodel/data/reference/kernelbench-ops.json from a git copy of
ScalingIntelligence/KernelBench: the PyTorch-eager baseline times of its level-1 GEMM and
pointwise problems on every catalogue GPU the repository's main line has timed.

    python tools/import_kernelbench_ops.py GIT_DIR

Same runs as tools/import_kernelbench_rnn.py (every distinct ``results/timing/<machine>/
baseline_time_torch.json`` blob on the main line, each row citing the commit that added it),
the level-1 problems of :data:`PROBLEMS`, their sizes read from the problem's file at that
commit (they grew between versions). fp32 throughout (``torch.randn`` / ``torch.rand``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from import_kernelbench_rnn import git, runs, write

OUT = Path(__file__).resolve().parents[1] / "costmodel" / "data" / "reference" / \
    "kernelbench-ops.json"
#: problem number -> (kind, NeuSight op name, what the forward runs, the sizes it reads)
PROBLEMS = {
    1: ("gemm", "matmul", "torch.matmul(A, B)", ("N",)),
    2: ("gemm", "matmul", "torch.matmul(A, B)", ("M", "K", "N")),
    3: ("gemm", "bmm", "torch.bmm(A, B)", ("batch_size", "m", "k", "n")),
    6: ("gemm", "matmul", "torch.matmul(A, B)", ("M", "K", "N")),
    7: ("gemm", "matmul", "torch.matmul(A, B)", ("M", "K", "N")),
    8: ("gemm", "matmul", "torch.matmul(A, B)", ("M", "K", "N")),
    9: ("gemm", "matmul", "torch.matmul(A, B)", ("M", "N")),
    16: ("gemm", "matmul", "torch.matmul(A.T, B)", ("M", "K", "N")),
    17: ("gemm", "matmul", "torch.matmul(A, B.T)", ("M", "K", "N")),
    18: ("gemm", "matmul", "torch.matmul(A.T, B.T)", ("M", "K", "N")),
    5: ("pointwise", "mulu", "A * s", ("M", "N")),
    19: ("pointwise", "relu", "torch.relu(x)", ("batch_size", "dim")),
    22: ("pointwise", "tanh", "torch.tanh(x)", ("batch_size", "dim")),
    26: ("pointwise", "gelu", "torch.nn.functional.gelu(x)", ("batch_size", "dim")),
    23: ("pointwise", "softmax", "torch.softmax(x, dim=1)", ("batch_size", "dim")),
}
COLUMNS = ("machine", "device", "gpu", "problem", "kind", "op", "m", "n", "k", "batch",
           "elements", "width", "mean_ms", "std_ms", "min_ms", "max_ms", "trials", "torch",
           "commit", "date", "path")
_CONSTANT = re.compile(r"^(\w+)\s*=\s*([0-9][0-9 *+]*)\s*(#.*)?$", re.MULTILINE)


def sizes(src: str) -> dict:
    """Module-level integer constants, products and sums of literals allowed (``2048 * 2``)."""
    out = {}
    for name, expr, _ in _CONSTANT.findall(src):
        value = 0
        for term in expr.split("+"):
            product = 1
            for factor in term.split("*"):
                product *= int(factor)
            value += product
        out[name] = value
    return out


def shape(number: int, src: str) -> dict:
    """The GEMM (m, n, k, batch) or pointwise (elements, width) of a problem's file, or
    SystemExit when the file does not run what :data:`PROBLEMS` says."""
    kind, _, call, names = PROBLEMS[number]
    if call not in src:
        raise SystemExit(f"problem {number}: {call!r} not in its forward")
    c = sizes(src)
    missing = [n for n in names if n not in c]
    if missing:
        raise SystemExit(f"problem {number}: sizes {missing} not found")
    if number == 1:
        return {"m": c["N"], "n": c["N"], "k": c["N"], "batch": 1}
    if number == 3:
        return {"m": c["m"], "n": c["n"], "k": c["k"], "batch": c["batch_size"]}
    if number == 9:  # A [M, N] @ B [N, M]
        return {"m": c["M"], "n": c["M"], "k": c["N"], "batch": 1}
    if kind == "gemm":
        return {"m": c["M"], "n": c["N"], "k": c["K"], "batch": 1}
    if number == 5:
        return {"elements": c["M"] * c["N"], "width": c["N"]}
    return {"elements": c["batch_size"] * c["dim"], "width": c["dim"]}


def rows(gitdir: str) -> tuple[list[list], dict]:
    found, skipped = runs(gitdir, "level1",
                          lambda name: int(name.split("_")[0]) in PROBLEMS)
    out = []
    for machine, device, gpu, name, stats, torch, commit, date, path in found:
        number = int(name.split("_")[0])
        kind, op = PROBLEMS[number][:2]
        s = shape(number, git(gitdir, "show", f"{commit}:KernelBench/level1/{name}"))
        out.append([machine, device, gpu, name, kind, op, s.get("m"), s.get("n"), s.get("k"),
                    s.get("batch"), s.get("elements"), s.get("width"), stats["mean"],
                    stats["std"], stats["min"], stats["max"], stats["num_trials"], torch,
                    commit, date, path])
    return out, skipped


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    write(OUT, COLUMNS, argv[0], "KernelBench level-1 reference problems, PyTorch eager "
          "baseline times",
          ("one call of the problem's forward on fp32 inputs (torch.randn, later torch.rand): "
           "torch.matmul / torch.bmm (cuBLAS SGEMM: PyTorch's default leaves TF32 off for "
           "matmuls), A * s, relu, tanh, gelu, softmax over dim 1; model.cuda() under "
           "torch.no_grad(); scripts/generate_baseline_time.py"),
          "tools/import_kernelbench_ops.py", *rows(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
