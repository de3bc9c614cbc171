# METADATA
# title: Secrets in outputs
# description: |
#   Reads the secrets evidence section (private keys, tokens, passwords, high-entropy
#   strings in the public view's tables and text artifacts). Any secret denies publication.
package kfm.gate

# METADATA
# title: Secrets evidence missing
# description: Without the secrets section nobody knows whether credentials would be published.
violation contains {
	"rule": "secrets.evidence_missing",
	"code": "EVIDENCE_UNRESOLVED",
	"msg": "the secrets evidence was not collected",
	"severity": "critical",
	"details": {"section": "secrets"},
} if {
	data.kfm.params.secrets.required
	not input.evidence.secrets
}

# METADATA
# title: Severity of a secret type
# description: Per type from the parameters, else the default severity.
secrets_severity(kind) := data.kfm.params.secrets.severity_by_type[kind]

secrets_severity(kind) := data.kfm.params.secrets.default_severity if {
	not data.kfm.params.secrets.severity_by_type[kind]
}

# METADATA
# title: Secret in the outputs
# description: Each secret type found more often than allowed denies; places are given, never values.
violation contains {
	"rule": "secrets.found",
	"code": "SECRET_IN_OUTPUT",
	"msg": sprintf("%d %s finding(s) in the outputs", [n, kind]),
	"severity": secrets_severity(kind),
	"details": {
		"type": kind,
		"count": n,
		"places": [{"file": f.file, "line": f.line, "column": f.column} |
			some f in input.evidence.secrets.findings
			f.type == kind
		],
	},
} if {
	some kind, n in input.evidence.secrets.counts_by_type
	n > data.kfm.params.secrets.max_findings
}
