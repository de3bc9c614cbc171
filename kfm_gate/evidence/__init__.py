"""Evidence collectors and the redaction obligation engine.

Each collector produces one section of the evidence from the public view; heavy libraries
(Great Expectations, Presidio, spaCy) are imported only when a collector runs.
"""

from __future__ import annotations

from kfm_gate.evidence.pii import PiiCollector
from kfm_gate.evidence.quality import QualityCollector
from kfm_gate.evidence.redaction import RedactionEngine
from kfm_gate.evidence.secrets import SecretsCollector

__all__ = ["PiiCollector", "QualityCollector", "RedactionEngine", "SecretsCollector"]
