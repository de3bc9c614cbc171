package kfm.gate_test

import data.kfm.gate

integrity_rules(inp) := {v.rule | some v in gate.violation with input as inp}

test_integrity_missing_evidence_denies if {
	inp := json.remove(decision_clean_input, ["/evidence/placement"])
	"integrity.evidence_missing" in integrity_rules(inp)
}

test_integrity_checksum_mismatch if {
	inp := json.patch(decision_clean_input, [{"op": "replace", "path": "/evidence/checksums/outputs/0/match", "value": false}])
	vs := gate.violation with input as inp
	some v in vs
	v.rule == "integrity.checksum"
	v.details.problem == "checksum does not match the file"
}

test_integrity_checksum_not_declared if {
	inp := json.patch(decision_clean_input, [{"op": "replace", "path": "/evidence/checksums/outputs/0/declared", "value": null}])
	vs := gate.violation with input as inp
	some v in vs
	v.details.problem == "no checksum declared"
}

test_integrity_file_missing if {
	inp := json.patch(decision_clean_input, [{"op": "replace", "path": "/evidence/checksums/outputs/0/exists", "value": false}])
	vs := gate.violation with input as inp
	some v in vs
	v.details.problem == "file does not exist"
}

test_integrity_outside_processed if {
	inp := json.patch(decision_clean_input, [{"op": "replace", "path": "/evidence/placement/outside", "value": ["data/raw/x.csv"]}])
	"integrity.placement" in integrity_rules(inp)
}

test_integrity_no_outputs if {
	inp := json.patch(decision_clean_input, [{"op": "replace", "path": "/request/outputs", "value": []}])
	"integrity.no_outputs" in integrity_rules(inp)
}

test_integrity_code_ref_missing if {
	inp := json.remove(decision_clean_input, ["/request/code_ref"])
	"integrity.code_ref" in integrity_rules(inp)
}

test_integrity_clean_has_no_violation if {
	count(integrity_rules(decision_clean_input)) == 0
}
