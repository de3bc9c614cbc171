package kfm.gate_test

import data.kfm.gate

geo_flags_public := {
	"classification": "public", "sensitivity": "public", "care_class": "public",
	"indigenous_rights_flag": false, "sovereignty_authorities": [], "tk_labels": [],
	"bc_labels": [], "notices": [], "licenses": ["CC-BY-4.0"], "embargo_until": null, "origins": {},
}

geo_zone := {
	"zone_id": "zone-aiannh-202980r", "feature_count": 3, "masking_tier": "sensitive",
	"care_class": "sensitive", "authority": ["Prairie Band Potawatomi Nation"], "schematic": true,
}

geo_input_base := {
	"request": {"asset_key": "kfm/demo/public", "partition": {"aoi_key": "ks-county-20085", "time_key": "2026-11-01"}},
	"flags": geo_flags_public,
	"geo": {"aoi": {"aoi_id": "ks-county-20085", "kind": "county", "name": "Jackson"}, "features_total": 10, "zones": []},
	"today": "2026-11-25",
}

geo_input_zone := json.patch(geo_input_base, [{"op": "replace", "path": "/geo/zones", "value": [geo_zone]}])

geo_zone_obligation := {
	"code": "GENERALIZE_GEOMETRY", "kind": "generalize",
	"params": {"method": "donut", "r_min_m": 1000, "r_max_m": 3000, "tier": "sensitive", "epoch": 1, "zones": ["zone-aiannh-202980r"]},
	"reason": "r", "rule": "geo.zone_generalize", "sources": ["zone:zone-aiannh-202980r"],
}

geo_entry_ok := {
	"code": "GENERALIZE_GEOMETRY", "kind": "generalize", "method": "donut",
	"params": geo_zone_obligation.params, "features": 3, "published": 3, "suppressed": 0,
	"displacement_m": {"min": 1200.5, "median": 2000.1, "max": 2900.0},
	"moved_less_than_r_min": 0, "moved_more_than_r_max": 0, "containment_violations": 0, "geometry_mismatch": 0,
}

geo_evidence_ok := {
	"status": "ok", "collector": "GeoVerificationCollector", "error": null,
	"features_total": 10, "features_in_zones": 3, "unchanged_in_zones": 0,
	"displacement_m": {"min": 1200.5, "median": 2000.1, "max": 2900.0},
	"moved_less_than_r_min": 0, "min_k": null, "containment_violations": 0, "suppressed": 0,
	"not_suppressed": 0, "geometry_mismatch": 0, "unexpected_features": 0,
	"coordinate_fields": 6, "coordinate_fields_unmasked": 0,
	"per_obligation": {"GENERALIZE_GEOMETRY@abc": geo_entry_ok},
}

geo_phase2 := object.union(geo_input_zone, {"obligations": [geo_zone_obligation], "evidence": {"geo": geo_evidence_ok}})

geo_rules(vs) := {v.rule | some v in vs; startswith(v.rule, "geo.")}

test_geo_zone_touched_generalizes_with_zone_tier if {
	obs := gate.obligation with input as geo_input_zone
	some o in obs
	o.rule == "geo.zone_generalize"
	o.code == "GENERALIZE_GEOMETRY"
	o.kind == "generalize"
	o.params.method == "donut"
	o.params.r_min_m == 1000
	o.params.r_max_m == 3000
	o.params.zones == ["zone-aiannh-202980r"]
	o.params.epoch == 1
	o.sources == ["zone:zone-aiannh-202980r"]
}

test_geo_no_zone_no_flags_no_obligation if {
	obs := gate.obligation with input as geo_input_base
	count({o | some o in obs; startswith(o.rule, "geo.")}) == 0
}

test_geo_zone_without_features_no_obligation if {
	inp := json.patch(geo_input_zone, [{"op": "replace", "path": "/geo/zones/0/feature_count", "value": 0}])
	obs := gate.obligation with input as inp
	count({o | some o in obs; startswith(o.rule, "geo.")}) == 0
}

test_geo_indigenous_flag_generalizes_every_feature if {
	inp := json.patch(geo_input_base, [
		{"op": "replace", "path": "/flags/indigenous_rights_flag", "value": true},
		{"op": "replace", "path": "/flags/origins", "value": {"indigenous_rights_flag": ["zone:z1"]}},
	])
	obs := gate.obligation with input as inp
	some o in obs
	o.rule == "geo.flags_generalize"
	o.params.tier == "community"
	o.params.r_min_m == 250
	not o.params.zones
	o.sources == ["zone:z1"]
}

test_geo_sensitive_location_generalizes if {
	inp := json.patch(geo_input_base, [{"op": "replace", "path": "/flags/sensitivity", "value": "sensitive_location"}])
	obs := gate.obligation with input as inp
	some o in obs
	o.rule == "geo.flags_generalize"
	o.params.tier == "sensitive"
}

test_geo_strictest_flag_tier_wins if {
	inp := json.patch(geo_input_base, [
		{"op": "replace", "path": "/flags/indigenous_rights_flag", "value": true},
		{"op": "replace", "path": "/flags/care_class", "value": "sacred"},
	])
	obs := gate.obligation with input as inp
	tiers := {o.params.tier | some o in obs; o.rule == "geo.flags_generalize"}
	tiers == {"sacred"}
}

test_geo_no_features_no_flag_obligation if {
	inp := json.patch(geo_input_base, [
		{"op": "replace", "path": "/flags/care_class", "value": "sacred"},
		{"op": "replace", "path": "/geo/features_total", "value": 0},
	])
	obs := gate.obligation with input as inp
	count({o | some o in obs; o.rule == "geo.flags_generalize"}) == 0
}

test_geo_tiers_come_from_data if {
	obs := gate.obligation with input as geo_input_zone
		with data.kfm.params.geo.tiers.sensitive as {"method": "grid", "cell_m": 10000}
	some o in obs
	o.rule == "geo.zone_generalize"
	o.params.method == "grid"
	o.params.cell_m == 10000
}

test_geo_verified_evidence_has_no_geo_violation if {
	vs := gate.violation with input as geo_phase2
	count(geo_rules(vs)) == 0
}

test_geo_schematic_zone_warns if {
	ws := gate.warning with input as geo_phase2
	some w in ws
	w.rule == "geo.schematic_zone"
	w.severity == "info"
}

test_geo_missing_evidence_denies if {
	inp := json.patch(geo_phase2, [{"op": "remove", "path": "/evidence/geo"}])
	vs := gate.violation with input as inp
	some v in vs
	v.rule == "geo.evidence_missing"
	v.code == "EVIDENCE_UNRESOLVED"
	v.severity == "critical"
}

test_geo_skipped_evidence_denies if {
	inp := json.patch(geo_phase2, [{"op": "replace", "path": "/evidence/geo/status", "value": "skipped"}])
	vs := gate.violation with input as inp
	"geo.evidence_missing" in geo_rules(vs)
}

test_geo_zone_touched_without_obligation_or_evidence_denies if {
	inp := object.union(geo_input_zone, {"obligations": [], "evidence": {}})
	vs := gate.violation with input as inp
	"geo.evidence_missing" in geo_rules(vs)
}

test_geo_obligation_without_entry_denies if {
	inp := json.patch(geo_phase2, [{"op": "replace", "path": "/evidence/geo/per_obligation", "value": {}}])
	vs := gate.violation with input as inp
	"geo.obligation_unverified" in geo_rules(vs)
}

test_geo_entry_for_other_params_does_not_verify if {
	inp := json.patch(geo_phase2, [{"op": "replace", "path": "/evidence/geo/per_obligation/GENERALIZE_GEOMETRY@abc/params/r_min_m", "value": 50}])
	vs := gate.violation with input as inp
	"geo.obligation_unverified" in geo_rules(vs)
}

test_geo_moved_less_than_r_min_denies if {
	inp := json.patch(geo_phase2, [{"op": "replace", "path": "/evidence/geo/per_obligation/GENERALIZE_GEOMETRY@abc/moved_less_than_r_min", "value": 1}])
	vs := gate.violation with input as inp
	some v in vs
	v.rule == "geo.r_min"
	v.code == "PUBLIC_PRECISION_UNSAFE"
}

test_geo_moved_more_than_r_max_denies if {
	inp := json.patch(geo_phase2, [{"op": "replace", "path": "/evidence/geo/per_obligation/GENERALIZE_GEOMETRY@abc/moved_more_than_r_max", "value": 2}])
	vs := gate.violation with input as inp
	"geo.r_max" in geo_rules(vs)
}

test_geo_unchanged_in_zones_denies if {
	inp := json.patch(geo_phase2, [{"op": "replace", "path": "/evidence/geo/unchanged_in_zones", "value": 3}])
	vs := gate.violation with input as inp
	some v in vs
	v.rule == "geo.unchanged_in_zones"
	v.details.unchanged_in_zones == 3
}

test_geo_clean_evidence_has_no_geo_violation if {
	vs := gate.violation with input as geo_phase2
	count(geo_rules(vs)) == 0
}

test_geo_coordinate_fields_left_exact_deny if {
	inp := json.patch(geo_phase2, [{"op": "replace", "path": "/evidence/geo/coordinate_fields_unmasked", "value": 2}])
	vs := gate.violation with input as inp
	some v in vs
	v.rule == "geo.coordinate_fields"
	v.code == "PUBLIC_PRECISION_UNSAFE"
	v.details.coordinate_fields_unmasked == 2
	v.details.coordinate_fields == 6
}

test_geo_min_k_below_k_denies if {
	entry := {
		"code": "SUPPRESS_SMALL_CELLS", "kind": "suppress", "method": "k_anonymity",
		"params": {"method": "k_anonymity", "k": 5, "cell_m": 10000}, "min_k": 4, "k": 5,
	}
	inp := json.patch(geo_phase2, [{"op": "add", "path": "/evidence/geo/per_obligation/K", "value": entry}])
	vs := gate.violation with input as inp
	some v in vs
	v.rule == "geo.min_k"
	v.details.min_k == 4
}

test_geo_min_k_at_k_passes if {
	entry := {
		"code": "SUPPRESS_SMALL_CELLS", "kind": "suppress", "method": "k_anonymity",
		"params": {"method": "k_anonymity", "k": 5, "cell_m": 10000}, "min_k": 5, "k": 5,
	}
	inp := json.patch(geo_phase2, [{"op": "add", "path": "/evidence/geo/per_obligation/K", "value": entry}])
	vs := gate.violation with input as inp
	not "geo.min_k" in geo_rules(vs)
}

test_geo_containment_denies if {
	inp := json.patch(geo_phase2, [{"op": "replace", "path": "/evidence/geo/containment_violations", "value": 1}])
	vs := gate.violation with input as inp
	"geo.containment" in geo_rules(vs)
}

test_geo_not_suppressed_denies if {
	inp := json.patch(geo_phase2, [{"op": "replace", "path": "/evidence/geo/not_suppressed", "value": 1}])
	vs := gate.violation with input as inp
	"geo.not_suppressed" in geo_rules(vs)
}

test_geo_mismatch_and_unexpected_deny if {
	inp := json.patch(geo_phase2, [
		{"op": "replace", "path": "/evidence/geo/geometry_mismatch", "value": 1},
		{"op": "replace", "path": "/evidence/geo/unexpected_features", "value": 1},
	])
	vs := gate.violation with input as inp
	"geo.geometry_mismatch" in geo_rules(vs)
	"geo.unexpected_features" in geo_rules(vs)
}

test_geo_unknown_zone_tier_denies if {
	inp := json.patch(geo_input_zone, [{"op": "replace", "path": "/geo/zones/0/masking_tier", "value": "secret"}])
	vs := gate.violation with input as inp
	"geo.tier_unknown" in geo_rules(vs)
	obs := gate.obligation with input as inp
	count({o | some o in obs; o.rule == "geo.zone_generalize"}) == 0
}

test_geo_default_tiers_grow_stricter if {
	order := data.kfm.params.geo.tier_order
	tiers := data.kfm.params.geo.tiers
	every t in order {
		tiers[t].r_min_m < tiers[t].r_max_m
	}
	every i in numbers.range(1, count(order) - 1) {
		tiers[order[i - 1]].r_min_m < tiers[order[i]].r_min_m
		tiers[order[i - 1]].r_max_m <= tiers[order[i]].r_max_m
	}
}
