"""Sample run records for every outcome: used by the tests, the benchmark and documentation.

The records are built from the real models (PromotionRequest, Decision, Evidence) with
deterministic times; their geometry is a masked (generalized) point, never a precise one.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kfm_gate.ids import digest, invalid_request_id, run_id, sha256_bytes
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
from kfm_gate.provenance.record import PublicFile, RunRecord

POLICY_DIGEST = digest({"policies": "sample"})


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


def sample_record(
    outcome: str = "allow",
    *,
    aoi: str = "ks-county-20045",
    day: str = "2026-11-01",
    source_sha: str = "sha256:" + "a" * 64,
    version: str = "0.1.0",
) -> RunRecord:
    """A complete record for ``outcome`` in allow | deny | quarantine | error."""
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
    base = f"data/processed/heritage/historic_sites/{aoi}/{day}/{rid.replace(':', '_')}/public"
    public: tuple[PublicFile, ...] = ()
    if outcome == "allow":
        public = (
            PublicFile(
                f"{base}/sites.geojson",
                "sha256:" + "1" * 64,
                20480,
                "application/geo+json",
                "data",
                req.outputs[0].path,
            ),
            PublicFile(
                f"{base}/sites.csv",
                "sha256:" + "2" * 64,
                4096,
                "text/csv",
                "metadata",
                req.outputs[1].path,
            ),
        )
    flags = join_flags(i.flags for i in req.inputs if i.flags is not None)
    return RunRecord(
        request=req,
        decision=decision,
        evidence=ev,
        started_at=decision.evaluated_at,
        ended_at=decision.evaluated_at,
        version=version,
        flags=flags,
        config={"engine": "embedded", "policy_digest": POLICY_DIGEST},
        public_files=public,
        # a generalized point (county-level), the only geometry the catalogs may carry
        published_geometry={"type": "Point", "coordinates": [-95.25, 38.9]}
        if outcome == "allow"
        else None,
        policy_revision="policies@2026-11-01",
    )


def sample_invalid_record(
    raw: bytes = b"{not json", *, day: str = "2026-11-25", version: str = "0.1.0"
) -> RunRecord:
    """The record of a request that could not be parsed (``request=None``, outcome error),
    named by the digest of ``raw`` as the gate names it; ``raw`` itself is in no field."""
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
    return RunRecord(
        request=None,
        decision=decision,
        evidence=evidence,
        started_at=decision.evaluated_at,
        ended_at=decision.evaluated_at,
        version=version,
    )
