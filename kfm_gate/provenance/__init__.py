"""Provenance of gate runs: run records, PROV-O, OpenLineage, the decision ledger.

Heavy libraries (rdflib, openlineage, pystac) are imported inside the functions that use them.
"""

from __future__ import annotations

from kfm_gate.provenance.ledger import Ledger, LedgerIssue, LedgerReport
from kfm_gate.provenance.record import PublicFile, RunRecord
from kfm_gate.provenance.recorder import record_run

__all__ = [
    "Ledger",
    "LedgerIssue",
    "LedgerReport",
    "PublicFile",
    "RunRecord",
    "record_run",
]
