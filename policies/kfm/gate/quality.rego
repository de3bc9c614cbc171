# METADATA
# title: Data quality
# description: |
#   Reads the quality evidence section (the dataset's Great Expectations suite from
#   policies/quality/, run on the public view). Every failed expectation and every cell that
#   does not have its declared type is a violation; the section must be present.
package kfm.gate

# METADATA
# title: Quality evidence missing
# description: Without the quality section the suite's verdict is unknown.
violation contains {
	"rule": "quality.evidence_missing",
	"code": "EVIDENCE_UNRESOLVED",
	"msg": "the quality evidence (Great Expectations suite) was not collected",
	"severity": "critical",
	"details": {"section": "quality"},
} if {
	data.kfm.params.quality.required
	not input.evidence.quality
}

# METADATA
# title: Quality suite did not run
# description: A skipped quality section (e.g. no suite for the dataset) is unresolved evidence.
violation contains {
	"rule": "quality.evidence_not_ok",
	"code": "EVIDENCE_UNRESOLVED",
	"msg": sprintf("the quality evidence has status %s: %s", [input.evidence.quality.status, object.get(input.evidence.quality, "reason", "")]),
	"severity": "critical",
	"details": {"section": "quality", "status": input.evidence.quality.status},
} if {
	data.kfm.params.quality.required
	input.evidence.quality.status != "ok"
	not input.request.dataset in data.kfm.params.quality.optional_datasets
}

# METADATA
# title: Severity of a failed expectation
# description: Per expectation type from the parameters, else the default severity.
quality_severity(e) := data.kfm.params.quality.severity_by_expectation[e.type]

quality_severity(e) := data.kfm.params.quality.default_severity if {
	not data.kfm.params.quality.severity_by_expectation[e.type]
}

# METADATA
# title: Small failure
# description: A failed expectation whose unexpected share is below the warning ceiling.
quality_small(e) if {
	is_number(e.unexpected_percent)
	e.unexpected_percent < data.kfm.params.quality.warn_below_unexpected_percent
}

# METADATA
# title: Expectation failed
# description: Each failed expectation of the suite denies (below the warning ceiling: a warning).
violation contains {
	"rule": "quality.expectation_failed",
	"code": "QUALITY_EXPECTATION_FAILED",
	"msg": sprintf("%s failed on %s (%v unexpected)", [e.type, quality_where(e), e.unexpected_count]),
	"severity": quality_severity(e),
	"details": {
		"file": object.get(e, "file", null),
		"type": e.type,
		"columns": e.columns,
		"unexpected_count": e.unexpected_count,
		"unexpected_percent": e.unexpected_percent,
		"suite_id": input.evidence.quality.suite_id,
	},
} if {
	some e in input.evidence.quality.expectations
	e.success == false
	not quality_small(e)
}

# METADATA
# title: Small expectation failure
# description: Failures below warn_below_unexpected_percent are reported as warnings.
warning contains {
	"rule": "quality.expectation_failed_small",
	"code": "QUALITY_EXPECTATION_FAILED",
	"msg": sprintf("%s failed on %s (%v%% unexpected, below the warning ceiling)", [e.type, quality_where(e), e.unexpected_percent]),
	"severity": "low",
	"details": {"type": e.type, "columns": e.columns, "unexpected_percent": e.unexpected_percent},
} if {
	some e in input.evidence.quality.expectations
	e.success == false
	quality_small(e)
}

# METADATA
# title: Where an expectation applies
# description: Its columns, or "the table".
quality_where(e) := concat(", ", e.columns) if {
	count(e.columns) > 0
} else := "the table"

# METADATA
# title: Cells of the wrong type
# description: Cells that do not convert to the column type the suite declares deny.
violation contains {
	"rule": "quality.type_errors",
	"code": "QUALITY_TYPE_ERROR",
	"msg": sprintf("%s: %d cell(s) of column %s do not have the declared type", [file, n, column]),
	"severity": "high",
	"details": {"file": file, "column": column, "cells": n},
} if {
	some file, columns in input.evidence.quality.type_errors
	some column, n in columns
	n > 0
}
