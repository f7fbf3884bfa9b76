"""Import a script of ``tools/`` (not a package) by its file name, for the tests of it."""

import importlib.util
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def load_tool(filename: str):
    """The module ``tools/<filename>``, executed fresh."""
    spec = importlib.util.spec_from_file_location(Path(filename).stem, TOOLS / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
