#!/bin/bash
# smoke.sh — the harness's own proof only (test_harness.py, test_smoke.py): run.sh with those two files.
# The scenarios are run by run.sh (all e2e tests); see docs/e2e.md.
exec env KILN_E2E_TESTS="test_harness.py test_smoke.py" "$(dirname "${BASH_SOURCE[0]}")/run.sh" "$@"
