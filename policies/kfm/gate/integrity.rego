# METADATA
# title: Integrity and placement
# description: |
#   Every output has a checksum that matches its bytes, sits inside
#   data/processed/<pipeline>/<dataset>/<aoi>/<time>/, the code that made it is named,
#   and the evidence the council requires was collected.
package kfm.gate

# METADATA
# title: Required evidence present
# description: Each section listed in data.kfm.params.gate.required_evidence must be present.
violation contains {
	"rule": "integrity.evidence_missing",
	"code": "EVIDENCE_UNRESOLVED",
	"msg": sprintf("evidence %q was not collected", [name]),
	"severity": "critical",
	"details": {"section": name},
} if {
	some name in data.kfm.params.gate.required_evidence
	not input.evidence[name]
}

# METADATA
# title: Checksums
# description: Every output exists, declares a sha256 and matches it.
violation contains {
	"rule": "integrity.checksum",
	"code": "CHECKSUM_MISMATCH",
	"msg": sprintf("output %s: %s", [o.path, problem]),
	"severity": "critical",
	"details": {"path": o.path, "problem": problem},
} if {
	some o in input.evidence.checksums.outputs
	problem := integrity_checksum_problem(o)
}

# METADATA
# title: Checksum problem
# description: Why one output's checksum is not acceptable.
integrity_checksum_problem(o) := "file does not exist" if {
	not o.exists
} else := "no checksum declared" if {
	o.declared == null
} else := "checksum does not match the file" if {
	not o.match
}

# METADATA
# title: Placement
# description: Outputs must be inside the partition's folder under data/processed/.
violation contains {
	"rule": "integrity.placement",
	"code": "OUTPUT_OUTSIDE_PROCESSED",
	"msg": sprintf("output %s is outside %s", [path, input.evidence.placement.allowed_prefix]),
	"severity": "critical",
	"details": {"path": path, "allowed_prefix": input.evidence.placement.allowed_prefix},
} if {
	some path in input.evidence.placement.outside
}

# METADATA
# title: Code reference
# description: The git SHA of the code that produced the outputs must be recorded.
violation contains {
	"rule": "integrity.code_ref",
	"code": "POLICY_INPUT_INCOMPLETE",
	"msg": "code_ref (the git SHA of the producing code) is missing",
	"severity": "high",
	"details": {},
} if {
	not integrity_has_code_ref
}

# METADATA
# title: Has code reference
# description: code_ref is a non-empty string.
integrity_has_code_ref if {
	is_string(input.request.code_ref)
	count(trim_space(input.request.code_ref)) > 0
}

# METADATA
# title: At least one output
# description: A request must promote something.
violation contains {
	"rule": "integrity.no_outputs",
	"code": "POLICY_INPUT_INCOMPLETE",
	"msg": "the request lists no outputs",
	"severity": "critical",
	"details": {},
} if {
	count(input.request.outputs) == 0
}
