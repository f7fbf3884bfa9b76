"""The example notebooks of docs/examples/ execute from a clean kernel without error, and the
committed ones are those tools/make_notebooks.py writes (same cells)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
import nbformat  # noqa: E402  (nbclient depends on it)

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "docs" / "examples"


def _maker():
    spec = importlib.util.spec_from_file_location("make_notebooks",
                                                  ROOT / "tools" / "make_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


MAKER = _maker()


@pytest.mark.parametrize("name", sorted(MAKER.NOTEBOOKS))
def test_notebook_is_fresh_and_runs(name):
    committed = nbformat.read(FOLDER / name, as_version=4)
    sources = [(c.cell_type, c.source) for c in committed.cells]
    assert sources == [(c["cell_type"], c["source"]) for c in MAKER.NOTEBOOKS[name]], (
        f"docs/examples/{name} is stale: run python tools/make_notebooks.py")
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert sum(bool(c.outputs) for c in code) == len(code) - 1  # all but the import cell
    book = MAKER.execute(MAKER.build(MAKER.NOTEBOOKS[name]))  # raises on any cell's error
    images = [o for c in book.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    assert images or name == "crnn_and_claims.ipynb"


@pytest.mark.parametrize("name", sorted(MAKER.NOTEBOOKS))
def test_setup_cell_imports_only_what_the_notebook_uses(name):
    import re

    cells = [c["source"] for c in MAKER.NOTEBOOKS[name] if c["cell_type"] == "code"]
    setup, rest = cells[0], "\n".join(cells[1:])
    bound = [line.split()[-1] for line in setup.splitlines() if "import " in line]
    assert bound  # the setup cell is the imports
    unused = [b for b in bound if not re.search(rf"\b{re.escape(b)}\b", rest)]
    assert not unused, f"{name}: setup imports {unused} that no cell uses (ruff F401)"
