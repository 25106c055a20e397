#!/usr/bin/env bash
# Installs the Debian packages that integration tests run for real: Keystone (the identity service
# the auth tests validate tokens against, run from a temporary directory by the tests themselves)
# python-zaqarclient (the reference client) and Redis (redis-server, also run as a Sentinel with
# --sentinel, and redis-cli, which forms the Redis Clusters the scale-out tests start on ports of
# their own), Chromium (headless, for the browser test of the WebSocket example page) and systemd's
# systemd-analyze (checks the packaged unit). Idempotent; needs root and Debian's apt.
#
#   scripts/install-test-peers.sh [keystone] [zaqarclient] [redis] [chromium] [systemd]   (default: all)
set -euo pipefail

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(keystone zaqarclient redis chromium systemd)

pkgs=()
for w in "${want[@]}"; do
  case "$w" in
    keystone)    pkgs+=(keystone uwsgi-core uwsgi-plugin-python3) ;;
    zaqarclient) pkgs+=(python3-zaqarclient python3-keystoneauth1 python3-websocket) ;;
    chromium)    pkgs+=(chromium) ;;
    redis)       pkgs+=(redis-server redis-tools) ;;
    systemd)     pkgs+=(systemd) ;;
    *) echo "unknown peer: $w" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "install-test-peers: not root; cannot install: ${missing[*]}" >&2
  exit 1
fi

# Debian's keystone and redis-server packages would start their own services from their postinst;
# the tests run their own instances, so service starts are refused while installing (policy-rc.d, exit 101).
policy=/usr/sbin/policy-rc.d
own_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  own_policy=true
fi
trap '$own_policy && rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
echo "install-test-peers: installed ${missing[*]}"
