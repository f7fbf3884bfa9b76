"""The documents' numbers, checked: a ledger of every quantitative claim in the seed documents,
named evaluators that recompute each one with costmodel, and verdicts.

>>> from costmodel.claims import check_claims
>>> results = check_claims(doc="002")
"""

import importlib

from costmodel.claims.vocabulary import STATUSES

__all__ = ["Claim", "STATUSES", "Verdict", "check_claims", "load"]
_LAZY = {"Claim": "costmodel.claims.ledger", "load": "costmodel.claims.ledger",
         "Verdict": "costmodel.claims.verdicts", "check_claims": "costmodel.claims.verdicts"}


def __getattr__(name: str):
    """Heavy parts (sympy, the evaluators) load on first use, so the CLI starts fast."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'costmodel.claims' has no attribute {name!r}")
