"""Machine-readable JSON."""

from __future__ import annotations

import json

from kfm_gate.audit import AuditReport


class JsonRenderer:
    format = "json"

    def render(self, report: AuditReport) -> str:
        return json.dumps(report.to_dict(), indent=2, sort_keys=True) + "\n"
