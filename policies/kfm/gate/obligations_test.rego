package kfm.gate_test

import data.kfm.gate

obligations_flags(patch) := object.union(decision_clean_flags, patch)

test_obligations_none_for_clean_flags if {
	obs := gate.obligations with input as {"flags": decision_clean_flags, "today": "2026-11-25"}
	count(obs) == 0
}

test_obligations_embargo_in_future if {
	obs := gate.obligations with input as {"flags": obligations_flags({"embargo_until": "2027-01-01"}), "today": "2026-11-25"}
	some o in obs
	o.code == "DELAY_PUBLICATION"
	o.params.until == "2027-01-01"
}

test_obligations_no_embargo_once_past if {
	obs := gate.obligations with input as {"flags": obligations_flags({"embargo_until": "2026-01-01"}), "today": "2026-11-25"}
	every o in obs { o.code != "DELAY_PUBLICATION" }
}

test_obligations_secret_sacred_needs_review if {
	flags := obligations_flags({"tk_labels": ["tka", "tkss"], "origins": {"tk_labels:tkss": ["zone:z1"]}})
	obs := gate.obligations with input as {"flags": flags, "today": "2026-11-25"}
	some o in obs
	o.code == "REQUIRE_STEWARD_REVIEW"
	o.params.labels == ["tkss"]
	o.sources == ["zone:z1"]
}

test_obligations_labels_attach_notice if {
	obs := gate.obligations with input as {"flags": obligations_flags({"bc_labels": ["bcr"]}), "today": "2026-11-25"}
	some o in obs
	o.code == "ATTACH_RIGHTS_NOTICE"
}

test_obligations_missing_flags_give_none if {
	obs := gate.obligations with input as {"flags": null, "today": "2026-11-25"}
	count(obs) == 0
}
