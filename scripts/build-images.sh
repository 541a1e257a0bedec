#!/usr/bin/env bash
# Builds the sandbox images (Python 3.11, Node.js 18) from Debian 12 packages with debootstrap.
# Usage: scripts/build-images.sh [--force]
# Image names come from the config file ($SCE_CONFIG, else conf/sce.conf). An image this script
# built is rebuilt when it is older than the script's image version, or with --force; an image
# from elsewhere (python:3.11-slim...) is left alone. Docker Hub is never contacted.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
mirror=${SCE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${SCE_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
cache=${SCE_DEBOOTSTRAP_CACHE:-/var/cache/apt/archives}
force=0
[ "${1:-}" = "--force" ] && force=1
# 3: the Node.js image carries a startup snapshot (images/node-stdin.js, as of this version).
version=3
label=org.safe-code-executor.image

build() { # image setup packages... (setup: a function given the root, or :)
    local image=$1 setup=$2 present
    shift 2
    if [ "$force" = 0 ] && present=$("$DOCKER" image inspect --format \
        "{{index .Config.Labels \"$label\"}}" "$image" 2>/dev/null); then
        if [ "$present" = "$version" ] || [ -z "$present" ] || [ "$present" = "<no value>" ]; then
            echo "image $image: present"
            return 0
        fi
        echo "image $image: version $present, this script builds $version"
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
    "$setup" "$root" || return 1  # (the RETURN trap removes the tree)
    find "$root" -xdev -perm /6000 -type f -exec chmod ug-s {} +
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* \
        "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/dev/* "$root"/run/* "$root"/tmp/*
    tar --numeric-owner -C "$root" -c . |
        "$DOCKER" import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change "LABEL $label=$version" - "$image" >/dev/null
    echo "image $image: built"
}

[ "$(id -u)" -eq 0 ] || die "building images needs root (debootstrap)"
py=$(conf_value python_image); js=$(conf_value javascript_image)
# Node.js from Debian has no startup snapshot of its own: build one that runs stdin like `node -`.
node_snapshot() {
    install -D -m 0644 "$SCE_ROOT/images/node-stdin.js" "$1/usr/lib/sce/node-stdin.js" &&
        chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin node --snapshot-blob \
            /usr/lib/sce/node-stdin.blob --build-snapshot /usr/lib/sce/node-stdin.js || return 1
    echo 'console.log(2+2)' | chroot "$1" /usr/bin/env -i PATH=/usr/bin:/bin \
        node --snapshot-blob /usr/lib/sce/node-stdin.blob | grep -qx 4 ||
        { echo "error: the Node.js startup snapshot does not run programs" >&2; return 1; }
}

build "${py:-sce-python:3.11}" : python3
build "${js:-sce-node:18}" node_snapshot nodejs
