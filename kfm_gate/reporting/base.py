"""The one interface of the CI report renderers, and the registry of formats."""

from __future__ import annotations

from typing import Protocol

from kfm_gate.audit import AuditReport
from kfm_gate.errors import ConfigError


class AuditRenderer(Protocol):
    """Turns an audit report into text in one format."""

    format: str

    def render(self, report: AuditReport) -> str: ...


def build_renderer(fmt: str) -> AuditRenderer:
    """The renderer of ``fmt``; an unknown format is a ConfigError naming the known ones."""
    from kfm_gate.reporting.github import GithubRenderer
    from kfm_gate.reporting.json_format import JsonRenderer
    from kfm_gate.reporting.junit import JunitRenderer
    from kfm_gate.reporting.markdown import MarkdownRenderer
    from kfm_gate.reporting.sarif import SarifRenderer
    from kfm_gate.reporting.text import TextRenderer

    renderers: dict[str, AuditRenderer] = {
        r.format: r
        for r in (
            TextRenderer(),
            JsonRenderer(),
            MarkdownRenderer(),
            GithubRenderer(),
            SarifRenderer(),
            JunitRenderer(),
        )
    }
    if fmt not in renderers:
        raise ConfigError(f"unknown format {fmt!r}; use one of {', '.join(sorted(renderers))}")
    return renderers[fmt]


FORMATS = ("github", "json", "junit", "markdown", "sarif", "text")
