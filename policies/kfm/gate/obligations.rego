# METADATA
# title: Obligations (phase 1)
# description: |
#   What must happen before publication. Every rule file of package kfm.gate may add
#   to the partial set `obligation`; the gate applies them to the public view and the
#   decision checks they were verified.
package kfm.gate

# METADATA
# title: Obligations document
# description: Phase 1 result read by the gate, sorted for determinism.
obligations := [o | some o in obligation]

# METADATA
# title: Embargo
# description: Data under an embargo that has not yet ended must wait (DELAY_PUBLICATION).
obligation contains {
	"code": "DELAY_PUBLICATION",
	"kind": "embargo",
	"params": {"until": input.flags.embargo_until},
	"reason": sprintf("embargoed until %s", [input.flags.embargo_until]),
	"rule": "obligations.embargo",
	"sources": object.get(input.flags.origins, "embargo_until", []),
} if {
	input.flags.embargo_until != null
	input.flags.embargo_until > input.today
}

# METADATA
# title: Council review for restricted Traditional Knowledge
# description: Secret/sacred, gender-restricted and community-use-only TK labels need steward review.
obligation contains {
	"code": "REQUIRE_STEWARD_REVIEW",
	"kind": "review",
	"params": {"labels": sort(labels)},
	"reason": "restricted Traditional Knowledge labels require council review before any publication",
	"rule": "obligations.restricted_tk_review",
	"sources": sort({s | some l in labels; some s in object.get(input.flags.origins, sprintf("tk_labels:%s", [l]), [])}),
} if {
	labels := {l | some l in input.flags.tk_labels; l in data.kfm.params.gate.quarantine_tk_labels}
	count(labels) > 0
}

# METADATA
# title: Rights notice
# description: Local Contexts labels and notices travel with the published data (ATTACH_RIGHTS_NOTICE).
obligation contains {
	"code": "ATTACH_RIGHTS_NOTICE",
	"kind": "notice",
	"params": {
		"tk_labels": input.flags.tk_labels,
		"bc_labels": input.flags.bc_labels,
		"notices": input.flags.notices,
		"authorities": input.flags.sovereignty_authorities,
	},
	"reason": "Local Contexts labels or notices apply to this data",
	"rule": "obligations.rights_notice",
	"sources": [],
} if {
	count(input.flags.tk_labels) + count(input.flags.bc_labels) + count(input.flags.notices) > 0
}
