"""Write and execute the example notebooks of docs/examples/ (outputs committed, so they read
on GitHub; tests/test_notebooks.py re-executes them in CI).

    python tools/make_notebooks.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

FOLDER = Path(__file__).resolve().parent.parent / "docs" / "examples"
TIMEOUT_S = 120
md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell

#: The name each import of a setup cell binds, and the import (a notebook takes what it uses).
IMPORTS = {"pd": "import pandas as pd", "cm": "import costmodel as cm",
           "plots": "from costmodel import plots", "pm": "from costmodel import plot_memory as pm",
           "compare": "from costmodel.compare import compare"}


def setup(*names: str):
    """The first code cell: inline figures and the imports of ``names`` (keys of IMPORTS)."""
    return code("\n".join(["%matplotlib inline", *(IMPORTS[name] for name in names)]))


CRNN_AND_CLAIMS = [
    md("# The music-emotion CRNN, and which of the documents' numbers hold\n\n"
       "Seed document 000 proposes a CRNN for valence/arousal regression: three "
       "Conv2d+ReLU+MaxPool blocks over a 128-mel spectrogram of 1,292 frames, a 2-layer "
       "bidirectional GRU(128, 256), temporal pooling and a Linear(512, 2). `cm.CRNN()` "
       "builds it from the same records as every other model; its formulas are exact."),
    setup("pd", "cm"),
    code("crnn = cm.CRNN()\ncrnn  # the formulas, as a table (LaTeX: crnn._repr_latex_())"),
    md("At the document's 1,292 frames, batch 1 (FLOPs count a multiply-add as 2):"),
    code("values = crnn.evaluate(n=1292, batch=1)\n"
         "pd.Series({k: values[k] for k in ('params', 'flops', 'flops_training', "
         "'activation_bytes', 'depth_forward')})"),
    md("Where the cost goes: the GRU holds 95 % of the parameters, but the convolutions run "
       "on the full 1,292 x 128 grid and dominate the FLOPs; the pooling shortens the GRU's "
       "sequence to 161 steps, which sets the sequential depth."),
    code("parts = pd.DataFrame([{'part': row['part'], **{q: int(row[q].subs({cm.symbols.n: "
         "1292, cm.symbols.batch: 1, cm.symbols.dtype_bytes: 4})) for q in ('params', "
         "'flops', 'activation_bytes')}} for row in crnn.breakdown()]).set_index('part')\n"
         "parts[(parts != 0).any(axis=1)]"),
    md("Time of one training step on an A100 (the roofline with the cuDNN GRU model), per "
       "kernel, largest first. The time is not where the FLOPs are: the GRU's 161 dependent "
       "steps, each way and in each of its 2 layers, are latency-bound and take most of the "
       "step, while the convolutions' GFLOPs run at the compute roof."),
    code("step = cm.predict(crnn, 'a100', n=1292, batch=1, mode='training')\n"
         "step.to_frame().sort_values('total_s', ascending=False).head(8)"),
    md("## Which numbers of the documents do not hold\n\n`costmodel.claims` recomputes every "
       "quantitative claim of the seed documents; `off` means the recomputed value is outside "
       "what the claim's wording admits. The reason says why."),
    code("from costmodel.claims import check_claims\n"
         "verdicts = check_claims()\n"
         "pd.Series([v.status for v in verdicts]).value_counts()"),
    code("off = pd.DataFrame([{'id': v.claim.id, 'quote': v.claim.quote[:70], 'claimed': "
         "v.claim.claimed, 'computed': v.computed, 'reason': v.reason[:110]} for v in verdicts "
         "if v.status == 'off'])\noff.head(12)"),
]

MEMORY_DEPTH_TIME = [
    md("# O(n^2) vs O(n d): memory, depth and time on an A100 and an H100\n\n"
       "The documents' argument: a Transformer's attention stores an n x n score matrix per "
       "head, so its memory grows as n^2 while a recurrence's grows as n d; but a recurrence "
       "runs n dependent steps. Here are the numbers, d = 768, batch 8, fp32."),
    setup("cm", "plots", "pm", "compare"),
    code("result = compare(512, 768, 'a100', batch=8)\nresult"),
    md("Memory of one training step (weights, gradients, Adam states and the activations "
       "saved for backward). With math attention the n^2 term of the saved activations "
       "passes their n d term at the red dot (n = 897 at d = 768, from the formula); a fused "
       "kernel (flash / memory-efficient, what PyTorch picks by default) keeps attention "
       "linear in n, and every recurrence stays below it."),
    code("ns = [2**k for k in range(4, 17)]\nplots.plot_memory(ns, 768, 'a100', batch=8)"),
    code("plots.plot_memory(ns, 768, 'h100', batch=8)"),
    md("Where each stops fitting, solved exactly from the formulas:"),
    code("for gpu in ('a100', 'h100'):\n"
         "    hw = cm.load_hardware(gpu)\n"
         "    record, setup = pm.memory_record(768, hw, model='transformer', "
         "attention='math', batch=8)\n"
         "    expr = pm.training_memory_expr(record, setup)\n"
         "    print(hw.name, 'math attention stops fitting at n =', "
         "pm.first_n_above(int(hw.memory_bytes), expr))"),
    md("## Depth vs time\n\nA recurrence's forward is n dependent steps; a Transformer "
       "layer's is a constant 5 GEMM-class steps. Whether that costs time depends on how much "
       "work each step has: on a GPU the recurrences' steps are latency-bound."),
    code("plots.plot_depth(ns[:10], 'a100', d=768, batch=8)"),
    code("plots.plot_time(ns[:10], ['a100', 'h100'], d=768, batch=8)"),
    md("A tidy table of the same grid (one row per configuration and model) for your own "
       "analysis:"),
    code("from costmodel.sweep import sweep_frame\n"
         "frame = sweep_frame(ns[:6], [768], [8], 'h100')\n"
         "frame.pivot(index='n', columns='model', values='time_forward_s')"),
    md("## How far to trust these times\n\nThe times are predictions. How far such "
       "predictions were from published GPU measurements, per architecture (the validation's "
       "own scores; docs/compare.md): the recurrences on Ampere and Hopper came out too fast "
       "(their cuDNN calls were host-bound on the machines measured), the Transformer within "
       "a few per cent."),
    code("e = cm.expected_error('recurrence', 'h100', 'inference')\n"
         "print(f'{e.source}: median {e.median:.0%}, p90 {e.p90:.0%}, signed '\n"
         "      f'{e.signed_median:+.0%} over {e.rows} rows ({e.protocol})')\n"
         "plots.plot_accuracy()"),
]

NOTEBOOKS = {"crnn_and_claims.ipynb": CRNN_AND_CLAIMS,
             "memory_depth_time.ipynb": MEMORY_DEPTH_TIME}


def build(cells) -> nbformat.NotebookNode:
    book = nbformat.v4.new_notebook(cells=[nbformat.from_dict(c) for c in cells])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                   "language": "python"}
    return book


def execute(book: nbformat.NotebookNode, folder: Path = FOLDER) -> nbformat.NotebookNode:
    NotebookClient(book, timeout=TIMEOUT_S, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    return book


def main() -> None:
    from costmodel.files import write_atomic

    for name, cells in NOTEBOOKS.items():
        book = execute(build(cells))
        write_atomic(FOLDER / name, nbformat.writes(book) + "\n")
        print(f"wrote docs/examples/{name}")


if __name__ == "__main__":
    main()
