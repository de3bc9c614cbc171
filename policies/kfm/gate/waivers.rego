# METADATA
# title: Waivers
# description: |
#   A waiver sets aside named rules for an asset, AOIs and a date range, with a reason,
#   an approver and an expiry. Only valid, active waivers apply; an expired waiver that
#   would have applied is reported as a warning. The council declares in
#   data.kfm.params.waivers which rule ids are waivable at all (never a CARE, sovereignty,
#   flags, geo or person-PII rule) and its roster: a waiver names waivable rule ids only
#   (no reason code, no wildcard), its approver is a roster member, and its reason and
#   approver are checked after trimming spaces. An invalid waiver never applies and denies.
package kfm.gate

# METADATA
# title: Waivable rule
# description: A rule id the council lists as waivable and no never-waivable prefix covers.
waiver_waivable(rule) if {
	rule in data.kfm.params.waivers.waivable_rules
	not waiver_never_waivable(rule)
}

# METADATA
# title: Never waivable
# description: A rule id under a prefix that no waiver may set aside (CARE, sovereignty, flags...).
waiver_never_waivable(rule) if {
	some prefix in data.kfm.params.waivers.never_waivable_prefixes
	startswith(rule, prefix)
}

# METADATA
# title: Waiver problems
# description: Each check a waiver fails, as a short text (empty when it is valid).
waiver_problems(w) := {p |
	some check in [
		["approver is not a member of the council roster", waiver_approver_ok(w)],
		["reason is too short once trimmed", waiver_reason_ok(w)],
		["scope names a rule that is not waivable", waiver_rules_ok(w)],
	]
	check[1] == false
	p := check[0]
}

# METADATA
# title: Approver check
# description: The trimmed approver is the id of a roster member.
waiver_approver_ok(w) := true if {
	approver := trim_space(object.get(w, "approver", ""))
	some member in data.kfm.params.waivers.roster
	member.id == approver
} else := false

# METADATA
# title: Reason check
# description: The trimmed reason has at least reason_min_chars characters.
waiver_reason_ok(w) := true if {
	count(trim_space(object.get(w, "reason", ""))) >= data.kfm.params.waivers.reason_min_chars
} else := false

# METADATA
# title: Rules check
# description: Every rule the scope names is a waivable rule id.
waiver_rules_ok(w) := true if {
	rules := object.get(object.get(w, "scope", {}), "rules", [])
	count(rules) > 0
	every r in rules {
		waiver_waivable(r)
	}
} else := false

# METADATA
# title: Valid waiver
# description: A waiver that passes every check.
waiver_valid(w) if count(waiver_problems(w)) == 0

# METADATA
# title: Invalid waiver
# description: A waiver that fails a check never applies and denies until it is fixed or removed.
violation contains {
	"rule": "waivers.invalid",
	"code": "WAIVER_INVALID",
	"msg": sprintf("waiver %v is invalid: %s", [object.get(w, "id", "?"), concat("; ", sort(waiver_problems(w)))]),
	"severity": "critical",
	"details": {"waiver_id": object.get(w, "id", null), "problems": sort(waiver_problems(w))},
} if {
	some w in object.get(input, "waivers", [])
	not waiver_valid(w)
}

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
	waiver_valid(w)
	waiver_status(w) == "active"
}

# METADATA
# title: Waiver scope
# description: |
#   The waiver's asset, AOIs, dates and rules cover the violation: its rule id is named and
#   waivable (an asset "*" never reaches a rule that is not).
waiver_covers(w, v) if {
	waiver_in_scope(w)
	waiver_waivable(v.rule)
	v.rule in w.scope.rules
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
	waiver_valid(w)
	waiver_status(w) == "expired"
	some v in violation
	waiver_covers(w, v)
}
