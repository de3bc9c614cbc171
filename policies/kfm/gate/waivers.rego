# METADATA
# title: Waivers
# description: |
#   A waiver sets aside named rules for an asset, AOIs and a date range, with a reason,
#   an approver and an expiry. Only active waivers apply; an expired waiver that would
#   have applied is reported as a warning.
package kfm.gate

# METADATA
# title: Waiver status
# description: active between created and expires (inclusive), expired after, not yet valid before.
waiver_status(w) := "not_yet_valid" if {
	input.today < w.created
} else := "expired" if {
	input.today > w.expires
} else := "active"

# METADATA
# title: Active waivers
# description: Waivers whose dates include today.
active_waivers contains w if {
	some w in object.get(input, "waivers", [])
	waiver_status(w) == "active"
}

# METADATA
# title: Waiver scope
# description: The waiver's asset, AOIs, dates and rules cover the violation.
waiver_covers(w, v) if {
	waiver_in_scope(w)
	some r in w.scope.rules
	r in {v.rule, v.code}
}

# METADATA
# title: Waiver scope without rules
# description: asset (or "*"), AOI (empty = all) and the partition day within from..to.
waiver_in_scope(w) if {
	w.scope.asset in {"*", input.request.asset_key}
	waiver_aoi_ok(w)
	input.request.partition.time_key >= waiver_bound(w, "from", "0000-01-01")
	input.request.partition.time_key <= waiver_bound(w, "to", "9999-12-31")
}

# METADATA
# title: Waiver date bound
# description: A missing or null bound of the scope's date range is open.
waiver_bound(w, name, open) := b if {
	b := w.scope[name]
	b != null
} else := open

# METADATA
# title: Waiver AOI
# description: An empty AOI list covers every AOI.
waiver_aoi_ok(w) if count(object.get(w.scope, "aois", [])) == 0

waiver_aoi_ok(w) if input.request.partition.aoi_key in w.scope.aois

# METADATA
# title: Expired waiver
# description: An expired waiver that would have covered a violation is reported, and does not apply.
warning contains {
	"rule": "waivers.expired",
	"code": "WAIVER_EXPIRED",
	"msg": sprintf("waiver %s expired on %s and no longer applies to %s", [w.id, w.expires, v.rule]),
	"severity": "medium",
	"details": {"waiver_id": w.id, "expires": w.expires, "rule": v.rule},
} if {
	some w in object.get(input, "waivers", [])
	waiver_status(w) == "expired"
	some v in violation
	waiver_in_scope(w)
	some r in w.scope.rules
	r in {v.rule, v.code}
}
