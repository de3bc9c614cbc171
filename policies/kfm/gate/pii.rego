# METADATA
# title: Personal information in the public view
# description: |
#   Reads the pii evidence section (Presidio on the public view). Blocked entity types may
#   not appear in more cells than data.kfm.params.pii allows for the output's sensitivity;
#   free-text columns are redacted before publication (REDACT_FREE_TEXT); restricted data
#   can be made to require NER detectors; the section must be present.
package kfm.gate

# METADATA
# title: Effective sensitivity
# description: The output's sensitivity, or the most cautious one when flags are missing.
pii_sensitivity := input.flags.sensitivity if {
	is_string(input.flags.sensitivity)
} else := "unknown_review_required"

# METADATA
# title: Cell limit for one entity type
# description: A per-sensitivity limit if the council set one, else the default limit.
pii_max_cells(entity) := n if {
	n := data.kfm.params.pii.max_cells_by_sensitivity[pii_sensitivity][entity]
} else := data.kfm.params.pii.max_cells_default

# METADATA
# title: Governed entity types
# description: Blocked types plus any type a per-sensitivity limit names.
pii_governed contains t if some t in data.kfm.params.pii.blocked_entities

pii_governed contains t if some t, _ in object.get(data.kfm.params.pii.max_cells_by_sensitivity, pii_sensitivity, {})

# METADATA
# title: PII evidence missing
# description: Without the pii section nobody knows what the public view holds.
violation contains {
	"rule": "pii.evidence_missing",
	"code": "EVIDENCE_UNRESOLVED",
	"msg": "the pii evidence (Presidio scan of the public view) was not collected",
	"severity": "critical",
	"details": {"section": "pii"},
} if {
	not input.evidence.pii
}

# METADATA
# title: PII scan did not run
# description: A pii section that is not ok (e.g. skipped) is unresolved evidence.
violation contains {
	"rule": "pii.evidence_not_ok",
	"code": "EVIDENCE_UNRESOLVED",
	"msg": sprintf("the pii evidence has status %s", [input.evidence.pii.status]),
	"severity": "critical",
	"details": {"section": "pii", "status": input.evidence.pii.status},
} if {
	input.evidence.pii.status != "ok"
}

# METADATA
# title: Where a finding is
# description: File, column, part (value, key inside a cell, column name, line), paths, rows.
pii_place(f) := {
	"file": f.file,
	"column": f.column,
	"part": object.get(f, "part", "value"),
	"paths": object.get(f, "paths", []),
	"cells": f.cells,
	"rows": f.rows,
}

# METADATA
# title: Found in a name
# description: True when a finding of the type sits in a column name or a key, which no redaction rewrites.
pii_in_names(entity) if {
	some f in input.evidence.pii.findings
	f.entity_type == entity
	object.get(f, "part", "value") in {"column_name", "key"}
}

pii_where(entity) := " (also in a column name or key, which redaction does not rewrite)" if {
	pii_in_names(entity)
} else := ""

# METADATA
# title: PII in the public view
# description: Each governed entity type found in more cells than allowed denies publication.
violation contains {
	"rule": "pii.entity_in_public_view",
	"code": "PII_IN_PUBLIC_VIEW",
	"msg": sprintf("%s found in %d cell(s) of the public view%s; %s data allows %d", [entity, cells, pii_where(entity), pii_sensitivity, limit]),
	"severity": "critical",
	"details": {
		"entity_type": entity,
		"cells": cells,
		"limit": limit,
		"sensitivity": pii_sensitivity,
		"places": [pii_place(f) |
			some f in input.evidence.pii.findings
			f.entity_type == entity
		],
	},
} if {
	some entity, cells in input.evidence.pii.counts_by_type
	entity in pii_governed
	limit := pii_max_cells(entity)
	cells > limit
}

# METADATA
# title: Other PII types found
# description: Types the council watches without blocking are reported as warnings.
warning contains {
	"rule": "pii.entity_reported",
	"code": "PII_REPORTED",
	"msg": sprintf("%s found in %d cell(s) of the public view", [entity, cells]),
	"severity": "info",
	"details": {"entity_type": entity, "cells": cells},
} if {
	some entity, cells in input.evidence.pii.counts_by_type
	entity in data.kfm.params.pii.warn_entities
	not entity in pii_governed
	cells > 0
}

# METADATA
# title: NER required
# description: Sensitivities listed in require_ner_for need a scan with a NER model (PERSON, LOCATION).
violation contains {
	"rule": "pii.ner_required",
	"code": "PII_NER_REQUIRED",
	"msg": sprintf("%s data needs a PII scan with NER (PERSON, LOCATION); the scan ran patterns only", [pii_sensitivity]),
	"severity": "high",
	"details": {"sensitivity": pii_sensitivity, "detectors": input.evidence.pii.detectors},
} if {
	input.evidence.pii
	pii_sensitivity in data.kfm.params.pii.require_ner_for
	not input.evidence.pii.ner == true
}

# METADATA
# title: NER columns read without NER
# description: The council asked for NER on some columns, but no model was installed: no person or place names were looked for there.
warning contains {
	"rule": "pii.ner_unavailable",
	"code": "PII_NER_UNAVAILABLE",
	"msg": sprintf("columns %v were to be read with NER, but no NER model is installed (run make ner): person and place names were not looked for", [input.evidence.pii.ner_columns]),
	"severity": "info",
	"details": {"ner_columns": input.evidence.pii.ner_columns, "ner_status": input.evidence.pii.ner_status},
} if {
	input.evidence.pii.ner_status == "not_installed"
}

# METADATA
# title: Scan threshold too lax
# description: Findings below the reported score threshold are invisible; the threshold has a ceiling.
violation contains {
	"rule": "pii.threshold_too_high",
	"code": "PII_SCAN_TOO_LAX",
	"msg": sprintf("the PII scan reported findings from score %v; the council allows at most %v", [input.evidence.pii.score_threshold, data.kfm.params.pii.max_score_threshold]),
	"severity": "high",
	"details": {"score_threshold": input.evidence.pii.score_threshold, "max": data.kfm.params.pii.max_score_threshold},
} if {
	input.evidence.pii.score_threshold > data.kfm.params.pii.max_score_threshold
}

# METADATA
# title: Redact free text
# description: Free-text columns of the dataset are redacted in the public view (REDACT_FREE_TEXT).
obligation contains {
	"code": "REDACT_FREE_TEXT",
	"kind": "redact",
	"params": {"columns": sort(columns), "entities": sort(data.kfm.params.pii.redact_entities)},
	"reason": sprintf("free-text columns of %s may hold personal information", [input.request.dataset]),
	"rule": "pii.redact_free_text",
	"sources": [],
} if {
	columns := data.kfm.params.pii.free_text_columns[input.request.dataset]
	count(columns) > 0
}
