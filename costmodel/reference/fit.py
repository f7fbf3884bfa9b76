"""Regenerate ``costmodel/data/fitted/<FITTED>.toml`` from the shipped measurements::

    python -m costmodel.reference.fit [NAME|all]

Each source's ``fit`` sees all of its rows; the file records every value with the rows it came
from (``rows = [...]`` beside each table). Minimal version from branch ``ops``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from costmodel.reference import SOURCES

FOLDER = Path(__file__).resolve().parents[1] / "data" / "fitted"


def _value(v) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return repr(float(v)) if isinstance(v, float) else repr(v)


def to_toml(data: dict, prefix: str = "") -> str:
    """A nested dict of numbers, strings and lists as TOML (tables after plain keys)."""
    plain = [f"{k} = {_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    lines = ([f"[{prefix}]"] if prefix and plain else []) + plain
    for k, v in data.items():
        if isinstance(v, dict):
            lines += ["", to_toml(v, f"{prefix}.{k}" if prefix else k)]
    return "\n".join(lines).strip("\n")


def main(name: str = "all") -> list[Path]:
    written, fitted = [], set()
    for module in (importlib.import_module(m) for m in SOURCES):
        if name not in ("all", module.NAME, module.FITTED) or module.FITTED in fitted:
            continue  # (one fit per file: the first source writing it, neusight for cublas)
        fitted.add(module.FITTED)
        params = module.fit(module.rows())
        header = (f"# Fitted by `python -m costmodel.reference.fit {module.NAME}` from the rows "
                  f"of source {module.NAME!r} (costmodel/data/reference/); do not edit.\n")
        path = FOLDER / f"{module.FITTED}.toml"
        FOLDER.mkdir(parents=True, exist_ok=True)
        path.write_text(header + to_toml(params) + "\n", encoding="utf-8")
        written.append(path)
    if not written:
        raise SystemExit(f"unknown reference name {name!r}")
    return written


if __name__ == "__main__":
    for p in main(*(sys.argv[1:2] or ["all"])):
        print(p.name)
