#!/usr/bin/env bash
# Builds the sandbox image of every language in the table (languages.conf, as the config names
# it: $SCE_CONFIG, else conf/sce.conf) from Debian 12 packages with debootstrap: its "packages",
# then its "setup" script from images/. Docker Hub is never contacted.
# Usage: scripts/build-images.sh [--force | --dry-run]
# Each image carries the hash of its recipe (the packages, the setup script and the files of
# images/ it names, this script's build steps) as a label: an image whose label differs from its
# entry's recipe is rebuilt, one that matches is left as it is, and an image built elsewhere
# (python:3.11-slim..., without the label) is used as it is. --force rebuilds every image;
# --dry-run only says what would be built.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
mirror=${SCE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${SCE_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
cache=${SCE_DEBOOTSTRAP_CACHE:-/var/cache/apt/archives}
force=0 dry=0
case "${1:-}" in
--force) force=1 ;;
--dry-run) dry=1 ;;
"") ;;
*) die "usage: $0 [--force | --dry-run]" ;;
esac
recipe_label=org.safe-code-executor.recipe
version_label=org.safe-code-executor.version
old_label=org.safe-code-executor.image  # the hand-bumped version number of earlier releases

# A root file system for an image: debootstrap, security updates, the setup script,
# /usr/lib/sce/attach (images/attach.c: the two ends of a pre-started interpreter), then what a
# sandbox has no use for dropped (setuid/setgid bits, caches, docs).
make_tree() { # root setup packages...
    local root=$1 setup=$2
    shift 2
    debootstrap --variant=minbase --cache-dir="$cache" --include="$(IFS=,; echo "$*")" \
        bookworm "$root" "$mirror" >"$root.log" 2>&1 || { tail -n 20 "$root.log" >&2; return 1; }
    printf 'deb %s bookworm main\ndeb %s bookworm-security main\n' "$mirror" "$security" >"$root/etc/apt/sources.list"
    chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
        sh -c 'apt-get -q update && apt-get -q -y upgrade && apt-get clean' >"$root.log" 2>&1 ||
        { tail -n 20 "$root.log" >&2; return 1; }
    if [ "$setup" != - ]; then
        "$SCE_ROOT/images/$setup" "$root" || { echo "error: images/$setup failed" >&2; return 1; }
    fi
    make -C "$SCE_ROOT" --no-print-directory build/attach
    install -D -m 0755 "$SCE_ROOT/build/attach" "$root/usr/lib/sce/attach"
    find "$root" -xdev -perm /6000 -type f -exec chmod ug-s {} +
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/usr/share/doc/* \
        "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/dev/* "$root"/run/* "$root"/tmp/*
}

# The recipe of an image, hashed: this script's build steps, the packages, images/attach.c, the
# setup script and the files of images/ it names.
recipe() { # setup packages
    local setup=$1 packages=$2 f
    {
        declare -f make_tree
        echo "$mirror $packages"
        cat "$SCE_ROOT/images/attach.c"
        if [ "$setup" != - ]; then
            cat "$SCE_ROOT/images/$setup"
            for f in "$SCE_ROOT"/images/*; do
                if [ "$(basename "$f")" != "$setup" ] &&
                    grep -qF "$(basename "$f")" "$SCE_ROOT/images/$setup"; then
                    cat "$f"
                fi
            done
        fi
    } | sha256sum | cut -c1-16
}

build() { # image setup version-command packages...
    local image=$1 setup=$2 version_cmd=$3 packages=$4 hash present old root version
    hash=$(recipe "$setup" "$packages")
    if [ "$force" = 0 ] && present=$("$DOCKER" image inspect --format \
        "{{index .Config.Labels \"$recipe_label\"}} {{index .Config.Labels \"$old_label\"}}" \
        "$image" 2>/dev/null); then
        read -r present old <<<"${present//<no value>/}"
        if [ "$present" = "$hash" ]; then
            echo "image $image: present (recipe $hash)"
            return 0
        fi
        if [ -z "$present" ] && [ -z "$old" ]; then
            echo "image $image: present, built elsewhere: used as it is"
            return 0
        fi
        [ "$dry" = 1 ] && { echo "image $image: its recipe changed: would rebuild"; return 0; }
        echo "image $image: its recipe changed: rebuilding"
    fi
    [ "$dry" = 1 ] && { echo "image $image: missing: would build"; return 0; }
    echo "image $image: building from Debian 12 packages ($packages)"
    root=$(mktemp -d /var/tmp/sce-rootfs.XXXXXX)
    mkdir -p "$cache"
    # shellcheck disable=SC2086
    if ! make_tree "$root" "$setup" $packages; then
        rm -rf "$root" "$root.log"
        return 1
    fi
    version=$(chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin sh -c "$version_cmd" 2>&1 |
        grep -oE '[0-9]+(\.[0-9]+)+' | head -n 1 || true)
    [ -n "$version" ] || echo "warning: image $image: \"$version_cmd\" printed no version" >&2
    tar --numeric-owner -C "$root" -c . |
        "$DOCKER" import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change "LABEL $recipe_label=$hash" --change "LABEL $version_label=$version" \
            - "$image" >/dev/null
    rm -rf "$root" "$root.log"
    echo "image $image: built (version ${version:-unknown}, recipe $hash)"
}

[ "$(id -u)" -eq 0 ] || [ "$dry" = 1 ] || die "building images needs root (debootstrap)"
table=$(SCE_CONFIG=$SCE_CONFIG "$(sce_program run.fcgi)" --languages) || die "cannot read the table of languages"
declare -A built=()
while IFS=$'\t' read -r -u 3 name image packages setup version_cmd; do
    [ -n "$packages" ] || die "language $name: no packages to build its image $image from"
    key="$setup|$packages|$version_cmd"
    if [ -n "${built[$image]:-}" ]; then
        [ "${built[$image]}" = "$key" ] ||
            die "image $image is named by two languages with different recipes ($name is one)"
        continue
    fi
    built[$image]=$key
    build "$image" "$setup" "$version_cmd" "$packages"
done 3<<<"$table"
