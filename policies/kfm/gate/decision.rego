# METADATA
# title: Promotion decision
# description: |
#   Phase 2 of the gate. Assembles every violation and warning contributed by the
#   rule files of package kfm.gate, sets aside those an active waiver covers, and
#   decides allow, deny or quarantine. The gate itself gives "error" on any failure.
package kfm.gate

# METADATA
# title: Blocking severities
# description: Violations of these severities deny; others are reported as warnings.
blocking_severities := {s | some s in data.kfm.params.gate.blocking_severities}

# METADATA
# title: Waived violations
# description: Each violation an active waiver covers, citing the waiver.
waived contains w if {
	some wv in active_waivers
	some v in violation
	waiver_covers(wv, v)
	w := {
		"waiver_id": wv.id,
		"rule": v.rule,
		"code": v.code,
		"msg": v.msg,
		"approver": object.get(wv, "approver", ""),
		"expires": object.get(wv, "expires", ""),
	}
}

# METADATA
# title: Waived keys
# description: The (rule, code, msg) of every waived violation.
waived_keys contains [w.rule, w.code, w.msg] if some w in waived

# METADATA
# title: Effective violations
# description: Violations that no active waiver covers.
effective_violations := violation if {
	count(waived_keys) == 0
} else := {v |
	some v in violation
	not [v.rule, v.code, v.msg] in waived_keys
}

# METADATA
# title: Blocking violations
# description: Effective violations with a blocking severity.
blocking contains v if {
	some v in effective_violations
	v.severity in blocking_severities
}

# METADATA
# title: Non-blocking violations become warnings
# description: Effective violations below the blocking severities are reported as warnings.
all_warnings contains w if some w in warning

all_warnings contains v if {
	some v in effective_violations
	not v.severity in blocking_severities
}

# METADATA
# title: Outcome
# description: deny on any blocking violation; quarantine when council review is required; else allow.
default outcome := "deny"

outcome := "deny" if {
	count(blocking) > 0
} else := "quarantine" if {
	count(quarantine) > 0
} else := "allow"

# METADATA
# title: Decision document
# description: What the gate records; the shape is the contract in docs/policy-input.md.
decision := {
	"outcome": outcome,
	"violations": [v | some v in blocking],
	"warnings": [w | some w in all_warnings],
	"waived": [w | some w in waived],
	"quarantine": [q | some q in quarantine],
}
