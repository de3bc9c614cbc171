package kfm.gate_test

import data.kfm.gate

waivers_input(waiver) := json.patch(decision_clean_input, [
	{"op": "replace", "path": "/request/code_ref", "value": null},
	{"op": "replace", "path": "/waivers", "value": [waiver]},
])

waivers_base := {"id": "w-1", "approver": "fair-care-council", "created": "2026-11-01", "expires": "2026-12-31", "reason": "legacy survey before SHAs", "scope": {"asset": "*", "aois": ["ks-county-20045"], "from": "2026-10-01", "to": "2026-11-30", "rules": ["integrity.code_ref"]}}

test_waivers_active_by_rule_id if {
	d := gate.decision with input as waivers_input(waivers_base)
	d.outcome == "allow"
	count(d.waived) == 1
}

test_waivers_reason_code_is_not_a_rule_id if {
	w := json.patch(waivers_base, [{"op": "replace", "path": "/scope/rules", "value": ["POLICY_INPUT_INCOMPLETE"]}])
	d := gate.decision with input as waivers_input(w)
	d.outcome == "deny"
	some v in d.violations
	v.code == "WAIVER_INVALID"
}

# a wildcard asset never reaches a rule that is not waivable (here flags.unknown)
test_waivers_wildcard_never_covers_a_non_waivable_rule if {
	w := json.patch(waivers_base, [{"op": "replace", "path": "/scope/rules", "value": ["flags.unknown"]}])
	inp := json.patch(waivers_input(w), [{"op": "replace", "path": "/flags/classification", "value": "unknown"}])
	d := gate.decision with input as inp
	d.outcome == "deny"
	count(d.waived) == 0
	some v in d.violations
	v.rule == "flags.unknown"
}

# even if the council listed it as waivable, a never-waivable prefix wins
test_waivers_never_waivable_prefix_wins_over_the_list if {
	not gate.waiver_waivable("flags.unknown") with data.kfm.params.waivers.waivable_rules as ["flags.unknown"]
	gate.waiver_waivable("integrity.code_ref")
}

test_waivers_blank_approver_is_invalid if {
	some approver in ["   ", "--", "", "someone-else", " fair-care-council-x"]
	w := object.union(waivers_base, {"approver": approver})
	d := gate.decision with input as waivers_input(w)
	d.outcome == "deny"
	count(d.waived) == 0
	some v in d.violations
	v.rule == "waivers.invalid"
	"approver is not a member of the council roster" in v.details.problems
}

test_waivers_approver_is_trimmed if {
	w := object.union(waivers_base, {"approver": "  fair-care-council "})
	d := gate.decision with input as waivers_input(w)
	d.outcome == "allow"
}

test_waivers_blank_reason_is_invalid if {
	some reason in ["          ", " -- ", "r"]
	w := object.union(waivers_base, {"reason": reason})
	d := gate.decision with input as waivers_input(w)
	d.outcome == "deny"
	some v in d.violations
	v.code == "WAIVER_INVALID"
	"reason is too short once trimmed" in v.details.problems
}

test_waivers_empty_rules_are_invalid if {
	w := json.patch(waivers_base, [{"op": "replace", "path": "/scope/rules", "value": []}])
	not gate.waiver_valid(w)
}

test_waivers_expired_does_not_apply_and_warns if {
	d := gate.decision with input as waivers_input(object.union(waivers_base, {"expires": "2026-11-20"}))
	d.outcome == "deny"
	some w in d.warnings
	w.code == "WAIVER_EXPIRED"
	w.details.waiver_id == "w-1"
}

test_waivers_not_yet_valid if {
	d := gate.decision with input as waivers_input(object.union(waivers_base, {"created": "2026-11-30"}))
	d.outcome == "deny"
}

test_waivers_other_aoi_does_not_apply if {
	w := json.patch(waivers_base, [{"op": "replace", "path": "/scope/aois", "value": ["ks-county-20001"]}])
	d := gate.decision with input as waivers_input(w)
	d.outcome == "deny"
}

test_waivers_outside_date_range if {
	w := json.patch(waivers_base, [{"op": "replace", "path": "/scope/to", "value": "2026-10-31"}])
	d := gate.decision with input as waivers_input(w)
	d.outcome == "deny"
}

test_waivers_other_asset_does_not_apply if {
	w := json.patch(waivers_base, [{"op": "replace", "path": "/scope/asset", "value": "kfm/other/public"}])
	d := gate.decision with input as waivers_input(w)
	d.outcome == "deny"
}

test_waivers_status_values if {
	gate.waiver_status({"created": "2026-01-01", "expires": "2026-12-31"}) == "active" with input.today as "2026-06-01"
	gate.waiver_status({"created": "2026-01-01", "expires": "2026-12-31"}) == "expired" with input.today as "2027-01-01"
	gate.waiver_status({"created": "2026-01-01", "expires": "2026-12-31"}) == "not_yet_valid" with input.today as "2025-01-01"
}

test_waivers_null_bounds_are_open if {
	w := json.patch(waivers_base, [{"op": "replace", "path": "/scope/from", "value": null}, {"op": "replace", "path": "/scope/to", "value": null}])
	d := gate.decision with input as waivers_input(w)
	d.outcome == "allow"
}
