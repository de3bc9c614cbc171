"""Builders for the evidence tests: a GateContext over files written in ``tmp_path``."""

from __future__ import annotations

import hashlib
import random
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from kfm_gate.context import GateContext, ViewFile
from kfm_gate.models import Obligation, PromotionRequest
from kfm_gate.orchestration.survey import SITE_TYPES

REPO = Path(__file__).resolve().parents[2]
ZERO = "sha256:" + "0" * 64
MEDIA = {
    ".csv": "text/csv",
    ".geojson": "application/geo+json",
    ".parquet": "application/vnd.apache.parquet",
    ".log": "text/plain",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".png": "image/png",
}


def build_ctx(
    tmp: Path,
    files: dict[str, bytes | str],
    *,
    dataset: str = "example_table",
    policy_dir: Path | None = None,
    settings: dict[str, Any] | None = None,
    obligations: Sequence[Obligation] = (),
    logger: Callable[[str], None] | None = None,
) -> GateContext:
    """A context whose outputs (candidate == public copy) are ``files`` written under ``tmp``."""
    views = []
    outputs = []
    for name, content in files.items():
        rel = f"data/processed/p/{dataset}/ks-county-20045/2026-11-01/{name}"
        path = tmp / "public" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode("utf-8") if isinstance(content, str) else content
        path.write_bytes(data)
        suffix = Path(name).suffix
        media = MEDIA.get(suffix, "application/octet-stream")
        role = "data" if suffix in (".csv", ".geojson", ".parquet") else "metadata"
        views.append(ViewFile(rel, path, path, media, role))
        outputs.append(
            {
                "path": rel,
                "sha256": "sha256:" + hashlib.sha256(data).hexdigest(),
                "media_type": media,
                "role": role,
            }
        )
    request = PromotionRequest.model_validate(
        {
            "asset_key": f"kfm/{dataset}/public",
            "pipeline": "p",
            "dataset": dataset,
            "partition": {"aoi_key": "ks-county-20045", "time_key": "2026-11-01"},
            "code_ref": "0123abc",
            "inputs": [{"id": "src:test", "sha256": ZERO}],
            "outputs": outputs,
        }
    )
    return GateContext(
        request=request,
        root=tmp,
        run_id="run:kfm-gate:test",
        files=tuple(views),
        flags=None,
        obligations=tuple(obligations),
        settings=settings or {},
        logger=logger,
        policy_dir=policy_dir if policy_dir is not None else REPO / "policies",
    )


def redact_obligation(**params: object) -> Obligation:
    """The council's free-text redaction obligation with ``params``."""
    return Obligation(
        code="REDACT_FREE_TEXT", kind="redact", params=params, rule="pii.redact_free_text"
    )


def evidence_gate(root: Path, *, quality_process: bool | None = None) -> Any:
    """A gate with the integrity, quality, PII and secrets collectors and the redaction engine
    (patterns only), for partition ``ks-county-20045`` on 2026-11-25."""
    import datetime as dt

    from kfm_gate.evidence import PiiCollector, QualityCollector, RedactionEngine, SecretsCollector
    from kfm_gate.evidence.integrity import ChecksumCollector, PlacementCollector
    from kfm_gate.gate import build_gate

    return build_gate(
        root,
        as_of=dt.date(2026, 11, 25),
        aoi_ids=frozenset({"ks-county-20045"}),
        collectors=(
            ChecksumCollector(),
            PlacementCollector(),
            QualityCollector(process=quality_process),
            PiiCollector(ner=False),
            SecretsCollector(),
        ),
        obligation_engines=(RedactionEngine(ner=False),),
    )


def scan_in_two_processes(frame: Any, analyzer: Any) -> tuple[Any, Any]:
    """``scan_frame`` findings in one process and split over two (a low parallel threshold)."""
    import kfm_gate.evidence.pii as pii

    one, _ = pii.scan_frame(frame, analyzer=analyzer, workers=1)
    old = pii.PARALLEL_MIN_VALUES
    pii.PARALLEL_MIN_VALUES = 10
    try:
        two, _ = pii.scan_frame(frame, analyzer=analyzer, workers=2)
    finally:
        pii.PARALLEL_MIN_VALUES = old
    return one, two


@pytest.fixture
def make_ctx(tmp_path: Path) -> Callable[..., GateContext]:
    def make(files: dict[str, bytes | str], **kw: Any) -> GateContext:
        return build_ctx(tmp_path, files, **kw)

    return make


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    """A writable copy of the project's policies."""
    target = tmp_path / "policies"
    shutil.copytree(REPO / "policies", target)
    return target


# -------------------------------------------------------------------------------------------
# a seeded table of historic sites with PII planted in the free-text columns

#: the survey's own vocabulary (one list, kfm_gate/orchestration/survey.py)
TYPES = list(SITE_TYPES)
PHONE_FORMATS = ["(###) ###-####", "###.###.####", "###-###-####", "+1 ###-###-####"]
CARD_TYPES = ["visa16", "mastercard", "amex", "discover"]


def seeded_sites(
    rows: int = 400, seed: int = 1861
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Rows of historic sites and, per entity type, every value planted in them."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    planted: dict[str, list[str]] = {
        k: []
        for k in (
            "EMAIL_ADDRESS",
            "US_SSN",
            "CREDIT_CARD",
            "IBAN_CODE",
            "IP_ADDRESS",
            "PHONE_NUMBER",
            "STREET_ADDRESS",
            "US_DRIVER_LICENSE",
        )
    }
    out = []
    for i in range(rows):
        kind = i % 8
        if kind == 0:
            value = fake.email()
            note = f"Recorded by volunteer; reach them at {value} for access."
        elif kind == 1:
            value = fake.ssn()
            note = f"Landowner SSN {value} was on the deed copy."
        elif kind == 2:
            value = fake.credit_card_number(card_type=CARD_TYPES[i % len(CARD_TYPES)])
            note = f"Donation paid with card {value} in 2019."
        elif kind == 3:
            value = fake.iban()
            note = f"Refund to IBAN {value} after the survey."
        elif kind == 4:
            value = fake.ipv4_public()
            note = f"Uploaded from host {value} by the field tablet."
        elif kind == 5:
            value = fake.numerify(PHONE_FORMATS[(i // 8) % len(PHONE_FORMATS)])
            note = f"Owner asks visitors to call {value} before entering."
        elif kind == 6:
            value = fake.street_address()
            note = f"Owner lives at {value} near the site."
        else:
            value = fake.bothify("K##-##-####")
            note = f"Driver license {value} of the caretaker noted."
        planted[list(planted)[kind]].append(value)
        contact = fake.email() if i % 3 else fake.numerify("(785) 555-####")
        planted.setdefault("recorder_contact", []).append(contact)
        start = rng.randint(1820, 1900)
        out.append(
            {
                "site_id": f"HS-{i:05d}",
                "name": f"{fake.last_name()} {rng.choice(['Homestead', 'School', 'Mill', 'Church'])}",
                "county_geoid": f"20{rng.randrange(1, 210, 2):03d}",
                "site_type": rng.choice(TYPES),
                "period_start": start,
                "period_end": start + rng.randint(0, 80),
                "condition": rng.choice(["good", "fair", "poor", "destroyed"]),
                "notes": note,
                "recorder_contact": contact,
                "lon": round(rng.uniform(-102.0, -94.7), 5),
                "lat": round(rng.uniform(37.0, 39.99), 5),
            }
        )
    return out, planted


def to_csv(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()
