package kfm.gate_test

import data.kfm.gate

obligations_met_generalize := {"code": "GENERALIZE_GEOMETRY", "kind": "generalize", "params": {}, "reason": "r", "rule": "geo.x", "sources": []}

test_obligations_met_unapplied_denies if {
	inp := json.patch(decision_clean_input, [{"op": "replace", "path": "/obligations", "value": [obligations_met_generalize]}])
	vs := gate.violation with input as inp
	some v in vs
	v.rule == "obligations_met.not_applied"
	v.details.obligation == "GENERALIZE_GEOMETRY"
}

test_obligations_met_applied_passes if {
	inp := json.patch(decision_clean_input, [
		{"op": "replace", "path": "/obligations", "value": [obligations_met_generalize]},
		{"op": "add", "path": "/evidence/obligations", "value": {"status": "ok", "applied": [{"code": "GENERALIZE_GEOMETRY", "kind": "generalize", "engine": "masking", "applied": true}]}},
	])
	vs := gate.violation with input as inp
	every v in vs { v.rule != "obligations_met.not_applied" }
}

test_obligations_met_embargo_denies if {
	inp := json.patch(decision_clean_input, [{"op": "replace", "path": "/obligations", "value": [{"code": "DELAY_PUBLICATION", "kind": "embargo", "params": {"until": "2027-01-01"}, "reason": "r", "rule": "obligations.embargo", "sources": []}]}])
	d := gate.decision with input as inp
	d.outcome == "deny"
	some v in d.violations
	v.code == "DELAY_PUBLICATION"
}
