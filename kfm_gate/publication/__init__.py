"""The publisher: what the gate recorded as allowed becomes public, and can be withdrawn.

The gate decides and records (:mod:`kfm_gate.gate`, :mod:`kfm_gate.runs`); the publisher
promotes a recorded allow of a partition's current request (public view, STAC, DCAT, graph,
publication state, ledger entry) in one transaction, and withdraws it again. See
``docs/architecture.md``.
"""

from __future__ import annotations

from kfm_gate.publication.publisher import Publication, Publisher
from kfm_gate.publication.state import (
    FilePublicationBackend,
    PublicationBackend,
    PublicationState,
)

__all__ = [
    "FilePublicationBackend",
    "Publication",
    "PublicationBackend",
    "PublicationState",
    "Publisher",
]
