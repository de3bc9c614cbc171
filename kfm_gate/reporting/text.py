"""Plain text for a terminal."""

from __future__ import annotations

from kfm_gate.audit import AuditReport


class TextRenderer:
    format = "text"

    def render(self, report: AuditReport) -> str:
        lines = []
        for check in report.checks:
            status = "PASS" if check.passed else "FAIL"
            lines.append(f"{status} {check.name} ({check.examined} examined): {check.description}")
            for f in check.findings:
                where = f"{f.file}:{f.line}" if f.line else f.file
                lines.append(
                    f"  {f.level}: {where}: {f.message}" if where else f"  {f.level}: {f.message}"
                )
        errors = sum(f.level == "error" for f in report.findings)
        warnings = sum(f.level == "warning" for f in report.findings)
        lines.append(
            f"{'passed' if report.passed else 'failed'}: {errors} error(s), {warnings} warning(s)"
        )
        return "\n".join(lines) + "\n"
