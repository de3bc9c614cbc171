"""Secrets evidence: credentials in tables, logs and artifacts, as counts and places only.

Detectors (``SecretRule``): private key blocks; AWS, Google, Azure, GitHub, GitLab, Slack and
Stripe tokens; JSON Web Tokens; passwords in URLs (``scheme://user:pass@host``); passwords,
secrets, API keys and tokens in assignments (``password = ...``, ``"api_key": "..."``) unless
the value is a placeholder (``***``, ``<redacted>``, ``${VAR}``); and high-entropy strings
(mixed-case base64-like runs of 24+ characters with Shannon entropy >= 4.3 bits a character).
Hex strings (checksums, git SHAs, ``sha256:`` digests) are not high-entropy findings: they are
what provenance is made of.

A finding is ``{type, file, line, column, count}``: for a text artifact ``line`` is the 1-based
line and ``column`` the 1-based character of the first match; for a table ``line`` is the
0-based data row and ``column`` the column name, and ``path`` where in a cell holding an object
or array the secret is (``extra.auth[0]``; every key and leaf is scanned). A column name that
is itself a credential is a finding (``line`` null) and the column is shown as ``<key#i>``, its
position; so is a key inside a cell. Never the secret, nor a hash of it.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfm_gate.context import GateContext
from kfm_gate.errors import CollectorError, KfmGateError
from kfm_gate.evidence.tables import (
    TableLimits,
    cell_parts,
    factorize_cells,
    is_nested,
    is_text_artifact,
    iter_text_lines,
    load_view_table,
    render_path,
    table_kind,
)
from kfm_gate.models import EvidenceSection

#: findings listed per file (counts always cover everything)
MAX_FINDINGS_PER_FILE = 200


@dataclass(frozen=True)
class SecretRule:
    """One detector: a secret type and the expression that finds it (group 1 = the secret)."""

    type: str
    pattern: re.Pattern[str]
    description: str


def _rule(kind: str, pattern: str, description: str, flags: int = 0) -> SecretRule:
    return SecretRule(kind, re.compile(pattern, flags), description)


RULES: tuple[SecretRule, ...] = (
    _rule(
        "PRIVATE_KEY",
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        "PEM / OpenSSH / PGP private key block",
    ),
    _rule(
        "AWS_ACCESS_KEY_ID",
        r"(?<![A-Z0-9])((?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16})(?![A-Z0-9])",
        "AWS access key id",
    ),
    _rule(
        "AWS_SECRET_ACCESS_KEY",
        r"aws_?secret_?(?:access_?)?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
        "AWS secret access key in an assignment",
        re.IGNORECASE,
    ),
    _rule("GOOGLE_API_KEY", r"(?<![\w-])(AIza[0-9A-Za-z_-]{35})(?![\w-])", "Google API key"),
    _rule(
        "AZURE_STORAGE_KEY",
        r"AccountKey=([A-Za-z0-9+/]{86}==)",
        "Azure storage account key in a connection string",
    ),
    _rule(
        "GITHUB_TOKEN",
        r"(?<![\w])((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})",
        "GitHub token",
    ),
    _rule("GITLAB_TOKEN", r"(?<![\w-])(glpat-[A-Za-z0-9_-]{20,})", "GitLab personal access token"),
    _rule("SLACK_TOKEN", r"(?<![\w-])(xox[abposr]-[A-Za-z0-9-]{10,})", "Slack token"),
    _rule("STRIPE_KEY", r"(?<![\w])((?:sk|rk)_live_[A-Za-z0-9]{20,})", "Stripe live key"),
    _rule(
        "JWT",
        r"(?<![\w-])(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})",
        "JSON Web Token",
    ),
    _rule(
        "PASSWORD_IN_URL",
        r"\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@\"'<>]{1,256}:([^\s/@\"'<>]{1,256})@[^\s/@]",
        "password in a URL (scheme://user:password@host)",
        re.IGNORECASE,
    ),
    _rule(
        "PASSWORD_ASSIGNMENT",
        r"(?<![\w-])(?:password|passwd|pwd|pass|secret|client_secret|api[_-]?key|apikey|"
        r"access[_-]?token|auth[_-]?token|token|private[_-]?key)[\"']?\s*(?:=|:|=>)\s*"
        r"[\"']?([^\s\"',;}{)(]{4,})",
        "password, secret, API key or token in an assignment",
        re.IGNORECASE,
    ),
)

_PLACEHOLDER = re.compile(
    r"^(?:\*+|x{3,}|\.{3,}|<[^>]*>|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|%\([^)]*\)s|\{\{[^}]*\}\}|"
    r"null|none|nil|true|false|redacted|\[redacted\]|changeme|example|placeholder|"
    r"\*+redacted\*+|<redacted>)$",
    re.IGNORECASE,
)
_ENTROPY_CANDIDATE = re.compile(
    r"(?<![A-Za-z0-9+/_=-])([A-Za-z0-9+/_=-]{24,512})(?![A-Za-z0-9+/_=-])"
)
_HEX = re.compile(r"^[0-9a-fA-F-]+$")
#: URL escapes such as %2F separate words: without this, "%2Frun_<hex>" reads as one mixed token
_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
ENTROPY_THRESHOLD = 4.3


def shannon_entropy(text: str) -> float:
    """Bits per character."""
    if not text:
        return 0.0
    counts = Counter(text)
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _high_entropy(token: str) -> bool:
    if _HEX.match(token):
        return False
    classes = sum(
        (
            any(c.islower() for c in token),
            any(c.isupper() for c in token),
            any(c.isdigit() for c in token),
        )
    )
    return classes == 3 and shannon_entropy(token) >= ENTROPY_THRESHOLD


@functools.lru_cache(maxsize=1)
def _could_hold_secret() -> Callable[[str], bool]:
    """A sound, cheap test: False when no rule and no high-entropy run can match ``text``.

    A rule can only match text with at least as many characters as its shortest match and,
    when its expression needs one of some characters (``=``, ``:``, ``_``...), one of them
    (see :mod:`kfm_gate.evidence.requirements`); a high-entropy run has 24+ characters.
    """
    from kfm_gate.evidence.requirements import min_width, necessary_syntax, necessary_test

    long_enough = min_width(_ENTROPY_CANDIDATE.pattern, _ENTROPY_CANDIDATE.flags, re)
    needs: list[tuple[str, int] | None] = []
    shortest: list[int] = []
    for rule in RULES:
        width = min_width(rule.pattern.pattern, rule.pattern.flags, re)
        need = necessary_syntax(rule.pattern.pattern, rule.pattern.flags, re)
        if need is None:
            long_enough = min(long_enough, width)
        else:
            needs.append(need)
            shortest.append(width)
    test = necessary_test(needs, min(shortest, default=0), re)
    if test is None:
        return lambda text: len(text) >= long_enough
    return lambda text: len(text) >= long_enough or test(text)


def scan_text(text: str) -> list[tuple[str, int]]:
    """``(type, 0-based offset)`` of every secret in ``text``, in order of offset."""
    if not _could_hold_secret()(text):
        return []
    return scan_text_every_rule(text)


def scan_text_every_rule(text: str) -> list[tuple[str, int]]:
    """:func:`scan_text` without the pre-filter (every rule searched; the reference)."""
    hits: list[tuple[str, int]] = []
    covered: list[tuple[int, int]] = []
    for rule in RULES:
        for match in rule.pattern.finditer(text):
            group = 1 if rule.pattern.groups else 0
            value = match.group(group)
            if rule.type == "PASSWORD_ASSIGNMENT" and _PLACEHOLDER.match(value.strip("\"'")):
                continue
            span = match.span(group)
            if any(s <= span[0] and span[1] <= e for s, e in covered):
                continue  # already reported by a more specific rule
            covered.append(span)
            hits.append((rule.type, span[0]))
    unescaped = _PERCENT_ESCAPE.sub(lambda m: " " * len(m.group()), text)  # offsets kept
    for match in _ENTROPY_CANDIDATE.finditer(unescaped):
        span = match.span(1)
        if any(s < span[1] and span[0] < e for s, e in covered):
            continue
        if _high_entropy(match.group(1)):
            hits.append(("HIGH_ENTROPY_STRING", span[0]))
    return sorted(hits, key=lambda h: (h[1], h[0]))


def _findings_from_lines(
    file: str, lines: Iterable[tuple[int, str]]
) -> tuple[list[dict[str, Any]], Counter[str]]:
    findings: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    for number, line in lines:
        hits = scan_text(line)
        per_type: dict[str, list[int]] = {}
        for kind, offset in hits:
            per_type.setdefault(kind, []).append(offset)
        for kind, offsets in sorted(per_type.items()):
            counts[kind] += len(offsets)
            findings.append(
                {
                    "type": kind,
                    "file": file,
                    "line": number,
                    "column": offsets[0] + 1,
                    "count": len(offsets),
                }
            )
    return findings, counts


def scan_text_file(
    path: Path, limits: TableLimits | None = None, *, label: str | None = None
) -> list[dict[str, Any]]:
    """Secrets in a text artifact (run log, report): ``[{type, file, line, column, count}]``.

    Raises :class:`~kfm_gate.errors.InputError` for binary, non-UTF-8 or over-long input.
    """
    findings, _ = _findings_from_lines(label or str(path), iter_text_lines(path, limits))
    return findings


def scan_table_file(
    path: Path,
    media_type: str = "",
    limits: TableLimits | None = None,
    *,
    label: str | None = None,
    memo: dict[str, Any] | None = None,
    identifiers: Mapping[str, re.Pattern[str]] | None = None,
    skipped: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Secrets in the string cells of a table: ``line`` is the row, ``column`` the column name.

    ``memo``: the run's memo, to share the parsed table with the other collectors.
    ``identifiers``: the council's declared identifier patterns (``policies/data/pii.json``);
    a cell of such a column that fully matches its pattern is counted in ``skipped`` and not
    scanned (the patterns are checked not to match credential shapes).
    """
    import numpy as np

    from kfm_gate.evidence.pii import is_declared_identifier

    lim = limits or TableLimits()
    frame = load_view_table(memo, path, media_type, lim)
    file = label or str(path)
    findings: list[dict[str, Any]] = []
    names = [str(c) for c in frame.columns]
    name_hits = {name: scan_text(name) for name in names}
    labels = {n: (f"<key#{i}>" if name_hits[n] else n) for i, n in enumerate(names)}
    for name in names:
        for kind, n in sorted(Counter(k for k, _ in name_hits[name]).items()):
            findings.append(
                {"type": kind, "file": file, "line": None, "column": labels[name], "count": n}
            )
    for column, name in zip(frame.columns, names, strict=True):
        codes, uniques = factorize_cells(frame[column])
        pattern = (identifiers or {}).get(name)
        declared = np.zeros(len(uniques), dtype=bool)
        hit_codes: dict[int, tuple[Counter[str], list[tuple[Any, ...]]]] = {}
        hidden: set[str] = set()
        for code, value in enumerate(uniques):
            if is_nested(value):
                counts: Counter[str] = Counter()
                where: list[tuple[Any, ...]] = []
                for part in cell_parts(value, lim, f"column {labels[name]!r}: "):
                    part_hits = scan_text(part.text)
                    if part_hits:
                        counts.update(k for k, _ in part_hits)
                        where.append(part.path)
                        if part.is_key:
                            hidden.add(part.text)
                if counts:
                    hit_codes[code] = (counts, where)
            elif isinstance(value, str) and value:
                if pattern is not None and is_declared_identifier(pattern, value, name):
                    declared[code] = True
                    continue
                hits = scan_text(value)
                if hits:
                    hit_codes[code] = (Counter(k for k, _ in hits), [])
        if pattern is not None and skipped is not None:
            valid = codes >= 0
            skipped[name] = skipped.get(name, 0) + int(declared[codes[valid]].sum())
        if not hit_codes:
            continue
        for row, code in enumerate(codes.tolist()):
            cell = hit_codes.get(code)
            if cell is None:
                continue
            counts, where = cell
            for kind, n in sorted(counts.items()):
                finding: dict[str, Any] = {
                    "type": kind,
                    "file": file,
                    "line": row,
                    "column": labels[name],
                    "count": n,
                }
                if where:
                    finding["path"] = render_path(labels[name], where[0], frozenset(hidden))
                findings.append(finding)
    return findings


class SecretsCollector:
    """Section ``secrets``: credentials in the public view (tables and text artifacts).

    Settings: ``limits`` (file and cell size), ``max_findings_per_file`` (listed findings;
    counts always cover everything). Cells of the council's declared identifier columns
    (``identifier_patterns`` in ``policies/data/pii.json``) that fully match their pattern
    are counted in ``identifier_cells_skipped`` and not scanned, as in the PII scan.
    """

    name = "secrets"

    def __init__(
        self,
        *,
        limits: TableLimits | None = None,
        max_findings_per_file: int = MAX_FINDINGS_PER_FILE,
    ) -> None:
        self.limits = limits
        self.max_findings_per_file = max_findings_per_file

    def collect(self, ctx: GateContext) -> EvidenceSection:
        from kfm_gate.evidence.pii import identifier_patterns

        limits = self.limits or TableLimits.from_settings(ctx.settings)
        findings: list[dict[str, Any]] = []
        counts: Counter[str] = Counter()
        files: list[dict[str, Any]] = []
        truncated = 0
        try:
            identifiers = identifier_patterns(ctx)
            skipped = dict.fromkeys(identifiers, 0)
            for view in sorted(ctx.files, key=lambda f: f.relpath):
                if table_kind(view.public, view.media_type) is not None:
                    found = scan_table_file(
                        view.public,
                        view.media_type,
                        limits,
                        label=view.relpath,
                        memo=ctx.memo,
                        identifiers=identifiers,
                        skipped=skipped,
                    )
                    kind = "table"
                elif is_text_artifact(view.public, view.media_type):
                    found = scan_text_file(view.public, limits, label=view.relpath)
                    kind = "text"
                else:
                    files.append({"file": view.relpath, "kind": "skipped", "findings": 0})
                    continue
                for f in found:
                    counts[f["type"]] += f["count"]
                kept = found[: self.max_findings_per_file]
                truncated += len(found) - len(kept)
                findings.extend(kept)
                files.append({"file": view.relpath, "kind": kind, "findings": len(found)})
        except KfmGateError as err:
            raise CollectorError(f"secrets: {err}") from err
        total = sum(counts.values())
        ctx.log(f"secrets: {total} finding(s) in {len(files)} file(s)")
        return EvidenceSection(
            collector=type(self).__name__,
            data={
                "detectors": sorted({r.type for r in RULES} | {"HIGH_ENTROPY_STRING"}),
                "counts_by_type": dict(sorted(counts.items())),
                "findings": findings,
                "findings_truncated": truncated,
                "total": total,
                "files": files,
                "identifier_patterns": {c: p.pattern for c, p in identifiers.items()},
                "identifier_cells_skipped": skipped,
            },
        )
