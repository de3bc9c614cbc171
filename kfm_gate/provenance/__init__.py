"""Provenance of gate runs: PROV-O, OpenLineage and the decision ledger (builders and the
ledger; :class:`kfm_gate.runs.RunStore` writes them with each run record).

Heavy libraries (rdflib, openlineage, pystac) are imported inside the functions that use them.
"""

from __future__ import annotations

from kfm_gate.provenance.ledger import Ledger, LedgerIssue, LedgerReport
from kfm_gate.provenance.record import PublicFile, RunRecord

__all__ = [
    "Ledger",
    "LedgerIssue",
    "LedgerReport",
    "PublicFile",
    "RunRecord",
]
