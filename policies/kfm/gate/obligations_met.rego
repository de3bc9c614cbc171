# METADATA
# title: Obligations met
# description: |
#   Every obligation of phase 1 must have been applied to the public view by an
#   obligation engine, and embargoes must have ended. Topic rule files (geo, pii)
#   check the verification evidence of the obligations they own.
package kfm.gate

# METADATA
# title: Kinds applied by an engine
# description: Obligation kinds that change the public view and so need an engine's report.
engine_kinds := {"generalize", "redact", "suppress"}

# METADATA
# title: Applied obligation codes
# description: Codes the obligation engines report as applied.
applied_codes contains a.code if {
	some a in input.evidence.obligations.applied
	a.applied == true
}

# METADATA
# title: Obligation not applied
# description: A generalize, redact or suppress obligation that no engine applied denies.
violation contains {
	"rule": "obligations_met.not_applied",
	"code": "OBLIGATION_UNVERIFIED",
	"msg": sprintf("obligation %s (%s) was not applied to the public view", [o.code, o.kind]),
	"severity": "critical",
	"details": {"obligation": o.code, "kind": o.kind},
} if {
	some o in input.obligations
	o.kind in engine_kinds
	not o.code in applied_codes
}

# METADATA
# title: Embargo in force
# description: An embargo that has not ended blocks publication.
violation contains {
	"rule": "obligations_met.embargo",
	"code": "DELAY_PUBLICATION",
	"msg": sprintf("publication is embargoed until %s", [o.params.until]),
	"severity": "high",
	"details": {"until": o.params.until},
} if {
	some o in input.obligations
	o.kind == "embargo"
	o.params.until > input.today
}
