# METADATA
# title: Geoprivacy and sovereignty
# description: |
#   Phase 1: geometry obligations (GENERALIZE_GEOMETRY) from the effective flags and from
#   the sensitive zones the partition's features touch, with parameters by masking tier
#   from data.kfm.params.geo. Phase 2: the geo verification evidence must show that every
#   geometry obligation was applied as promised. Helpers are prefixed geo_.
package kfm.gate

# METADATA
# title: Geometry methods
# description: Obligation methods the geo masking engine applies and the geo evidence verifies.
geo_methods := {m | some m in data.kfm.params.geo.methods}

# METADATA
# title: Tier rank
# description: Position of a masking tier in data.kfm.params.geo.tier_order (higher is stricter).
geo_tier_rank(t) := i if {
	some i, x in data.kfm.params.geo.tier_order
	x == t
}

# METADATA
# title: Strictest tier
# description: The tier of highest rank in a set of tiers.
geo_strictest(tiers) := t if {
	some t in tiers
	r := geo_tier_rank(t)
	every u in tiers {
		geo_tier_rank(u) <= r
	}
}

# METADATA
# title: Tier parameters
# description: The method parameters of a tier, with the tier name and the mask epoch.
geo_tier_params(tier) := object.union(
	data.kfm.params.geo.tiers[tier],
	{"tier": tier, "epoch": data.kfm.params.geo.mask_epoch},
)

# METADATA
# title: Tiers the effective flags ask for
# description: By care class, by sensitivity, and for the Indigenous rights flag.
geo_flag_tiers contains t if t := data.kfm.params.geo.care_class_tiers[input.flags.care_class]

geo_flag_tiers contains t if t := data.kfm.params.geo.sensitivity_tiers[input.flags.sensitivity]

geo_flag_tiers contains data.kfm.params.geo.indigenous_rights_tier if input.flags.indigenous_rights_flag == true

# METADATA
# title: Where the flag tiers come from
# description: Origins of the flags that asked for masking.
geo_flag_sources contains s if {
	some name in ["care_class", "sensitivity", "indigenous_rights_flag"]
	some s in object.get(object.get(input.flags, "origins", {}), name, [])
}

# METADATA
# title: Generalize for the effective flags
# description: |
#   Care class, sensitivity or the Indigenous rights flag ask for masking: every feature of
#   the partition is generalized with the strictest tier they name.
obligation contains {
	"code": "GENERALIZE_GEOMETRY",
	"kind": "generalize",
	"params": geo_tier_params(tier),
	"reason": sprintf("effective flags require the %s masking tier for every feature", [tier]),
	"rule": "geo.flags_generalize",
	"sources": sort(geo_flag_sources),
} if {
	input.geo.features_total > 0
	count(geo_flag_tiers) > 0
	tier := geo_strictest(geo_flag_tiers)
	data.kfm.params.geo.tiers[tier]
}

# METADATA
# title: Tiers of touched zones
# description: Masking tiers of the sensitive zones that features of the partition touch.
geo_zone_tiers contains z.masking_tier if {
	some z in input.geo.zones
	z.feature_count > 0
}

# METADATA
# title: Generalize inside sensitive zones
# description: |
#   Features touching a sensitive zone (buffer included) are generalized with the zone's
#   masking tier; one obligation per tier lists its zones.
obligation contains {
	"code": "GENERALIZE_GEOMETRY",
	"kind": "generalize",
	"params": object.union(geo_tier_params(tier), {"zones": ids}),
	"reason": sprintf("features touch %d sensitive zone(s) of masking tier %s", [count(ids), tier]),
	"rule": "geo.zone_generalize",
	"sources": [sprintf("zone:%s", [id]) | some id in ids],
} if {
	some tier in geo_zone_tiers
	data.kfm.params.geo.tiers[tier]
	ids := sort({z.zone_id | some z in input.geo.zones; z.masking_tier == tier; z.feature_count > 0})
}

# METADATA
# title: Geometry obligations
# description: Obligations of this run that the geo engine applies and the geo evidence verifies.
geo_obligations contains o if {
	some o in input.obligations
	o.kind in {"generalize", "suppress"}
	o.params.method in geo_methods
}

# METADATA
# title: Geo evidence present
# description: The geo verification section exists and ran.
geo_evidence_ok if input.evidence.geo.status == "ok"

# METADATA
# title: Zones touched
# description: The partition has features in at least one sensitive zone.
geo_zones_touched if {
	some z in input.geo.zones
	z.feature_count > 0
}

# METADATA
# title: Geo evidence missing
# description: A geometry obligation or a touched zone without geo verification evidence denies.
violation contains {
	"rule": "geo.evidence_missing",
	"code": "EVIDENCE_UNRESOLVED",
	"msg": "geometry obligations or sensitive zones apply but the geo verification evidence is missing",
	"severity": "critical",
	"details": {"obligations": count(geo_obligations), "status": object.get(object.get(input.evidence, "geo", {}), "status", null)},
} if {
	not geo_evidence_ok
	geo_needs_evidence
}

# METADATA
# title: Evidence needed
# description: Geo evidence is needed when a geometry obligation exists or a zone is touched.
geo_needs_evidence if count(geo_obligations) > 0

geo_needs_evidence if geo_zones_touched

# METADATA
# title: Obligation verified
# description: The geo evidence holds an entry for this obligation (same code and parameters).
geo_verified(o) if {
	some e in input.evidence.geo.per_obligation
	e.code == o.code
	e.params == o.params
}

# METADATA
# title: Obligation not verified
# description: A geometry obligation the verification did not measure denies.
violation contains {
	"rule": "geo.obligation_unverified",
	"code": "EVIDENCE_UNRESOLVED",
	"msg": sprintf("obligation %s (%s) has no geo verification entry", [o.code, o.params.method]),
	"severity": "critical",
	"details": {"obligation": o.code, "method": o.params.method},
} if {
	geo_evidence_ok
	some o in geo_obligations
	not geo_verified(o)
}

# METADATA
# title: Displaced less than r_min
# description: A donut obligation moved features less than its minimum distance.
violation contains {
	"rule": "geo.r_min",
	"code": "PUBLIC_PRECISION_UNSAFE",
	"msg": sprintf("%d features moved less than r_min_m %v", [e.moved_less_than_r_min, e.params.r_min_m]),
	"severity": "critical",
	"details": {"obligation": key, "moved_less_than_r_min": e.moved_less_than_r_min},
} if {
	some key, e in input.evidence.geo.per_obligation
	e.method == "donut"
	e.moved_less_than_r_min > 0
}

# METADATA
# title: Displaced more than r_max
# description: A donut obligation moved features farther than its maximum distance.
violation contains {
	"rule": "geo.r_max",
	"code": "GEOMETRY_DISPLACEMENT_OUT_OF_RANGE",
	"msg": sprintf("%d features moved more than r_max_m %v", [e.moved_more_than_r_max, e.params.r_max_m]),
	"severity": "high",
	"details": {"obligation": key, "moved_more_than_r_max": e.moved_more_than_r_max},
} if {
	some key, e in input.evidence.geo.per_obligation
	e.method == "donut"
	e.moved_more_than_r_max > 0
}

# METADATA
# title: Unchanged inside sensitive zones
# description: A feature in a sensitive zone published at its input location denies.
violation contains {
	"rule": "geo.unchanged_in_zones",
	"code": "PUBLIC_PRECISION_UNSAFE",
	"msg": sprintf("%d features in sensitive zones are published at their input location", [n]),
	"severity": "critical",
	"details": {"unchanged_in_zones": n, "features_in_zones": input.evidence.geo.features_in_zones},
} if {
	n := input.evidence.geo.unchanged_in_zones
	n > 0
}

# METADATA
# title: k-anonymity
# description: A published cell of a k-anonymity obligation holds fewer than k features.
violation contains {
	"rule": "geo.min_k",
	"code": "PUBLIC_PRECISION_UNSAFE",
	"msg": sprintf("a published cell holds %d features; k-anonymity requires %d", [e.min_k, e.params.k]),
	"severity": "critical",
	"details": {"obligation": key, "min_k": e.min_k, "k": e.params.k},
} if {
	some key, e in input.evidence.geo.per_obligation
	e.method == "k_anonymity"
	e.min_k != null
	e.min_k < e.params.k
}

# METADATA
# title: Containment
# description: Published geometry is not where its method promises (AOI, cell centre).
violation contains {
	"rule": "geo.containment",
	"code": "GEOMETRY_CONTAINMENT_FAILED",
	"msg": sprintf("%d published features break their method's containment (AOI or cell)", [n]),
	"severity": "high",
	"details": {"containment_violations": n},
} if {
	n := input.evidence.geo.containment_violations
	n > 0
}

# METADATA
# title: Suppression not applied
# description: Features a suppress obligation covers are still published.
violation contains {
	"rule": "geo.not_suppressed",
	"code": "PUBLIC_PRECISION_UNSAFE",
	"msg": sprintf("%d features that must be suppressed are published", [n]),
	"severity": "critical",
	"details": {"not_suppressed": n},
} if {
	n := input.evidence.geo.not_suppressed
	n > 0
}

# METADATA
# title: Geometry mismatch
# description: A published line or polygon is not a rigid translation of its input, or changed type.
violation contains {
	"rule": "geo.geometry_mismatch",
	"code": "GEOMETRY_MISMATCH",
	"msg": sprintf("%d published geometries do not match their masking method", [n]),
	"severity": "high",
	"details": {"geometry_mismatch": n},
} if {
	n := input.evidence.geo.geometry_mismatch
	n > 0
}

# METADATA
# title: Unexpected features
# description: The public view holds features that the candidate does not.
violation contains {
	"rule": "geo.unexpected_features",
	"code": "GEOMETRY_MISMATCH",
	"msg": sprintf("%d published features have no candidate feature", [n]),
	"severity": "high",
	"details": {"unexpected_features": n},
} if {
	n := input.evidence.geo.unexpected_features
	n > 0
}

# METADATA
# title: Coordinates outside the geometry
# description: |
#   A treated feature (or CSV row) carries its position again in a property or column
#   (lon/lat, x/y, WKT, "38.9, -95.2") that was not masked with its geometry, or cannot be.
violation contains {
	"rule": "geo.coordinate_fields",
	"code": "PUBLIC_PRECISION_UNSAFE",
	"msg": sprintf("%d coordinate-like properties or columns of masked features keep a position the geometry no longer has", [n]),
	"severity": "critical",
	"details": {"coordinate_fields_unmasked": n, "coordinate_fields": object.get(input.evidence.geo, "coordinate_fields", 0)},
} if {
	n := input.evidence.geo.coordinate_fields_unmasked
	n > 0
}

# METADATA
# title: Zone tier without parameters
# description: A touched zone names a masking tier that the policy data does not define.
violation contains {
	"rule": "geo.tier_unknown",
	"code": "SENSITIVITY_UNRESOLVED",
	"msg": sprintf("zone %s names masking tier %s, which data.kfm.params.geo.tiers does not define", [z.zone_id, z.masking_tier]),
	"severity": "critical",
	"details": {"zone_id": z.zone_id, "masking_tier": z.masking_tier},
} if {
	some z in input.geo.zones
	z.feature_count > 0
	not data.kfm.params.geo.tiers[z.masking_tier]
}

# METADATA
# title: Schematic zone
# description: A touched zone's geometry is schematic (a test fixture), not a real boundary.
warning contains {
	"rule": "geo.schematic_zone",
	"code": "ZONE_GEOMETRY_SCHEMATIC",
	"msg": sprintf("zone %s has schematic geometry; masking used it as if it were real", [z.zone_id]),
	"severity": "info",
	"details": {"zone_id": z.zone_id, "feature_count": z.feature_count},
} if {
	some z in input.geo.zones
	z.feature_count > 0
	z.schematic == true
}
