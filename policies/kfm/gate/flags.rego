# METADATA
# title: Governance flags
# description: |
#   Flags must be present and known. Missing or unknown flags deny
#   (SENSITIVITY_UNRESOLVED); restricted Traditional Knowledge sends the partition
#   to quarantine for council review.
package kfm.gate

# METADATA
# title: Flags missing
# description: The request carries no effective flags, or some inputs carry none.
violation contains {
	"rule": "flags.missing",
	"code": "SENSITIVITY_UNRESOLVED",
	"msg": "governance flags are missing: every input must declare its flags",
	"severity": "critical",
	"details": {"inputs_without_flags": object.get(input, "flags_missing", [])},
} if {
	flags_missing
}

# METADATA
# title: Flags missing test
# description: True when the effective flags are null or an input has none.
flags_missing if input.flags == null

flags_missing if count(object.get(input, "flags_missing", [])) > 0

# METADATA
# title: Unknown classification or sensitivity
# description: A classification, sensitivity or care class of "unknown" cannot be published.
violation contains {
	"rule": "flags.unknown",
	"code": "SENSITIVITY_UNRESOLVED",
	"msg": sprintf("flag %s is %q: it must be resolved before publication", [name, value]),
	"severity": "critical",
	"details": {"flag": name, "value": value, "sources": object.get(input.flags.origins, name, [])},
} if {
	some name, unknowns in {
		"classification": data.kfm.params.gate.unknown_classifications,
		"sensitivity": data.kfm.params.gate.unknown_sensitivities,
		"care_class": data.kfm.params.gate.unknown_care_classes,
	}
	value := input.flags[name]
	value in unknowns
}

# METADATA
# title: Quarantine for review
# description: Each review obligation puts the partition in quarantine (ABSTAIN, REQUIRE_STEWARD_REVIEW).
quarantine contains {
	"rule": o.rule,
	"code": o.code,
	"msg": o.reason,
	"severity": "high",
	"details": o.params,
} if {
	some o in input.obligations
	o.kind == "review"
}
