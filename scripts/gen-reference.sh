#!/usr/bin/env bash
# Regenerates docs/reference.md from the schema compiled into kiln.
set -euo pipefail
cd "$(dirname "$0")/.."
kiln=${1:-build/kiln}
{
  cat <<'MD'
# Config and user-data keys

Every key kiln understands, generated from the schema compiled into kiln
(`kiln validate --schema-markdown`; regenerate with `scripts/gen-reference.sh`).
The same keys are valid in the image config (/etc/kiln/kiln.yaml, kiln.d/)
and in cloud-config user-data, except `datasource`, which only the image sets.
Unknown keys are warnings (with a suggestion); a wrong type is an error with
FILE:LINE:COL, and a run with errors changes nothing.

MD
  "$kiln" validate --schema-markdown
} > docs/reference.md
