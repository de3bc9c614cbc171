package kfm.gate_test

import data.kfm.gate

test_flags_null_denies if {
	inp := json.patch(decision_clean_input, [{"op": "replace", "path": "/flags", "value": null}])
	d := gate.decision with input as inp
	d.outcome == "deny"
	some v in d.violations
	v.rule == "flags.missing"
	v.code == "SENSITIVITY_UNRESOLVED"
}

test_flags_input_without_flags_denies if {
	inp := json.patch(decision_clean_input, [{"op": "replace", "path": "/flags_missing", "value": ["src:a"]}])
	d := gate.decision with input as inp
	some v in d.violations
	v.details.inputs_without_flags == ["src:a"]
}

test_flags_unknown_sensitivity_denies if {
	inp := json.patch(decision_clean_input, [{"op": "replace", "path": "/flags/sensitivity", "value": "unknown_review_required"}])
	d := gate.decision with input as inp
	some v in d.violations
	v.rule == "flags.unknown"
	v.details.flag == "sensitivity"
}

test_flags_unknown_classification_denies if {
	inp := json.patch(decision_clean_input, [{"op": "replace", "path": "/flags/classification", "value": "unknown"}])
	d := gate.decision with input as inp
	d.outcome == "deny"
}

test_flags_known_flags_pass if {
	vs := gate.violation with input as decision_clean_input
	every v in vs { not startswith(v.rule, "flags.") }
}
