package kfm.gate_test

import data.kfm.gate

licence_rules(licences) := {v.rule | some v in gate.violation with input as json.patch(decision_clean_input, [{"op": "replace", "path": "/flags/licenses", "value": licences}])}

test_licence_allowed_passes if {
	count(licence_rules(["CC-BY-4.0", "CC0-1.0"])) == 0
}

test_licence_none_denies if {
	"licence.missing" in licence_rules([])
}

test_licence_unknown_denies if {
	"licence.unknown" in licence_rules(["noassertion"])
}

test_licence_not_allowed_denies if {
	"licence.not_allowed" in licence_rules(["Proprietary-1.0"])
}

test_licence_incompatible_pair_denies if {
	"licence.incompatible" in licence_rules(["CC-BY-SA-4.0", "ODbL-1.0"])
}
