#!/usr/bin/env bash
# Installs the traffic tools `palisade bench datapath` drives (Debian packages): iperf3 (throughput),
# nginx-light (the HTTP server), apache2-utils (ab), hey (new-connection rate, fixed-rate latency) and wrk
# (requests/s at saturation, `palisade bench l7`). Idempotent.
# `--check` only reports what is missing (exit 1 if anything is), so the verb can explain what to run.
set -euo pipefail

declare -A pkg_of=([iperf3]=iperf3 [nginx]=nginx-light [ab]=apache2-utils [hey]=hey [wrk]=wrk)
missing=()
for tool in iperf3 nginx ab hey wrk; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg_of[$tool]}")
done

if [ "${1:-}" = "--check" ]; then
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "missing: ${missing[*]}"
    exit 1
  fi
  exit 0
fi
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "bench-setup: need root and apt-get to install ${missing[*]}" >&2
  exit 1
fi

# Installing nginx would start the distribution's nginx on port 80 of the root netns; the benchmark runs
# its own nginx inside a pod netns, so service starts are refused while we install (policy-rc.d, exit 101),
# and the guard is removed again only if we created it.
guard=/usr/sbin/policy-rc.d
made_guard=0
if [ ! -e "$guard" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$guard"
  chmod 755 "$guard"
  made_guard=1
fi
trap '[ "$made_guard" = 1 ] && rm -f "$guard"' EXIT
echo "bench-setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
(apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1) ||
  (apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null)
