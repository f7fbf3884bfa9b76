"""Registry of the published-measurement sources (one module each, see ``TIMELAYER``'s
interface: ``NAME``, ``FITTED``, ``rows()``, ``fit(train)``, ``predict(rows, params)``).
Minimal version from branch ``ops``; the registry of branch ``cudnn`` supersedes it."""

SOURCES = ("costmodel.reference.neusight", "costmodel.reference.neusight_layers",
           "costmodel.reference.llmcompass", "costmodel.reference.attention")
