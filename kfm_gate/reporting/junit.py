"""JUnit XML: one test case per check, a failure per error finding."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from kfm_gate.audit import AuditReport


class JunitRenderer:
    format = "junit"

    def render(self, report: AuditReport) -> str:
        failures = sum(not c.passed for c in report.checks)
        suite = ET.Element(
            "testsuite",
            name="kfm-gate ci",
            tests=str(len(report.checks)),
            failures=str(failures),
            errors="0",
        )
        for c in report.checks:
            case = ET.SubElement(suite, "testcase", classname="kfm-gate.ci", name=c.name)
            for f in c.findings:
                where = f"{f.file}:{f.line}" if f.line else f.file
                tag = "failure" if f.level == "error" else "system-out"
                el = ET.SubElement(case, tag)
                if tag == "failure":
                    el.set("message", f.message)
                    el.set("type", f.rule or f.check)
                el.text = f"{where}: {f.message}" if where else f.message
        root = ET.Element("testsuites")
        root.append(suite)
        ET.indent(root)
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            + ET.tostring(root, encoding="unicode")
            + "\n"
        )
