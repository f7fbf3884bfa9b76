"""``python -m costmodel.reference.fit [NAME|all]``: regenerate ``costmodel/data/fitted/*.toml``
from every row of the named reference source(s); each value with the GPUs and rows it came
from. Deterministic: the same data give the same file (a test checks the committed one)."""

from __future__ import annotations

import sys
from pathlib import Path

from costmodel.reference import SOURCES, names, source

FOLDER = Path(__file__).resolve().parents[1] / "data" / "fitted"
HEADER = ("# Fitted by `python -m costmodel.reference.fit {name}` from {rows} rows of reference "
          "'{name}'\n# (costmodel/reference/{module}.py); do not edit: rerun the command.\n"
          "# Keys: [params.<architecture or 'all'>.<phase>]; gpus/rows: the data each value "
          "came from.\n")


def render(name: str) -> str:
    """The TOML text of source ``name``'s fit on all of its rows (a source with a layout of
    its own renders it: ``fitted_toml(params)``)."""
    module = source(name)
    frame = module.rows()
    header = HEADER.format(name=name, rows=len(frame), module=module.__name__.rsplit(".", 1)[1])
    if hasattr(module, "fitted_toml"):  # its own layout: the header's first two lines only
        return "".join(header.splitlines(keepends=True)[:2]) + module.fitted_toml(
            module.fit(frame))
    return "\n".join([header] + _tables("params", module.fit(frame)))


def _tables(prefix: str, mapping: dict) -> list[str]:
    """TOML lines of ``mapping``: a table per innermost dict (values that are not dicts),
    nested dicts as dotted table names (``[params.<arch>.<phase>]``)."""
    plain = {k: v for k, v in mapping.items() if not isinstance(v, dict)}
    lines = [f"[{prefix}]", *(f"{k} = {_value(v)}" for k, v in plain.items()), ""] if plain else []
    for key, value in mapping.items():
        if isinstance(value, dict):
            lines += _tables(f"{prefix}.{key}", value)
    return lines


def writer(name: str) -> str:
    """The source that renders ``name``'s fitted file: ``name`` itself where it has a layout
    of its own (``fitted_toml``), else the first source sharing the file that has one (the
    file of NeuSight, DeepBench GEMM, LLMCompass and the attention threads is NeuSight's)."""
    if hasattr(source(name), "fitted_toml"):
        return name
    shared = [s for s in sorted(SOURCES) if source(s).FITTED == source(name).FITTED
              and hasattr(source(s), "fitted_toml")]
    return shared[0] if shared else name


def _value(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(f'"{x}"' if isinstance(x, str) else repr(x) for x in v) + "]"
    return repr(v)


def main(argv: list[str]) -> int:
    selection = argv[0] if argv else "all"
    try:
        chosen = names(selection)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    written = set()
    for name in chosen:
        if source(name).FITTED in written:  # sources sharing one fitted file: the first writes
            continue
        written.add(source(name).FITTED)
        path = FOLDER / f"{source(name).FITTED}.toml"
        path.write_text(render(writer(name)), encoding="utf-8")
        print(f"wrote {path.relative_to(FOLDER.parents[2])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
