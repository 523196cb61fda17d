#!/usr/bin/env bash
# tools.sh: the system tools the test suite runs for real (npm test's pretest; .ci/run does the same):
# pebble + pebble-challtestsrv (a local ACME CA), BIND + nsupdate (the RFC 2136 dns-01 hook's real
# counterpart), openssl (checks portico's certificates), redis-server and
# redis-cli (storage.redis: replicas sharing state), haproxy (an L4 balancer sending PROXY headers), chromium (the
# dashboard test looks at /status in a real headless browser, driven by playwright-core), and for the
# container tests (test/container/) podman with runc, slirp4netns, netavark/aardvark-dns, debootstrap (the
# stand-in base image), podman-compose (deploy/compose.yaml) and systemd-analyze (deploy/systemd). Missing
# ones are installed with apt-get when this runs as root on Debian/Ubuntu; otherwise it says what to install
# and fails: those tests never skip.
set -euo pipefail
declare -A pkg_of=(
  [pebble]=pebble [pebble-challtestsrv]=pebble [openssl]=openssl
  [podman]=podman [runc]=runc [slirp4netns]=slirp4netns [/usr/lib/podman/netavark]=netavark
  [/usr/lib/podman/aardvark-dns]=aardvark-dns [debootstrap]=debootstrap [podman-compose]=podman-compose
  [systemd-analyze]=systemd [flock]=util-linux [setpriv]=util-linux [/usr/bin/chromium]=chromium
  [redis-server]=redis-server [redis-cli]=redis-tools [haproxy]=haproxy
  [named]=bind9 [tsig-keygen]=bind9 [nsupdate]=bind9-dnsutils
)
missing=()
pkgs=()
for c in "${!pkg_of[@]}"; do
  if [[ "$c" == /* ]]; then [ -x "$c" ] && continue; else command -v "$c" >/dev/null 2>&1 && continue; fi
  missing+=("$c")
  [[ " ${pkgs[*]} " == *" ${pkg_of[$c]} "* ]] || pkgs+=("${pkg_of[$c]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "tests need ${missing[*]}: apt-get install -y ${pkgs[*]}" >&2
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}"; } >/dev/null && exit 0
fi
echo "tests need ${missing[*]}: install the Debian packages '${pkgs[*]}' (apt-get install -y ${pkgs[*]}), then run npm test again" >&2
exit 1
