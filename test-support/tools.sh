#!/usr/bin/env bash
# tools.sh: the system tools the test suite runs for real (npm test's pretest; .ci/run does the same):
# pebble + pebble-challtestsrv (a local ACME CA) and openssl (checks portico's certificates). Missing ones
# are installed with apt-get when this runs as root on Debian/Ubuntu; otherwise it says what to install
# and fails: those tests never skip.
set -euo pipefail
missing=()
for c in pebble pebble-challtestsrv openssl; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
[ ${#missing[@]} -eq 0 ] && exit 0
pkgs="pebble openssl"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "tests need ${missing[*]}: apt-get install -y $pkgs" >&2
  { apt-get update && apt-get install -y $pkgs; } >/dev/null && exit 0
fi
echo "tests need ${missing[*]}: install the Debian packages '$pkgs' (apt-get install -y $pkgs), then run npm test again" >&2
exit 1
