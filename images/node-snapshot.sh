#!/bin/sh
# Setup of the Node.js image (languages.conf: setup = node-snapshot.sh), run by
# scripts/build-images.sh as root with the image's tree as $1: builds the startup snapshot of
# images/node-main.js into /usr/lib/sce/node-main.blob and checks that it runs a program.
set -eu
root=$1
here=$(dirname "$0")
install -D -m 0644 "$here/node-main.js" "$root/usr/lib/sce/node-main.js"
chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin node --snapshot-blob \
    /usr/lib/sce/node-main.blob --build-snapshot /usr/lib/sce/node-main.js
mkdir -p "$root/tmp/snapshot-check"
echo 'console.log(2+2)' >"$root/tmp/snapshot-check/main.js"
out=$(chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin sh -c \
    'cd /tmp/snapshot-check && node --snapshot-blob /usr/lib/sce/node-main.blob main.js')
rm -rf "$root/tmp/snapshot-check"
[ "$out" = 4 ] || { echo "error: the Node.js startup snapshot does not run programs ($out)" >&2; exit 1; }
