#!/usr/bin/env bash
# Re-run one run of every committed experiment and check it against its manifest.json
# (issue #5: a change that alters results must regenerate them in the same commit).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for dir in results/*/; do
    [[ -f "$dir/manifest.json" ]] || continue
    .venv/bin/gridsim reproduce "$dir" --sample 1 || status=1
done
exit $status
