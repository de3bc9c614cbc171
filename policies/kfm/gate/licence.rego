# METADATA
# title: Licences
# description: |
#   Every licence the data inherits must be known, allowed by the council, and
#   compatible with the others (RIGHTS_UNKNOWN, LICENCE_INCOMPATIBLE).
package kfm.gate

# METADATA
# title: No licence
# description: Data without any licence cannot be published.
violation contains {
	"rule": "licence.missing",
	"code": "RIGHTS_UNKNOWN",
	"msg": "no licence is known for this data",
	"severity": "critical",
	"details": {},
} if {
	input.flags != null
	count(input.flags.licenses) == 0
}

# METADATA
# title: Unknown licence
# description: A licence marked unknown or noassertion never publishes.
violation contains {
	"rule": "licence.unknown",
	"code": "RIGHTS_UNKNOWN",
	"msg": sprintf("licence %q is not a known licence", [l]),
	"severity": "critical",
	"details": {"licence": l, "sources": object.get(input.flags.origins, sprintf("licenses:%s", [l]), [])},
} if {
	some l in input.flags.licenses
	l in data.kfm.params.licences.unknown
}

# METADATA
# title: Licence not allowed
# description: Licences outside the council's allowed list deny.
violation contains {
	"rule": "licence.not_allowed",
	"code": "RIGHTS_UNKNOWN",
	"msg": sprintf("licence %q is not on the council's allowed list", [l]),
	"severity": "high",
	"details": {"licence": l},
} if {
	some l in input.flags.licenses
	not l in data.kfm.params.licences.unknown
	not l in data.kfm.params.licences.allowed
}

# METADATA
# title: Incompatible licences
# description: Two inherited licences that cannot be combined deny.
violation contains {
	"rule": "licence.incompatible",
	"code": "LICENCE_INCOMPATIBLE",
	"msg": sprintf("licences %s and %s cannot be combined", [pair[0], pair[1]]),
	"severity": "high",
	"details": {"licences": pair},
} if {
	some pair in data.kfm.params.licences.incompatible_pairs
	pair[0] in input.flags.licenses
	pair[1] in input.flags.licenses
}
