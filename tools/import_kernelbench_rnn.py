"""Write costmodel/data/reference/kernelbench-rnn.json from a git copy of
ScalingIntelligence/KernelBench: the PyTorch-eager baseline times of its level-3 recurrent
problems (35-42: a 6-layer nn.LSTM / nn.GRU, uni- and bidirectional) on every catalogue GPU
the repository's main line has timed.

    python tools/import_kernelbench_rnn.py GIT_DIR

GIT_DIR: the repository's git directory (``fetch github:ScalingIntelligence/KernelBench``).
Every distinct ``results/timing/<machine>/baseline_time_torch.json`` blob on the main line
(``git log HEAD -- results/timing``) is one run; its rows cite the commit that added it. Off
the main line (pull-request heads, branches) only machines the main line never timed are read
(session 11: a GCP L4, Modal's H100/H200 machine). The
problem's shapes are read from ``KernelBench/level3/<problem>.py`` at that same commit. GPUs
outside the catalogue (the A10G: no first-hand datasheet figures) are left out and counted;
the A10 (not AWS's A10G) and the B200 are read since session 10.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "costmodel" / "data" / "reference" / \
    "kernelbench-rnn.json"
REPO = "ScalingIntelligence/KernelBench"
PROBLEM = re.compile(r"^(3[5-9]|4[0-2])_")
#: torch.cuda.get_device_name as recorded in each row -> catalogue name
DEVICES = {"NVIDIA A100-SXM4-40GB": "a100-sxm4-40gb", "NVIDIA A100-SXM4-80GB": "a100-sxm4-80gb",
           "NVIDIA H100 80GB HBM3": "h100-sxm5-80gb", "NVIDIA H100 PCIe": "h100-pcie-80gb",
           "NVIDIA L4": "l4", "NVIDIA L40S": "l40s", "Tesla T4": "t4", "NVIDIA A10": "a10",
           "NVIDIA B200": "b200-sxm-180gb", "NVIDIA H200": "h200-sxm-141gb",
           "NVIDIA RTX A6000": "rtx-a6000", "NVIDIA GeForce RTX 3090 Ti": "rtx-3090-ti"}
SIZES = ("batch_size", "sequence_length", "seq_len", "input_size", "hidden_size", "num_layers")
COLUMNS = ("machine", "device", "gpu", "problem", "cell", "bidirectional", "layers", "hidden",
           "input_size", "batch", "timesteps", "linear_head", "mean_ms", "std_ms", "min_ms",
           "max_ms", "trials", "torch", "commit", "date", "path")


def git(gitdir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", gitdir, *args], capture_output=True, text=True,
                          check=True).stdout


def torch_pin(gitdir: str, commit: str) -> str:
    """The torch version the repository pinned at ``commit`` (requirements or pyproject),
    else what its timing README states."""
    for path in ("pyproject.toml", "requirements.txt"):
        try:
            text = git(gitdir, "show", f"{commit}:{path}")
        except subprocess.CalledProcessError:
            continue
        found = re.search(r"torch\s*==\s*([0-9][0-9.a-z+]*)", text)
        if found:
            return found.group(1)
    readme = git(gitdir, "show", f"{commit}:results/timing/README.md")
    found = re.search(r"PyTorch `([0-9][^`]*)`", readme)
    if not found:
        raise SystemExit(f"{commit}: no torch version pinned or stated")
    return found.group(1)


def problem(gitdir: str, commit: str, name: str) -> dict:
    src = git(gitdir, "show", f"{commit}:KernelBench/level3/{name}")
    sizes = {m.group(1): int(m.group(2)) for m in
             re.finditer(rf"^({'|'.join(SIZES)})\s*=\s*(\d+)", src, re.MULTILINE)}
    cell = "lstm" if "nn.LSTM(" in src else "gru" if "nn.GRU(" in src else None
    if cell is None or len(sizes) < 5:
        raise SystemExit(f"{commit}:{name}: not an nn.LSTM / nn.GRU problem with stated sizes")
    # the GRU problems take batch_first from their constructor's default (False): either way
    # the cuDNN call is the same; bidirectional is a literal in every version
    return {"cell": cell, "bidirectional": "bidirectional=True" in src,
            "layers": sizes["num_layers"], "hidden": sizes["hidden_size"],
            "input_size": sizes["input_size"], "batch": sizes["batch_size"],
            "timesteps": sizes.get("sequence_length", sizes.get("seq_len")),
            "linear_head": "nn.Linear(" in src}


def runs(gitdir: str, level: str, wanted):
    """``(machine, device, catalogue gpu, problem, stats, torch, commit, date, path)`` for
    every problem of ``level`` (e.g. "level3") that ``wanted(name)`` takes, in every distinct
    ``baseline_time_torch.json`` blob of the main line (the commit that added it cited), on a
    catalogue GPU; then, off the main line (pull-request heads and branches, ``git log --all
    --not HEAD``), the runs of machines the main line never timed (session 11: a GCP L4 in
    pull request #123, Modal's H100/H200 machine on two branches), so a branch's reruns of a
    main-line machine are not counted twice. The second value returned: the devices left out
    and their row counts."""
    main = _log(gitdir, "HEAD")
    seen, out, skipped = set(), [], {}
    machines = _collect(gitdir, level, wanted, main, seen, out, skipped, lambda m: True)
    _collect(gitdir, level, wanted, _log(gitdir, "--all", "--not", "HEAD"), seen, out,
             skipped, lambda m: m not in machines)
    return out, skipped


def _log(gitdir: str, *revs: str) -> list[tuple[str, str]]:
    """(commit, date) of the commits of ``revs`` that touch results/timing, oldest first."""
    log = git(gitdir, "log", "--format=%H %ad", "--date=short", "--reverse", *revs, "--",
              "results/timing")
    return [tuple(line.split()) for line in log.split("\n") if line]


def _collect(gitdir, level, wanted, commits, seen, out, skipped, take) -> set:
    """Append the rows of every new blob in ``commits`` whose machine ``take`` accepts;
    return the machines read."""
    machines = set()
    for commit, date in commits:
        for path in git(gitdir, "ls-tree", "-r", "--name-only", commit,
                        "results/timing").split("\n"):
            if not path.endswith("/baseline_time_torch.json") or "/old/" in path:
                continue
            machine = path.split("/")[2] if path.count("/") >= 3 else None
            if machine is None or not take(machine):
                continue
            blob = git(gitdir, "rev-parse", f"{commit}:{path}").strip()
            if blob in seen:
                continue
            seen.add(blob)
            machines.add(machine)
            problems = json.loads(git(gitdir, "show", f"{commit}:{path}")).get(level, {})
            torch = None
            for name in sorted((k for k in problems if wanted(k)),
                               key=lambda k: int(k.split("_")[0])):
                stats = problems[name]
                if not stats:  # a problem the run could not time (null in its file)
                    skipped["no timing"] = skipped.get("no timing", 0) + 1
                    continue
                device = stats.get("hardware")
                if device is None:  # a run that recorded only a mean (one A6000 run)
                    skipped["no device recorded"] = skipped.get("no device recorded", 0) + 1
                    continue
                if device not in DEVICES:
                    skipped[device] = skipped.get(device, 0) + 1
                    continue
                torch = torch or torch_pin(gitdir, commit)
                out.append((machine, device, DEVICES[device], name, stats, torch,
                            commit, date, path))
    return machines


def provenance(gitdir: str, source: str, what: str, importer: str, skipped: dict) -> dict:
    """The provenance table both KernelBench files carry."""
    head = git(gitdir, "rev-parse", "HEAD").strip()
    return {"source": source, "repo": REPO,
            "commit": f"per row (the commit that added the run's file; main line at {head})",
            "url": f"https://github.com/{REPO}/tree/{head}/results/timing", "what": what,
            "timer": ("CUDA events around one call, the device synchronized before each trial "
                      "(queue drained: the host's issue cost is inside), the L2 cleared before "
                      "each trial in later versions; 3 warm-up calls, 100 trials; mean, std, "
                      "min, max in ms"),
            "software": "torch as the repository pinned at the row's commit (column torch)",
            "left_out": dict(sorted(skipped.items())), "read": "2026-12-01",
            "importer": importer}


def rows(gitdir: str) -> tuple[list[list], dict]:
    found, skipped = runs(gitdir, "level3", PROBLEM.match)
    out = []
    for machine, device, gpu, name, stats, torch, commit, date, path in found:
        p = problem(gitdir, commit, name)
        out.append([machine, device, gpu, name, p["cell"], p["bidirectional"], p["layers"],
                    p["hidden"], p["input_size"], p["batch"], p["timesteps"], p["linear_head"],
                    stats["mean"], stats["std"], stats["min"], stats["max"],
                    stats["num_trials"], torch, commit, date, path])
    return out, skipped


def write(out: Path, columns, gitdir: str, source: str, what: str, importer: str,
          table: list[list], skipped: dict) -> None:
    """``out``: the provenance, the columns and the rows, as published.table reads them."""
    data = {"provenance": provenance(gitdir, source, what, importer, skipped),
            "columns": list(columns), "rows": table}
    out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {len(table)} rows to {out.name}; left out {skipped}")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    write(OUT, COLUMNS, argv[0], "KernelBench level-3 reference problems, PyTorch eager "
          "baseline times",
          ("one forward call of the problem's Model (a 6-layer nn.LSTM or nn.GRU, fp32, cuDNN "
           "as PyTorch's defaults leave it: TF32 allowed; problems 35-38 also run nn.Linear on "
           "the last step) in train mode (the module is never put in eval()) under "
           "torch.no_grad(), model.cuda(), inputs torch.randn; "
           "scripts/generate_baseline_time.py"),
          "tools/import_kernelbench_rnn.py", *rows(argv[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
