"""The documents' numbers, checked: a ledger of every quantitative claim in the seed documents,
named evaluators that recompute each one with costmodel, and verdicts.

>>> from costmodel.claims import check_claims
>>> results = check_claims(doc="002")
"""

from costmodel.claims.ledger import Claim, load
from costmodel.claims.verdicts import STATUSES, Verdict, check_claims

__all__ = ["Claim", "STATUSES", "Verdict", "check_claims", "load"]
