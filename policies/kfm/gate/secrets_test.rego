package kfm.gate_test

import data.kfm.gate

secrets_clean := {
	"status": "ok", "collector": "SecretsCollector", "error": null,
	"counts_by_type": {}, "findings": [], "total": 0,
}

secrets_input(ev) := {"request": {"dataset": "historic_sites"}, "evidence": {"secrets": ev}}

test_secrets_clean_has_no_violation if {
	vs := gate.violation with input as secrets_input(secrets_clean)
	count({v | some v in vs; startswith(v.rule, "secrets.")}) == 0
}

test_secrets_missing_section_is_unresolved if {
	vs := gate.violation with input as {"request": {"dataset": "historic_sites"}, "evidence": {}}
	some v in vs
	v.rule == "secrets.evidence_missing"
}

test_secrets_private_key_is_critical if {
	ev := object.union(secrets_clean, {
		"counts_by_type": {"PRIVATE_KEY": 1}, "total": 1,
		"findings": [{"type": "PRIVATE_KEY", "file": "run.log", "line": 12, "column": 1, "count": 1}],
	})
	vs := gate.violation with input as secrets_input(ev)
	some v in vs
	v.code == "SECRET_IN_OUTPUT"
	v.severity == "critical"
	v.details.places == [{"file": "run.log", "line": 12, "column": 1}]
}

test_secrets_high_entropy_is_medium if {
	ev := object.union(secrets_clean, {"counts_by_type": {"HIGH_ENTROPY_STRING": 2}, "total": 2})
	vs := gate.violation with input as secrets_input(ev)
	some v in vs
	v.code == "SECRET_IN_OUTPUT"
	v.severity == "medium"
}
