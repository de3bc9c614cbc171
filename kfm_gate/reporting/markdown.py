"""Markdown for a GitHub job summary (``$GITHUB_STEP_SUMMARY``)."""

from __future__ import annotations

from kfm_gate.audit import AuditReport


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


class MarkdownRenderer:
    format = "markdown"

    def render(self, report: AuditReport) -> str:
        icon = "passed" if report.passed else "failed"
        out = [
            f"## kfm-gate ci: {icon}",
            "",
            "| check | result | examined | findings |",
            "|---|---|---|---|",
        ]
        for c in report.checks:
            out.append(
                f"| `{c.name}` | {'pass' if c.passed else '**fail**'} | {c.examined} | {len(c.findings)} |"
            )
        findings = report.findings
        if findings:
            out += ["", "| level | check | where | message |", "|---|---|---|---|"]
            for f in findings:
                where = f"`{f.file}:{f.line}`" if f.line else (f"`{f.file}`" if f.file else "")
                out.append(f"| {f.level} | `{f.check}` | {where} | {_cell(f.message)} |")
        return "\n".join(out) + "\n"
