package kfm.gate_test

import data.kfm.gate

pii_clean_evidence := {
	"status": "ok", "collector": "PiiCollector", "error": null,
	"detectors": ["EmailRecognizer", "UsSsnRecognizer"], "ner": false, "ner_model": null,
	"score_threshold": 0.4, "counts_by_type": {}, "findings": [], "total_cells": 10,
}

pii_input(evidence, sensitivity) := {
	"request": {"dataset": "historic_sites"},
	"flags": {"sensitivity": sensitivity},
	"evidence": {"pii": evidence},
}

pii_rules(vs) := {v.rule | some v in vs; startswith(v.rule, "pii.")}

test_pii_clean_scan_has_no_violation if {
	vs := gate.violation with input as pii_input(pii_clean_evidence, "public")
	count(pii_rules(vs)) == 0
}

test_pii_missing_section_is_unresolved if {
	vs := gate.violation with input as {"request": {"dataset": "historic_sites"}, "flags": {"sensitivity": "public"}, "evidence": {}}
	some v in vs
	v.rule == "pii.evidence_missing"
	v.code == "EVIDENCE_UNRESOLVED"
}

test_pii_skipped_section_is_unresolved if {
	ev := object.union(pii_clean_evidence, {"status": "skipped"})
	vs := gate.violation with input as pii_input(ev, "public")
	some v in vs
	v.rule == "pii.evidence_not_ok"
}

test_pii_email_in_public_view_denies if {
	ev := object.union(pii_clean_evidence, {
		"counts_by_type": {"EMAIL_ADDRESS": 3},
		"findings": [{"entity_type": "EMAIL_ADDRESS", "file": "a.csv", "column": "notes", "cells": 3, "max_score": 1.0, "rows": [0, 4, 9]}],
	})
	vs := gate.violation with input as pii_input(ev, "public")
	some v in vs
	v.code == "PII_IN_PUBLIC_VIEW"
	v.severity == "critical"
	v.details.entity_type == "EMAIL_ADDRESS"
	v.details.places[0].column == "notes"
}

test_pii_limit_per_sensitivity if {
	ev := object.union(pii_clean_evidence, {"counts_by_type": {"PERSON": 2}})
	vs_public := gate.violation with input as pii_input(ev, "public")
	count({v | some v in vs_public; v.code == "PII_IN_PUBLIC_VIEW"}) == 0
	vs_living := gate.violation with input as pii_input(ev, "living_person")
	some v in vs_living
	v.code == "PII_IN_PUBLIC_VIEW"
	v.details.entity_type == "PERSON"
}

test_pii_missing_flags_are_most_cautious if {
	ev := object.union(pii_clean_evidence, {"counts_by_type": {"LOCATION": 1}})
	vs := gate.violation with input as {"request": {"dataset": "x"}, "flags": null, "evidence": {"pii": ev}}
	some v in vs
	v.details.sensitivity == "unknown_review_required"
}

test_pii_council_can_raise_a_limit if {
	ev := object.union(pii_clean_evidence, {"counts_by_type": {"URL": 5, "IP_ADDRESS": 1}})
	vs := gate.violation with input as pii_input(ev, "public")
		with data.kfm.params.pii.max_cells_by_sensitivity.public as {"IP_ADDRESS": 1}
	count({v | some v in vs; v.code == "PII_IN_PUBLIC_VIEW"}) == 0
}

test_pii_watched_type_is_a_warning if {
	ev := object.union(pii_clean_evidence, {"counts_by_type": {"URL": 5}})
	ws := gate.warning with input as pii_input(ev, "public")
	some w in ws
	w.code == "PII_REPORTED"
	w.details.entity_type == "URL"
}

test_pii_ner_required_when_listed if {
	vs := gate.violation with input as pii_input(pii_clean_evidence, "restricted")
		with data.kfm.params.pii.require_ner_for as ["restricted"]
	some v in vs
	v.code == "PII_NER_REQUIRED"
	ev := object.union(pii_clean_evidence, {"ner": true})
	vs2 := gate.violation with input as pii_input(ev, "restricted")
		with data.kfm.params.pii.require_ner_for as ["restricted"]
	count({v | some v in vs2; v.code == "PII_NER_REQUIRED"}) == 0
}

test_pii_ner_not_required_by_default if {
	vs := gate.violation with input as pii_input(pii_clean_evidence, "restricted")
	count({v | some v in vs; v.code == "PII_NER_REQUIRED"}) == 0
}

test_pii_lax_threshold_denies if {
	ev := object.union(pii_clean_evidence, {"score_threshold": 0.9})
	vs := gate.violation with input as pii_input(ev, "public")
	some v in vs
	v.code == "PII_SCAN_TOO_LAX"
}

test_pii_redact_free_text_obligation if {
	obs := gate.obligation with input as {"request": {"dataset": "historic_sites"}, "flags": null}
	some o in obs
	o.code == "REDACT_FREE_TEXT"
	o.kind == "redact"
	o.params.columns == ["notes", "recorder_contact"]
	"US_SSN" in o.params.entities
}

test_pii_no_redaction_without_free_text if {
	obs := gate.obligation with input as {"request": {"dataset": "county_boundaries"}, "flags": null}
	count({o | some o in obs; o.code == "REDACT_FREE_TEXT"}) == 0
}

test_pii_place_carries_part_and_paths if {
	ev := object.union(pii_clean_evidence, {
		"counts_by_type": {"PHONE_NUMBER": 1},
		"findings": [{"entity_type": "PHONE_NUMBER", "file": "a.geojson", "column": "extra", "part": "value", "paths": ["extra.contact[2]"], "cells": 1, "max_score": 0.85, "rows": [0]}],
	})
	vs := gate.violation with input as pii_input(ev, "public")
	some v in vs
	v.code == "PII_IN_PUBLIC_VIEW"
	v.details.places[0].paths == ["extra.contact[2]"]
	v.details.places[0].part == "value"
	not contains(v.msg, "column name")
}

test_pii_in_a_column_name_says_redaction_cannot_reach_it if {
	ev := object.union(pii_clean_evidence, {
		"counts_by_type": {"EMAIL_ADDRESS": 1},
		"findings": [{"entity_type": "EMAIL_ADDRESS", "file": "a.geojson", "column": "<key#3>", "part": "column_name", "paths": ["<key#3>"], "cells": 1, "max_score": 1.0, "rows": []}],
	})
	vs := gate.violation with input as pii_input(ev, "public")
	some v in vs
	v.code == "PII_IN_PUBLIC_VIEW"
	contains(v.msg, "column name or key")
	v.details.places[0].part == "column_name"
}

test_pii_old_findings_default_to_values if {
	ev := object.union(pii_clean_evidence, {
		"counts_by_type": {"EMAIL_ADDRESS": 1},
		"findings": [{"entity_type": "EMAIL_ADDRESS", "file": "a.csv", "column": "notes", "cells": 1, "max_score": 1.0, "rows": [0]}],
	})
	vs := gate.violation with input as pii_input(ev, "public")
	some v in vs
	v.details.places[0].part == "value"
	v.details.places[0].paths == []
}

test_pii_ner_columns_without_a_model_warn if {
	ev := object.union(pii_clean_evidence, {"ner_status": "not_installed", "ner_columns": ["notes"]})
	ws := gate.warning with input as pii_input(ev, "public")
	some w in ws
	w.code == "PII_NER_UNAVAILABLE"
	w.details.ner_columns == ["notes"]
	ws_ran := gate.warning with input as pii_input(object.union(ev, {"ner_status": "ran", "ner": true}), "public")
	count({w | some w in ws_ran; w.code == "PII_NER_UNAVAILABLE"}) == 0
}
