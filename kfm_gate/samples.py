"""Sample runs for every outcome: used by the tests, the benchmarks and documentation.

:func:`sample_draft` is what the gate would hand to the run store for a decision (request,
evidence, decision built by :func:`~kfm_gate.models.decision.build_decision`, the masked public
view of an allow, with its real bytes and checksums); :func:`sample_record` is the provenance
record of that draft. Ids are the gate's; times are the decision day's; the geometry is a masked
(generalized) point, never a precise one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kfm_gate.footprint import footprint
from kfm_gate.ids import digest, invalid_request_id, run_id, sha256_bytes
from kfm_gate.layout import public_rel
from kfm_gate.models import (
    Evidence,
    EvidenceSection,
    GovernanceFlags,
    Obligation,
    PromotionRequest,
    Violation,
    join_flags,
)
from kfm_gate.models.decision import build_decision
from kfm_gate.policy.contract import policy_input
from kfm_gate.provenance.record import RunRecord
from kfm_gate.runs import PublicView, PublicViewFile, RunDraft, draft_provenance

POLICY_DIGEST = digest({"policies": "sample"})
#: the masked public view of an allowed sample: generalized points only
SAMPLE_GEOJSON = (
    b'{"features":[{"geometry":{"coordinates":[-95.25,38.9],"type":"Point"},'
    b'"id":"site-1","properties":{"kfm:privacy_method":"donut_geomask_v1","site_id":"site-1",'
    b'"site_type":"homestead"},"type":"Feature"}],"type":"FeatureCollection"}\n'
)
SAMPLE_CSV = b"site_id,site_type\nsite-1,homestead\n"


def sample_flags(*, sacred: bool = False) -> GovernanceFlags:
    return GovernanceFlags(
        classification="internal" if sacred else "public",
        sensitivity="sensitive_location" if sacred else "public",
        care_class="sacred" if sacred else "public",
        indigenous_rights_flag=sacred,
        sovereignty_authorities=("osage-nation",) if sacred else (),
        tk_labels=("tkss",) if sacred else (),
        licenses=("CC-BY-4.0",),
    )


def sample_request(
    *,
    aoi: str = "ks-county-20045",
    day: str = "2026-11-01",
    source_sha: str = "sha256:" + "a" * 64,
    dataset: str = "historic_sites",
) -> PromotionRequest:
    flags = sample_flags(sacred=True).with_origin("src:kshs_sites")
    return PromotionRequest.model_validate(
        {
            "asset_key": f"kfm/{dataset}/public",
            "pipeline": "heritage",
            "dataset": dataset,
            "partition": {"aoi_key": aoi, "time_key": day},
            "code_ref": "0123456789abcdef0123456789abcdef01234567",
            "container_digest": "sha256:" + "c" * 64,
            "params": {"buffer_m": 250, "mode": "strict"},
            "inputs": [
                {
                    "id": "src:kshs_sites",
                    "kind": "source_manifest",
                    "sha256": source_sha,
                    "version": "3",
                    "flags": flags.to_json_dict(),
                }
            ],
            "outputs": [
                {
                    "path": f"data/processed/heritage/{dataset}/{aoi}/{day}/r1/sites.geojson",
                    "sha256": "sha256:" + "b" * 64,
                    "media_type": "application/geo+json",
                    "role": "data",
                },
                {
                    "path": f"data/processed/heritage/{dataset}/{aoi}/{day}/r1/sites.csv",
                    "sha256": "sha256:" + "d" * 64,
                    "media_type": "text/csv",
                    "role": "metadata",
                },
            ],
        }
    )


def sample_evidence(*, collector_error: bool = False, pii_cells: int = 0) -> Evidence:
    sections: dict[str, Any] = {
        "quality": EvidenceSection(
            collector="QualityCollector",
            data={
                "suite_id": "historic_sites",
                "suite_digest": "sha256:" + "e" * 64,
                "success": True,
                "statistics": {"evaluated": 3, "successful": 3, "unsuccessful": 0},
                "expectations": [
                    {
                        "type": "expect_column_values_to_not_be_null",
                        "column": "site_id",
                        "success": True,
                        "unexpected_count": 0,
                        "unexpected_percent": 0.0,
                    },
                    {
                        "type": "expect_column_values_to_be_unique",
                        "column": "site_id",
                        "success": True,
                        "unexpected_count": 0,
                        "unexpected_percent": 0.0,
                    },
                    {
                        "type": "expect_table_row_count_to_be_between",
                        "column": None,
                        "success": True,
                        "unexpected_count": 0,
                        "unexpected_percent": 0.0,
                    },
                ],
            },
        ),
        "pii": EvidenceSection(
            collector="PiiCollector",
            data={
                "detectors": ["EMAIL_ADDRESS", "PHONE_NUMBER"],
                "ner": False,
                "counts_by_type": {"EMAIL_ADDRESS": pii_cells} if pii_cells else {},
                "findings": [],
                "total_cells": 1200,
            },
        ),
        "geo": EvidenceSection(
            collector="GeoVerificationCollector",
            data={
                "features_total": 40,
                "features_in_zones": 4,
                "unchanged_in_zones": 0,
                "displacement_m": {"min": 1200.5, "median": 2100.0, "max": 2980.1},
                "moved_less_than_r_min": 0,
                "min_k": 5,
            },
        ),
        "obligations": EvidenceSection(
            collector="gate",
            data={
                "applied": [
                    {
                        "code": "GENERALIZE_GEOMETRY",
                        "kind": "generalize",
                        "engine": "donut_geomask_v1",
                        "applied": 4,
                    }
                ]
            },
        ),
    }
    if collector_error:
        sections["secrets"] = EvidenceSection(
            collector="SecretsCollector", status="error", error="collector crashed: OSError"
        )
    return Evidence(sections=sections)


def sample_draft(
    outcome: str = "allow",
    *,
    aoi: str = "ks-county-20045",
    day: str = "2026-11-01",
    source_sha: str = "sha256:" + "a" * 64,
    version: str = "0.1.0",
) -> RunDraft:
    """What the gate would record for ``outcome`` in allow | deny | quarantine | error."""
    req = sample_request(aoi=aoi, day=day, source_sha=source_sha)
    ev = sample_evidence(
        collector_error=outcome == "error", pii_cells=3 if outcome == "deny" else 0
    )
    rid = run_id(
        asset_key=req.asset_key,
        aoi_key=aoi,
        time_key=day,
        input_checksums=req.input_checksums(),
        code_ref=req.code_ref,
        params=req.params,
        policy_digest=POLICY_DIGEST,
    )
    violations: tuple[Violation, ...] = ()
    if outcome == "deny":
        violations = (
            Violation(
                rule="pii.no_direct_identifiers",
                code="PII_PRESENT",
                msg="3 cells hold e-mail addresses",
                details={"cells": 3},
            ),
        )
    elif outcome == "quarantine":
        violations = (
            Violation(
                rule="care.steward_review",
                code="REQUIRE_STEWARD_REVIEW",
                msg="sacred sites need steward review",
                severity="medium",
            ),
        )
    obligations = (
        Obligation(
            code="GENERALIZE_GEOMETRY",
            kind="generalize",
            params={"method": "donut_geomask_v1", "r_min_m": 1000, "r_max_m": 3000},
            rule="geo.sensitive_zone",
        ),
        Obligation(
            code="REDACT_EXACT_LOCATION",
            kind="redact",
            params={"fields": ["address"]},
            rule="geo.redact",
        ),
    )
    decision = build_decision(
        run_id=rid,
        outcome=outcome,
        partition={"aoi_key": aoi, "time_key": day},
        asset_key=req.asset_key,
        violations=violations,
        obligations=obligations,
        reasons=sorted(
            {v.code for v in violations}
            | ({"EVIDENCE_UNRESOLVED"} if outcome == "error" else set())
        ),
        policy_digest=POLICY_DIGEST,
        engine="embedded-opa",
        day=dt.date.fromisoformat(day),
        request_digest=req.request_digest,
        evidence_digest=ev.evidence_digest,
        error="SecretsCollector: collector crashed: OSError" if outcome == "error" else None,
    )
    view: PublicView | None = None
    data: dict[str, bytes] = {}
    if outcome == "allow":
        base = public_rel(req, rid)
        data = {"sites.csv": SAMPLE_CSV, "sites.geojson": SAMPLE_GEOJSON}
        view = PublicView(
            files=tuple(
                PublicViewFile(
                    name=name,
                    relpath=f"{base}/{name}",
                    sha256=sha256_bytes(content),
                    size=len(content),
                    media_type=out.media_type,
                    role=out.role,
                    source=out.path,
                )
                for (name, content), out in zip(
                    sorted(data.items()), req.outputs[::-1], strict=True
                )
            ),
            footprint=footprint(data.items()),
        )
    flags = join_flags(i.flags for i in req.inputs if i.flags is not None)
    return RunDraft(
        decision=decision,
        request=req,
        request_doc=req.to_json_dict(),
        config={
            "engine": {"name": "embedded-opa", "revision": POLICY_DIGEST.removeprefix("sha256:")},
            "policy_digest": POLICY_DIGEST,
            "run_id": rid,
            "schema_version": "1",
            "environment": {"packages": {"kfm-gate": version}},
        },
        evidence=ev,
        policy_inputs={
            "obligations": policy_input(req, flags, [], {}, dt.date.fromisoformat(day)),
        },
        log=f"run {rid} (sample)\n",
        flags=flags,
        public_view=view,
        public_bytes=data,
    )


def sample_record(
    outcome: str = "allow",
    *,
    aoi: str = "ks-county-20045",
    day: str = "2026-11-01",
    source_sha: str = "sha256:" + "a" * 64,
    version: str = "0.1.0",
) -> RunRecord:
    """The provenance record of :func:`sample_draft` (PROV-O, OpenLineage, catalogs)."""
    return draft_provenance(
        sample_draft(outcome, aoi=aoi, day=day, source_sha=source_sha, version=version),
        version=version,
    )


def sample_invalid_draft(
    raw: bytes = b"{not json", *, day: str = "2026-11-25", version: str = "0.1.0"
) -> RunDraft:
    """What the gate records for a request that could not be parsed (``request=None``,
    outcome error), named by the digest of ``raw``; ``raw`` itself is in no field."""
    request_digest = sha256_bytes(raw)
    rid = invalid_request_id(request_digest)
    error = "request is not JSON: Expecting property name enclosed in double quotes"
    violation = Violation(
        rule="gate.input", code="POLICY_INPUT_INCOMPLETE", msg=error, severity="critical"
    )
    evidence = Evidence()
    decision = build_decision(
        run_id=rid,
        outcome="error",
        partition={},
        asset_key="unknown",
        violations=(violation,),
        reasons=("POLICY_INPUT_INCOMPLETE",),
        policy_digest="sha256:" + "0" * 64,
        engine="none",
        day=dt.date.fromisoformat(day),
        request_digest=request_digest,
        evidence_digest=evidence.evidence_digest,
        error=error,
    )
    return RunDraft(
        decision=decision,
        request=None,
        request_doc={"invalid": True, "size_bytes": len(raw), "sha256": request_digest},
        config={"run_id": rid, "schema_version": "1"},
        evidence=evidence,
        policy_inputs={},
        log=f"request rejected: {error}\n",
    )


def sample_invalid_record(
    raw: bytes = b"{not json", *, day: str = "2026-11-25", version: str = "0.1.0"
) -> RunRecord:
    """The provenance record of :func:`sample_invalid_draft`."""
    return draft_provenance(sample_invalid_draft(raw, day=day, version=version), version=version)
