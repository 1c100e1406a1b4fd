#!/usr/bin/env bash
# The main job: analyze every bundled example and explain one verdict of each.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >&2
palisade() { node dist/src/cli/main.js "$@"; }
for dir in examples/*/; do
  echo "=== palisade analyze matrix -f ${dir}"
  palisade analyze matrix -f "${dir}"
done
echo "=== palisade analyze explain -f examples/kr-fig2-test-network-policy/ --from default/cache --to default/db --port 6379"
palisade analyze explain -f examples/kr-fig2-test-network-policy/ --from default/cache --to default/db --port 6379
echo
echo "=== palisade analyze explain -f examples/kim-2025-fig7/ --from scenario-b/client --to scenario-b/server --port 80"
palisade analyze explain -f examples/kim-2025-fig7/ --from scenario-b/client --to scenario-b/server --port 80
