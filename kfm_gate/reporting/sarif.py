"""SARIF 2.1.0 for GitHub code scanning."""

from __future__ import annotations

import json
from typing import Any

from kfm_gate.audit import AuditReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


class SarifRenderer:
    format = "sarif"

    def render(self, report: AuditReport) -> str:
        from importlib import metadata

        try:
            version = metadata.version("kfm-gate")
        except metadata.PackageNotFoundError:  # pragma: no cover
            version = "0"
        rules: dict[str, dict[str, Any]] = {}
        results = []
        for f in report.findings:
            rule_id = f.rule or f.check
            rules.setdefault(
                rule_id,
                {
                    "id": rule_id,
                    "name": rule_id.replace("/", "_").replace("-", "_"),
                    "shortDescription": {"text": f"kfm-gate {f.check}"},
                },
            )
            result: dict[str, Any] = {
                "ruleId": rule_id,
                "level": f.level,
                "message": {"text": f.message},
            }
            if f.file:
                region = {"startLine": f.line} if f.line else {}
                location: dict[str, Any] = {
                    "artifactLocation": {"uri": f.file, "uriBaseId": "%SRCROOT%"}
                }
                if region:
                    location["region"] = region
                result["locations"] = [{"physicalLocation": location}]
            results.append(result)
        doc = {
            "$schema": SARIF_SCHEMA,
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "kfm-gate",
                            "version": version,
                            "informationUri": "https://github.com/kfm/kfm-gate",
                            "rules": [rules[k] for k in sorted(rules)],
                        }
                    },
                    "results": results,
                }
            ],
        }
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"
