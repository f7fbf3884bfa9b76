"""The claims check's fixed words, importable without sympy (the CLI builds its help from them)."""

#: Verdicts, in report order.
STATUSES = ("holds", "convention", "off", "measured", "not_computable")
#: Output formats of ``costmodel claims``.
FORMATS = ("table", "json", "csv", "markdown")
