package kfm.gate_test

import data.kfm.gate

decision_clean_flags := {
	"classification": "public", "sensitivity": "public", "care_class": "public",
	"indigenous_rights_flag": false, "sovereignty_authorities": [], "tk_labels": [],
	"bc_labels": [], "notices": [], "licenses": ["CC-BY-4.0"], "embargo_until": null, "origins": {},
}

decision_clean_input := {
	"request": {
		"asset_key": "kfm/demo/public", "code_ref": "0123abc",
		"partition": {"aoi_key": "ks-county-20045", "time_key": "2026-11-01"},
		"outputs": [{"path": "data/processed/p/d/ks-county-20045/2026-11-01/a.csv"}],
	},
	"flags": decision_clean_flags,
	"flags_missing": [],
	"obligations": [],
	"evidence": {
		"checksums": {"status": "ok", "outputs": [{"path": "x", "declared": "sha256:1", "actual": "sha256:1", "exists": true, "match": true}]},
		"placement": {"status": "ok", "allowed_prefix": "data/processed/p/d/ks-county-20045/2026-11-01/", "outside": []},
		"quality": {"status": "ok", "suite_id": "historic_sites", "success": true, "expectations": [], "type_errors": []},
		"pii": {"status": "ok", "detectors": ["EmailRecognizer"], "ner": false, "findings": [], "counts_by_type": {}, "score_threshold": 0.5},
		"secrets": {"status": "ok", "findings": [], "counts_by_type": {}, "total": 0},
	},
	"waivers": [],
	"today": "2026-11-25",
}

test_decision_clean_input_allows if {
	d := gate.decision with input as decision_clean_input
	d.outcome == "allow"
	count(d.violations) == 0
}

test_decision_blocking_violation_denies if {
	inp := json.patch(decision_clean_input, [{"op": "replace", "path": "/request/code_ref", "value": ""}])
	d := gate.decision with input as inp
	d.outcome == "deny"
	some v in d.violations
	v.rule == "integrity.code_ref"
}

test_decision_low_severity_is_warning_not_deny if {
	d := gate.decision with input as decision_clean_input
		with data.kfm.params.gate.blocking_severities as ["critical"]
		with data.kfm.params.gate.required_evidence as ["checksums"]
		with gate.violation as {{"rule": "x.y", "code": "SOME_CODE", "msg": "m", "severity": "low", "details": {}}}
	d.outcome == "allow"
	count(d.warnings) == 1
}

test_decision_quarantine_when_review_obligation if {
	inp := json.patch(decision_clean_input, [{"op": "replace", "path": "/obligations", "value": [{"code": "REQUIRE_STEWARD_REVIEW", "kind": "review", "params": {"labels": ["tkss"]}, "reason": "r", "rule": "obligations.restricted_tk_review", "sources": []}]}])
	d := gate.decision with input as inp
	d.outcome == "quarantine"
	count(d.quarantine) == 1
}

test_decision_deny_wins_over_quarantine if {
	inp := json.patch(decision_clean_input, [
		{"op": "replace", "path": "/obligations", "value": [{"code": "REQUIRE_STEWARD_REVIEW", "kind": "review", "params": {}, "reason": "r", "rule": "r", "sources": []}]},
		{"op": "replace", "path": "/request/code_ref", "value": null},
	])
	d := gate.decision with input as inp
	d.outcome == "deny"
}

test_decision_waived_violation_allows if {
	inp := json.patch(decision_clean_input, [
		{"op": "replace", "path": "/request/code_ref", "value": null},
		{"op": "replace", "path": "/waivers", "value": [{"id": "w-1", "approver": "fair-care-council", "created": "2026-11-01", "expires": "2026-12-31", "reason": "legacy survey before SHAs", "scope": {"asset": "kfm/demo/public", "aois": [], "rules": ["integrity.code_ref"]}}]},
	])
	d := gate.decision with input as inp
	d.outcome == "allow"
	d.waived[0].waiver_id == "w-1"
}
