"""``kfm-gate ci``: the required CI validations over a repository, each a named check.

Every check returns findings with a file and, where it makes sense, a line, so that the
renderers (text, json, markdown, github, sarif, junit) can point at them. A finding of level
``error`` fails the run; ``warning`` (an expired waiver, say) is reported only.

Checks:

``partition-keys``      every run's partition keys are valid and its run id recomputes
``stac-valid``          every STAC item and collection under data/stac/ validates (offline)
``promotion-backed``    every promoted item is backed by an allow decision with a passed suite
``provenance-present``  every run, whatever its outcome, has its provenance records
``secrets-pii``         no secret or PII in mcp/runs/ (recorded public views left out) and
                        data/stac/
``placement``           outputs only under data/processed/, catalogs only under data/stac/,
                        checksums on every STAC asset
``manifests-registries`` source manifests and AOI registries load and validate
``waivers``             waivers validate; expired ones are reported
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kfm_gate.errors import KfmGateError, RecordError
from kfm_gate.layout import ATTEMPTS, PROCESSED, PUBLIC_VIEW, STAC

if TYPE_CHECKING:
    from kfm_gate.runs import RecordedRun

Level = Literal["error", "warning", "note"]
PROVENANCE_FILES = ("prov.ttl", "prov.jsonld")
#: the folders of data/: inputs (aoi, sources, raw) and outputs (processed, stac, graph)
DATA_FOLDERS = ("aoi", "graph", "processed", "raw", "sources", "stac")
RUN_FILES = ("request.json", "config.json", "evidence.json", "decision.json", "run.log")


@dataclass(frozen=True)
class Finding:
    """One problem: which check, how bad, what, and where."""

    check: str
    level: Level
    message: str
    file: str = ""
    line: int = 0
    rule: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "level": self.level,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "rule": self.rule or self.check,
        }


@dataclass
class CheckResult:
    """What one named check found (and how much it looked at)."""

    name: str
    description: str
    findings: list[Finding] = field(default_factory=list)
    examined: int = 0

    @property
    def passed(self) -> bool:
        return not any(f.level == "error" for f in self.findings)


@dataclass
class AuditReport:
    """All checks of one ``kfm-gate ci`` run."""

    root: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [f for c in self.checks for f in c.findings]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "passed": self.passed,
            "checks": [
                {
                    "name": c.name,
                    "description": c.description,
                    "passed": c.passed,
                    "examined": c.examined,
                    "findings": [f.to_dict() for f in c.findings],
                }
                for c in self.checks
            ],
        }


def _rel(root: Path, path: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _line_of(path: Path, needle: str) -> int:
    """1-based line of the first occurrence of ``needle`` in a text file (0 if absent)."""
    try:
        for i, line in enumerate(
            path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
        ):
            if needle in line:
                return i
    except OSError:
        return 0
    return 0


def _runs(root: Path) -> Iterator[RecordedRun]:
    """Every recorded decision of the repository: current ones and attempts (errors,
    superseded decisions), read through the run store."""
    from kfm_gate.layout import Layout
    from kfm_gate.runs import RunStore

    yield from RunStore(Layout(root)).iter_runs(include_attempts=True)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# -- checks --------------------------------------------------------------------------------


def check_partition_keys(root: Path) -> CheckResult:
    from kfm_gate.ids import run_id, validate_aoi_key, validate_time_key

    res = CheckResult("partition-keys", "partition keys are valid and run ids recompute")
    for run in _runs(root):
        res.examined += 1
        req_path, dec_path = run.file("request.json"), run.file("decision.json")
        if not req_path.is_file():
            continue  # reported by provenance-present
        try:
            req, dec, cfg = run.request_doc, run.decision_doc, run.config
        except RecordError as err:
            res.findings.append(
                Finding(res.name, "error", f"unreadable record: {err}", _rel(root, run.folder))
            )
            continue
        if run.rejected:
            continue  # rejected requests are recorded as such; nothing to recompute
        part = req.get("partition", {})
        rel = _rel(root, req_path)
        bad_key = False
        for key, check in (("aoi_key", validate_aoi_key), ("time_key", validate_time_key)):
            try:
                check(part.get(key))
            except KfmGateError as err:
                bad_key = True
                res.findings.append(
                    Finding(res.name, "error", str(err), rel, _line_of(req_path, f'"{key}"'))
                )
        if bad_key:
            continue  # the run id of an invalid key is meaningless: one finding per fault
        try:
            expected = run_id(
                asset_key=req["asset_key"],
                aoi_key=part["aoi_key"],
                time_key=part["time_key"],
                input_checksums={i["id"]: i["sha256"] for i in req.get("inputs", [])},
                code_ref=req.get("code_ref"),
                params=req.get("params", {}),
                policy_digest=cfg["policy_digest"],
            )
        except (KeyError, TypeError, KfmGateError) as err:
            res.findings.append(
                Finding(res.name, "error", f"run id cannot be recomputed: {err}", rel)
            )
            continue
        if expected != dec.get("run_id"):
            res.findings.append(
                Finding(
                    res.name,
                    "error",
                    f"run id {dec.get('run_id')} does not match its inputs (recomputed {expected})",
                    _rel(root, dec_path),
                    _line_of(dec_path, '"run_id"'),
                )
            )
    return res


def _stac_files(root: Path) -> list[Path]:
    base = root / STAC
    if not base.is_dir():
        return []
    return sorted(p for p in base.rglob("*.json") if p.name in ("item.json", "collection.json"))


def check_stac_valid(root: Path) -> CheckResult:
    res = CheckResult("stac-valid", "STAC items and collections validate offline")
    files = _stac_files(root)
    res.examined = len(files)
    if not files:
        return res
    from kfm_gate.catalog.stac import validate_stac

    for path in files:
        try:
            doc = _read_json(path)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            res.findings.append(Finding(res.name, "error", f"not JSON: {err}", _rel(root, path), 1))
            continue
        for message in validate_stac(doc):
            res.findings.append(Finding(res.name, "error", message, _rel(root, path), 1))
    return res


def _decisions_by_id(root: Path) -> dict[str, RecordedRun]:
    out = {}
    for run in _runs(root):
        try:
            out[str(run.decision_doc["decision_id"])] = run
        except (KeyError, RecordError):
            continue
    return out


def check_promotion_backed(root: Path) -> CheckResult:
    res = CheckResult(
        "promotion-backed", "every promoted item has an allow decision and a passed suite"
    )
    items = [p for p in _stac_files(root) if p.name == "item.json"]
    res.examined = len(items)
    decisions = _decisions_by_id(root) if items else {}
    for path in items:
        rel = _rel(root, path)
        try:
            props = _read_json(path).get("properties", {})
        except json.JSONDecodeError as err:
            res.findings.append(Finding(res.name, "error", f"item is not JSON: {err}", rel))
            continue
        did = props.get("kfm:decision_id")
        run = decisions.get(did) if did else None
        if run is None:
            res.findings.append(
                Finding(
                    res.name,
                    "error",
                    f"item names decision {did!r}, which no run recorded",
                    rel,
                    _line_of(path, "kfm:decision_id"),
                )
            )
            continue
        decision = run.decision_doc
        if decision.get("outcome") != "allow":
            res.findings.append(
                Finding(
                    res.name,
                    "error",
                    f"item is published but its decision was {decision.get('outcome')}",
                    rel,
                    _line_of(path, "kfm:decision_id"),
                )
            )
        quality = run.evidence_doc.get("sections", {}).get("quality")
        if not quality or not quality.get("data", {}).get("success"):
            res.findings.append(
                Finding(
                    res.name,
                    "error",
                    "item is published without a passed quality suite",
                    rel,
                    _line_of(path, "kfm:decision_id"),
                )
            )
    return res


def check_provenance_present(root: Path) -> CheckResult:
    res = CheckResult(
        "provenance-present", "every run has its records and provenance, allowed or not"
    )
    for run in _runs(root):
        res.examined += 1
        rel = _rel(root, run.folder)
        missing = [n for n in RUN_FILES if not run.file(n).is_file()]
        missing += [n for n in PROVENANCE_FILES if not run.file(n).is_file()]
        if not any(run.file("openlineage").glob("*.json")):
            missing.append("openlineage/*.json")
        if missing:
            res.findings.append(Finding(res.name, "error", f"run lacks {', '.join(missing)}", rel))
    return res


_SCANNED_SUFFIXES = {
    ".json",
    ".jsonld",
    ".ttl",
    ".log",
    ".txt",
    ".md",
    ".html",
    ".csv",
    ".geojson",
    ".nt",
    ".xml",
    ".jsonl",
}


#: PII types that fail CI when found in records or catalogs (override: pii.ci_scan_entities)
CI_PII_ENTITIES = (
    "CREDIT_CARD",
    "EMAIL_ADDRESS",
    "IBAN_CODE",
    "IP_ADDRESS",
    "PHONE_NUMBER",
    "STREET_ADDRESS",
    "US_SSN",
)


def _ci_pii_entities(root: Path) -> frozenset[str]:
    params = root / "policies" / "data" / "pii.json"
    if params.is_file():
        try:
            configured = _read_json(params).get("ci_scan_entities")
        except (json.JSONDecodeError, UnicodeDecodeError):
            configured = None
        if isinstance(configured, list):
            return frozenset(str(e) for e in configured)
    return frozenset(CI_PII_ENTITIES)


#: identifiers the gate itself writes (digests, run and decision ids, UUIDs) and ISO days:
#: never PII nor secrets, but unique per run, so they would defeat the per-line cache
_GATE_TOKENS = re.compile(
    r"(?<![0-9A-Za-z])(?:[0-9a-f]{16,}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?)?)(?![0-9A-Za-z])"
)


def _scan_text(text: str) -> str:
    """``text`` with gate identifiers and ISO days replaced by ``<id>`` (one regex pass)."""
    return _GATE_TOKENS.sub("<id>", text)


def _public_view(runs: Path, path: Path) -> bool:
    """Whether ``path`` is a file of a run's recorded public view (``<run>/public/<file>``, or
    under an attempt): the published data itself, which the gate's own PII and secrets
    evidence examined before it was allowed, not a record about it."""
    try:
        parts = path.relative_to(runs).parts
    except ValueError:
        return False
    return (
        len(parts) >= 3
        and parts[-2] == PUBLIC_VIEW
        and (len(parts) == 3 or (len(parts) == 5 and parts[1] == ATTEMPTS))
    )


def check_secrets_pii(root: Path) -> CheckResult:
    """Secrets and PII in every text file of ``mcp/runs/`` and ``data/stac/``, the recorded
    public views left out (the published data, examined by the gate itself).

    Run records repeat most of their lines, so each distinct line (after blanking the gate's
    own identifiers, which are neither PII nor secrets) is scanned once, with set operations
    per file; lines are numbered only in the files that have a finding. PII is looked for
    only where Presidio's pre-filter says a recognizer could match.
    """
    from kfm_gate.evidence.tables import read_text

    res = CheckResult("secrets-pii", "no secrets or PII in run records and catalogs")
    files: list[Path] = []
    from kfm_gate.layout import Layout

    runs = Layout(root).runs_dir
    for base in (runs, root / STAC):
        if base.is_dir():
            files += sorted(
                p
                for p in base.rglob("*")
                if p.is_file() and p.suffix in _SCANNED_SUFFIXES and not _public_view(runs, p)
            )
    res.examined = len(files)
    if not files:
        return res
    from kfm_gate.evidence.pii import analyze_value, prefilter_for
    from kfm_gate.evidence.recognizers import build_analyzer
    from kfm_gate.evidence.secrets import scan_text

    entities = _ci_pii_entities(root)
    analyzer = build_analyzer()
    prefilter = prefilter_for(analyzer)
    seen: set[str] = set()  # raw lines already looked at
    verdicts: dict[str, tuple[list[str], list[str]]] = {}  # normalized line -> findings
    bad: dict[str, tuple[list[str], list[str]]] = {}  # raw line -> (secret kinds, PII types)
    for path in files:
        rel = _rel(root, path)
        try:
            lines = read_text(path).splitlines()
        except KfmGateError:
            res.findings.append(
                Finding(res.name, "error", "file is binary or too large to scan", rel)
            )
            continue
        distinct = set(lines)
        for line in distinct - seen:
            key = _scan_text(line)
            verdict = verdicts.get(key)
            if verdict is None:
                kinds = sorted({kind for kind, _ in scan_text(key)})
                wanted = [e for e in prefilter.entities_for(key) if e in entities]
                hits = analyze_value(analyzer, key, [], 0.5, wanted) if wanted else ()
                verdict = (kinds, sorted({e for e, _ in hits if e in entities}))
                verdicts[key] = verdict
            if verdict[0] or verdict[1]:
                bad[line] = verdict
        seen |= distinct
        flagged = distinct & bad.keys()
        if not flagged:
            continue
        reported: set[str] = set()
        for number, line in enumerate(lines, 1):
            if line not in flagged:
                continue
            kinds, found = bad[line]
            for kind in kinds:
                res.findings.append(
                    Finding(
                        res.name,
                        "error",
                        f"possible secret ({kind})",
                        rel,
                        number,
                        f"secret/{kind}",
                    )
                )
            for entity in found:
                if entity not in reported:  # one finding per file and type
                    reported.add(entity)
                    res.findings.append(
                        Finding(
                            res.name,
                            "error",
                            f"possible PII ({entity})",
                            rel,
                            number,
                            f"pii/{entity}",
                        )
                    )
    return res


def check_placement(root: Path) -> CheckResult:
    res = CheckResult(
        "placement",
        "outputs under data/processed/, catalogs under data/stac/, checksums everywhere",
    )
    for run in _runs(root):
        req_path = run.file("request.json")
        if not req_path.is_file() or run.attempt is not None:
            continue
        res.examined += 1
        try:
            req = run.request_doc
        except RecordError:
            continue  # reported by partition-keys
        for out in req.get("outputs", []):
            out_path = str(out.get("path", ""))
            if not out_path.startswith(f"{PROCESSED}/") or ".." in out_path.split("/"):
                res.findings.append(
                    Finding(
                        res.name,
                        "error",
                        f"output {out_path} is outside data/processed/",
                        _rel(root, req_path),
                        _line_of(req_path, out_path),
                    )
                )
            if not out.get("sha256"):
                res.findings.append(
                    Finding(
                        res.name,
                        "error",
                        f"output {out_path} has no checksum",
                        _rel(root, req_path),
                        _line_of(req_path, out_path),
                    )
                )
    data = root / "data"
    if data.is_dir():
        for path in sorted(p for p in data.rglob("*") if p.is_file()):
            rel = _rel(root, path)
            top = rel.split("/")[1] if rel.count("/") >= 2 else ""
            if top not in DATA_FOLDERS and path.name not in ("README.md", ".gitkeep"):
                res.findings.append(
                    Finding(
                        res.name,
                        "error",
                        f"file outside the known data folders ({', '.join(DATA_FOLDERS)}): "
                        "outputs belong under data/processed/",
                        rel,
                    )
                )
        for path in sorted(data.rglob("*.json")):
            rel = _rel(root, path)
            if rel.startswith(f"{STAC}/"):
                continue
            if path.name in ("item.json", "collection.json") or re.search(
                r'"stac_version"', path.read_text(encoding="utf-8", errors="replace")[:4096]
            ):
                res.findings.append(
                    Finding(res.name, "error", "STAC catalog file outside data/stac/", rel, 1)
                )
    for path in _stac_files(root):
        if path.name != "item.json":
            continue
        res.examined += 1
        doc = _read_json(path)
        for key, asset in sorted(doc.get("assets", {}).items()):
            if "file:checksum" not in asset:
                res.findings.append(
                    Finding(
                        res.name,
                        "error",
                        f"asset {key!r} has no file:checksum",
                        _rel(root, path),
                        _line_of(path, f'"{key}"'),
                    )
                )
    return res


def check_manifests_registries(root: Path) -> CheckResult:
    res = CheckResult("manifests-registries", "source manifests and AOI registries are valid")
    sources = root / "data" / "sources"
    if sources.is_dir():
        import yaml
        from pydantic import ValidationError

        from kfm_gate.models import SourceManifest

        for path in sorted([*sources.glob("*.yml"), *sources.glob("*.yaml")]):
            res.examined += 1
            try:
                SourceManifest.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
            except (yaml.YAMLError, ValidationError, UnicodeDecodeError) as err:
                first = str(err).splitlines()[0:3]
                res.findings.append(
                    Finding(
                        res.name,
                        "error",
                        f"invalid source manifest: {' '.join(first)}",
                        _rel(root, path),
                        1,
                    )
                )
    aoi = root / "data" / "aoi"
    if aoi.is_dir():
        res.examined += 1
        try:
            from kfm_gate.geo.registry import load_registries

            load_registries(aoi)
        except KfmGateError as err:
            res.findings.append(Finding(res.name, "error", str(err), _rel(root, aoi)))
    return res


def check_waivers(root: Path, today: Any = None) -> CheckResult:
    import datetime as dt

    from kfm_gate.policy.waivers import load_waivers

    res = CheckResult("waivers", "waivers validate; expired ones are reported")
    day = today or dt.datetime.now(dt.UTC).date()
    folder = root / "policies" / "waivers"
    try:
        waivers = load_waivers(root / "policies")
    except KfmGateError as err:
        m = re.search(r"waiver file (\S+?):", str(err))
        file = _rel(root, Path(m.group(1))) if m else _rel(root, folder)
        res.findings.append(Finding(res.name, "error", str(err), file, 1))
        return res
    res.examined = len(waivers)
    for w in waivers:
        if w.status(day) == "expired":
            path = next((p for p in sorted(folder.glob("*.y*ml")) if _line_of(p, w.id)), folder)
            res.findings.append(
                Finding(
                    res.name,
                    "warning",
                    f"waiver {w.id} expired on {w.expires}; remove or renew it",
                    _rel(root, path),
                    _line_of(path, "expires"),
                    "waivers/expired",
                )
            )
    return res


CHECKS: tuple[Callable[[Path], CheckResult], ...] = (
    check_partition_keys,
    check_stac_valid,
    check_promotion_backed,
    check_provenance_present,
    check_secrets_pii,
    check_placement,
    check_manifests_registries,
    check_waivers,
)


def run_audit(root: Path, *, only: list[str] | None = None) -> AuditReport:
    """Run every check (or those named in ``only``) over repository ``root``."""
    root = root.resolve()
    report = AuditReport(root=str(root))
    for check in CHECKS:
        name = check.__name__.removeprefix("check_").replace("_", "-")
        if only and name not in only:
            continue
        try:
            report.checks.append(check(root))
        except KfmGateError as err:
            result = CheckResult(name, "could not run")
            result.findings.append(Finding(name, "error", f"check could not run: {err}"))
            report.checks.append(result)
    return report
