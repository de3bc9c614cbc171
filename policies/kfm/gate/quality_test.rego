package kfm.gate_test

import data.kfm.gate

quality_ok := {
	"status": "ok", "collector": "QualityCollector", "error": null,
	"suite_id": "historic_sites", "suite_digest": "sha256:00", "success": true,
	"statistics": {"evaluated": 2, "successful": 2, "unsuccessful": 0},
	"type_errors": {},
	"expectations": [
		{"file": "a.csv", "type": "expect_column_values_to_not_be_null", "column": "site_id", "columns": ["site_id"], "success": true, "unexpected_count": 0, "unexpected_percent": 0},
		{"file": "a.csv", "type": "expect_table_row_count_to_be_between", "column": null, "columns": [], "success": true, "unexpected_count": null, "unexpected_percent": null},
	],
}

quality_input(ev) := {"request": {"dataset": "historic_sites"}, "evidence": {"quality": ev}}

quality_rules(vs) := {v.rule | some v in vs; startswith(v.rule, "quality.")}

test_quality_passing_suite_has_no_violation if {
	vs := gate.violation with input as quality_input(quality_ok)
	count(quality_rules(vs)) == 0
}

test_quality_missing_section_is_unresolved if {
	vs := gate.violation with input as {"request": {"dataset": "historic_sites"}, "evidence": {}}
	some v in vs
	v.rule == "quality.evidence_missing"
	v.code == "EVIDENCE_UNRESOLVED"
}

test_quality_skipped_suite_is_unresolved if {
	vs := gate.violation with input as quality_input({"status": "skipped", "reason": "no quality suite", "suite_id": null})
	some v in vs
	v.rule == "quality.evidence_not_ok"
}

test_quality_optional_dataset_may_skip if {
	vs := gate.violation with input as quality_input({"status": "skipped", "reason": "none"})
		with data.kfm.params.quality.optional_datasets as ["historic_sites"]
	count(quality_rules(vs)) == 0
}

test_quality_failed_expectation_denies if {
	ev := json.patch(quality_ok, [
		{"op": "replace", "path": "/expectations/0/success", "value": false},
		{"op": "replace", "path": "/expectations/0/unexpected_count", "value": 4},
		{"op": "replace", "path": "/expectations/0/unexpected_percent", "value": 4.0},
	])
	vs := gate.violation with input as quality_input(ev)
	some v in vs
	v.code == "QUALITY_EXPECTATION_FAILED"
	v.severity == "high"
	v.details.columns == ["site_id"]
	v.details.unexpected_count == 4
}

test_quality_table_level_failure_is_critical if {
	ev := json.patch(quality_ok, [{"op": "replace", "path": "/expectations/1/success", "value": false}])
	vs := gate.violation with input as quality_input(ev)
	some v in vs
	v.code == "QUALITY_EXPECTATION_FAILED"
	v.severity == "critical"
	contains(v.msg, "the table")
}

test_quality_small_failure_is_a_warning_when_configured if {
	ev := json.patch(quality_ok, [
		{"op": "replace", "path": "/expectations/0/success", "value": false},
		{"op": "replace", "path": "/expectations/0/unexpected_percent", "value": 0.5},
	])
	vs := gate.violation with input as quality_input(ev)
		with data.kfm.params.quality.warn_below_unexpected_percent as 1
	count({v | some v in vs; v.code == "QUALITY_EXPECTATION_FAILED"}) == 0
	ws := gate.warning with input as quality_input(ev)
		with data.kfm.params.quality.warn_below_unexpected_percent as 1
	some w in ws
	w.rule == "quality.expectation_failed_small"
}

test_quality_type_errors_deny if {
	ev := object.union(quality_ok, {"type_errors": {"a.csv": {"period_start": 2}}})
	vs := gate.violation with input as quality_input(ev)
	some v in vs
	v.code == "QUALITY_TYPE_ERROR"
	v.details.column == "period_start"
}
