#!/usr/bin/env bash
# The test command (README, .ci/run): installs what it needs, then lint, unit tests and — as root with
# network namespaces available — the privileged lab tests.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
npm run --silent lint
npm run --silent test:unit
if [ -n "$(find dist/test -name "*.netns.test.js" | head -1)" ]; then
  if [ "$(id -u)" = 0 ] && ip netns list >/dev/null 2>&1; then
    # The benchmark's smoke test drives iperf3, nginx and ab; install them (service starts suppressed).
    ./scripts/bench-setup.sh || echo "bench tools could not be installed: the bench smoke test will skip" >&2
    npm run --silent test:netns
  else
    echo "skipping the privileged lab tests: they need root and network namespaces" >&2
  fi
fi
