#!/usr/bin/env bash
# Builds the sandbox images (Python 3.11, Node.js 18) from Debian 12 packages with debootstrap.
# Usage: scripts/build-images.sh [--force]
# Image names come from the config file ($SCE_CONFIG, else conf/sce.conf). An image that already
# exists is left alone unless --force is given. Docker Hub is never contacted.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
mirror=${SCE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${SCE_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
cache=${SCE_DEBOOTSTRAP_CACHE:-/var/cache/apt/archives}
force=0
[ "${1:-}" = "--force" ] && force=1

build() { # image packages...
    local image=$1; shift
    if [ "$force" = 0 ] && "$DOCKER" image inspect "$image" >/dev/null 2>&1; then
        echo "image $image: present"
        return 0
    fi
    echo "image $image: building from Debian 12 packages ($*)"
    local root
    root=$(mktemp -d /var/tmp/sce-rootfs.XXXXXX)
    trap 'rm -rf "$root"' RETURN
    mkdir -p "$cache"
    debootstrap --variant=minbase --cache-dir="$cache" --include="$(IFS=,; echo "$*")" \
        bookworm "$root" "$mirror" >"$root.log" 2>&1 || { tail -n 20 "$root.log" >&2; rm -f "$root.log"; return 1; }
    rm -f "$root.log"
    # Security updates, then drop what a sandbox has no use for: setuid/setgid bits, caches, docs.
    printf 'deb %s bookworm main\ndeb %s bookworm-security main\n' "$mirror" "$security" >"$root/etc/apt/sources.list"
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        sh -c 'apt-get -q update && apt-get -q -y upgrade && apt-get clean' >"$root.log" 2>&1 ||
        { tail -n 20 "$root.log" >&2; rm -f "$root.log"; return 1; }
    rm -f "$root.log"
    find "$root" -xdev -perm /6000 -type f -exec chmod ug-s {} +
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* \
        "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/dev/* "$root"/run/* "$root"/tmp/*
    tar --numeric-owner -C "$root" -c . |
        "$DOCKER" import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'LABEL org.safe-code-executor.image=1' - "$image" >/dev/null
    echo "image $image: built"
}

[ "$(id -u)" -eq 0 ] || die "building images needs root (debootstrap)"
py=$(conf_value python_image); js=$(conf_value javascript_image)
build "${py:-sce-python:3.11}" python3
build "${js:-sce-node:18}" nodejs
