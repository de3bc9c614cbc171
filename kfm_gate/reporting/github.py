"""GitHub Actions workflow commands: one annotation per finding, with file and line."""

from __future__ import annotations

from kfm_gate.audit import AuditReport


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_prop(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


class GithubRenderer:
    format = "github"

    def render(self, report: AuditReport) -> str:
        lines = []
        for f in report.findings:
            command = {"error": "error", "warning": "warning"}.get(f.level, "notice")
            props = [f"title={_escape_prop('kfm-gate ' + f.check)}"]
            if f.file:
                props.insert(0, f"file={_escape_prop(f.file)}")
                if f.line:
                    props.insert(1, f"line={f.line}")
            lines.append(f"::{command} {','.join(props)}::{_escape_data(f.message)}")
        errors = sum(f.level == "error" for f in report.findings)
        lines.append(f"kfm-gate ci {'passed' if report.passed else 'failed'}: {errors} error(s)")
        return "\n".join(lines) + "\n"
