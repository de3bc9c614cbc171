"""Renderers of a decision: text for people, JSON for machines, and ``explain``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfm_gate.models import Decision

_OUTCOME_WORDS = {
    "allow": "ALLOW - the partition may be promoted",
    "deny": "DENY - the partition is not promoted",
    "quarantine": "QUARANTINE - held for FAIR+CARE council review, not promoted",
    "error": "ERROR - the gate could not decide; nothing is promoted (fail closed)",
}
_TITLE = re.compile(r"^#\s+title:\s*(.+)$")
_RULE_LITERAL = re.compile(r'"rule":\s*"([a-z_][a-z0-9_]*\.[a-z0-9_]+)"')


class DecisionTextRenderer:
    """A short human summary of one decision."""

    format = "text"

    def render(
        self, decision: Decision, *, run_dir: Path | None = None, reused: bool = False
    ) -> str:
        part = decision.partition
        where = (
            f"{part.get('aoi_key', '?')}|{part.get('time_key', '?')}"
            if part
            else "(invalid request)"
        )
        lines = [
            f"{decision.outcome.upper():<10} {decision.asset_key} {where}",
            f"  run {decision.run_id}  decision {decision.decision_id}"
            + ("  (recorded earlier, reused)" if reused else ""),
        ]
        for v in decision.violations:
            lines.append(f"  x {v.code} [{v.rule}] {v.msg}")
        for w in decision.warnings:
            lines.append(f"  ! {w.code} [{w.rule}] {w.msg}")
        for waived in decision.waived:
            lines.append(f"  ~ waived by {waived.waiver_id}: {waived.code} [{waived.rule}]")
        for o in decision.obligations:
            lines.append(f"  > obligation {o.code} ({o.kind}) {o.reason}")
        if run_dir is not None:
            lines.append(f"  record: {run_dir}")
        return "\n".join(lines) + "\n"


class DecisionJsonRenderer:
    """The decision as JSON, ``outcome``, ``run_id`` and ``decision_id`` at the top level."""

    format = "json"

    def render(
        self, decision: Decision, *, run_dir: Path | None = None, reused: bool = False
    ) -> str:
        doc: dict[str, Any] = decision.to_json_dict()
        doc["record"] = None if run_dir is None else str(run_dir)
        doc["reused"] = reused
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def rule_titles(policy_dir: Path) -> dict[str, str]:
    """``{rule id: title}`` from the METADATA blocks of the policy folder.

    A block's title names the rule head that follows it (``<file>.<head>``) and every
    ``"rule": "<id>"`` literal in the block's body (the ids violations carry).
    """
    titles: dict[str, str] = {}
    for path in sorted(policy_dir.rglob("*.rego")):
        if path.name.endswith("_test.rego"):
            continue
        for block in path.read_text(encoding="utf-8").split("# METADATA")[1:]:
            title = next(
                (m.group(1).strip() for m in map(_TITLE.match, block.splitlines()) if m), None
            )
            if not title:
                continue
            head = re.search(r"^([a-z_][a-z0-9_]*)", block, re.MULTILINE)
            if head:
                titles.setdefault(f"{path.stem}.{head.group(1)}", title)
            for rule in _RULE_LITERAL.findall(block):
                titles.setdefault(rule, title)
    return titles


def _figures(details: dict[str, Any]) -> str:
    shown = []
    for key, value in sorted(details.items()):
        if isinstance(value, dict | list) and len(json.dumps(value)) > 120:
            value = f"{type(value).__name__} of {len(value)}"
        shown.append(f"{key}={json.dumps(value) if not isinstance(value, str) else value}")
    return ", ".join(shown)


@dataclass(frozen=True)
class Point:
    """One item of an explanation: a sentence and the notes printed under it."""

    text: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Part:
    """One part of an explanation: a heading and its points (bulleted or not).

    ``key`` names the part for other renderers: error, why, warnings, obligations, waivers,
    evidence.
    """

    key: str
    heading: str
    points: tuple[Point, ...] = ()
    bullets: bool = True


def outcome_words(outcome: str) -> str:
    """The plain-language sentence of an outcome, e.g. ``DENY - the partition is not promoted``."""
    return _OUTCOME_WORDS[outcome]


def load_run_record(run_dir: Path) -> tuple[Decision, dict[str, Any]]:
    """The decision (schema and digest checked) and the evidence document of a recorded run
    (:class:`kfm_gate.runs.RecordedRun`); InputError when it cannot be read."""
    from kfm_gate.errors import InputError, RecordError
    from kfm_gate.runs import RecordedRun

    record = RecordedRun(run_dir)
    try:
        return record.decision, record.evidence_doc
    except RecordError as err:
        raise InputError(f"run record {run_dir} cannot be read: {err}") from err


def explain_header(decision: Decision) -> list[str]:
    """Run, asset and partition, outcome in words, and when and how it was evaluated."""
    part = decision.partition
    return [
        f"Run {decision.run_id}",
        f"Asset {decision.asset_key}, partition {part.get('aoi_key', '?')} on {part.get('time_key', '?')}.",
        f"Outcome: {_OUTCOME_WORDS[decision.outcome]} (KFM {decision.kfm_outcome}, "
        f"lifecycle {decision.lifecycle_stage}).",
        f"Evaluated {decision.evaluated_at} by {decision.engine} with policies {decision.policy_digest}.",
    ]


def evidence_summaries(evidence: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """``(section, collector, status, scalar figures)`` of every evidence section, sorted."""
    rows = []
    for name, sec in sorted(evidence.get("sections", {}).items()):
        data = sec.get("data", {})
        summary = {k: v for k, v in data.items() if isinstance(v, int | float | bool | str)}
        rows.append((name, str(sec.get("collector")), str(sec.get("status")), summary))
    return rows


def explain_parts(
    decision: Decision, evidence: dict[str, Any], titles: dict[str, str]
) -> list[Part]:
    """The explanation of a run as parts: what went wrong, why, warnings, obligations,
    waivers, evidence. Shared by ``explain`` (text) and the council report (HTML)."""
    parts: list[Part] = []
    if decision.error:
        parts.append(Part("error", "What went wrong:", (Point(decision.error),), bullets=False))
    if decision.violations:
        why = []
        for v in decision.violations:
            rule_id = v.rule.split(".", 1)
            title = titles.get(v.rule) or titles.get(".".join(rule_id[:2]), "")
            notes = [
                f"rule {v.rule}"
                + (f" ({title})" if title else "")
                + f", code {v.code}, severity {v.severity}"
            ]
            if v.details:
                notes.append(f"evidence: {_figures(v.details)}")
            why.append(Point(v.msg, tuple(notes)))
        parts.append(Part("why", "Why:", tuple(why)))
    elif decision.outcome == "allow":
        parts.append(Part("why", "Why: every rule of the policy set passed."))
    if decision.warnings:
        parts.append(
            Part(
                "warnings",
                "Warnings:",
                tuple(Point(f"{w.msg} ({w.code})") for w in decision.warnings),
            )
        )
    if decision.obligations:
        points = []
        for o in decision.obligations:
            params = _figures(o.params)
            points.append(
                Point(f"{o.code} ({o.kind}): {o.reason}" + (f" [{params}]" if params else ""))
            )
        parts.append(
            Part(
                "obligations", "Obligations (what had to happen before publication):", tuple(points)
            )
        )
    if decision.waived:
        parts.append(
            Part(
                "waivers",
                "Waivers applied:",
                tuple(
                    Point(
                        f"{w.waiver_id} set aside {w.rule} ({w.code}); approved by {w.approver}, "
                        f"expires {w.expires}"
                    )
                    for w in decision.waived
                ),
            )
        )
    rows = evidence_summaries(evidence)
    if rows:
        parts.append(
            Part(
                "evidence",
                "Evidence collected:",
                tuple(
                    Point(
                        f"{name} ({collector}): {status}"
                        + (f"; {_figures(summary)}" if summary else "")
                    )
                    for name, collector, status, summary in rows
                ),
            )
        )
    return parts


def explain_run(run_dir: Path, policy_dir: Path) -> str:
    """Plain-language account of a recorded run: outcome, why, evidence, obligations, waivers."""
    decision, evidence = load_run_record(run_dir)
    titles = rule_titles(policy_dir) if policy_dir.is_dir() else {}
    out = [*explain_header(decision), ""]
    for part in explain_parts(decision, evidence, titles):
        out.append(part.heading)
        for point in part.points:
            out.append(("  - " if part.bullets else "  ") + point.text)
            out += [f"    {note}" for note in point.notes]
        out.append("")
    return "\n".join(out)
