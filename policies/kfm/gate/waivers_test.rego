package kfm.gate_test

import data.kfm.gate

waivers_input(waiver) := json.patch(decision_clean_input, [
	{"op": "replace", "path": "/request/code_ref", "value": null},
	{"op": "replace", "path": "/waivers", "value": [waiver]},
])

waivers_base := {"id": "w-1", "approver": "council", "created": "2026-11-01", "expires": "2026-12-31", "reason": "r", "scope": {"asset": "*", "aois": ["ks-county-20045"], "from": "2026-10-01", "to": "2026-11-30", "rules": ["POLICY_INPUT_INCOMPLETE"]}}

test_waivers_active_by_code if {
	d := gate.decision with input as waivers_input(waivers_base)
	d.outcome == "allow"
	count(d.waived) == 1
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
