#!/usr/bin/env bash
# The main job: `palisade demo` builds a 3-node lab of network namespaces (control-plane, worker1, worker2),
# walks no policy -> default deny -> allow by label -> named port -> ipBlock with except with real packets,
# checks every measured matrix against `analyze matrix`, and tears the lab down (root; arguments are passed
# on, e.g. --keep, --routing vxlan, --datapath iptables). Then the analyzer on the other bundled examples.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >&2
palisade() { node dist/src/cli/main.js "$@"; }

status=0
if [ "$(id -u)" = 0 ] && ip netns list >/dev/null 2>&1; then
  echo "=== palisade demo $*"
  palisade demo "$@" || status=$?
else
  echo "demo.sh: palisade demo needs root and network namespaces (run: sudo ./scripts/demo.sh)" >&2
  status=1
fi

echo
echo "=== the analyzer alone (no root): the bundled examples"
for dir in examples/*/; do
  [ "${dir}" = examples/demo/ ] && continue
  echo "=== palisade analyze matrix -f ${dir}"
  palisade analyze matrix -f "${dir}"
done
echo "=== palisade analyze explain -f examples/kr-fig2-test-network-policy/ --from default/cache --to default/db --port 6379"
palisade analyze explain -f examples/kr-fig2-test-network-policy/ --from default/cache --to default/db --port 6379
echo
echo "=== palisade analyze explain -f examples/kim-2025-fig7/ --from scenario-b/client --to scenario-b/server --port 80"
palisade analyze explain -f examples/kim-2025-fig7/ --from scenario-b/client --to scenario-b/server --port 80
exit "${status}"
