#!/usr/bin/env bash
# Brings a fresh clone to a runnable state: system packages, npm dependencies, build. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the lab and the privileged tests use; installed only when missing and we are root.
need=()
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v iptables-restore >/dev/null 2>&1 || need+=(iptables)
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server) # the agent's etcd datastore tests
command -v conntrack >/dev/null 2>&1 || need+=(conntrack) # agent strict mode cuts denied connections
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins) # CNI chaining tests and bench cni
command -v haproxy >/dev/null 2>&1 || need+=(haproxy) # the node's L7 proxy (src/l7)
command -v curl >/dev/null 2>&1 || need+=(curl) # lab probe --http and lab exec examples
command -v dig >/dev/null 2>&1 || need+=(bind9-dnsutils) # DNS proxy and cluster DNS tests, lab exec dig
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${need[*]}" >&2
    (apt-get install -y -qq "${need[@]}" >/dev/null 2>&1) ||
      (apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null)
  else
    echo "setup: missing ${need[*]} (not root: the privileged lab tests will be skipped)" >&2
  fi
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
