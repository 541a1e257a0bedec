#!/usr/bin/env bash
# make run: installs what is missing, builds, starts Docker and the images if needed, and serves
# in the foreground. Ctrl+C stops the service, and dockerd when this script started it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

install_missing
make -C "$SCE_ROOT" --no-print-directory all
docker_up
trap docker_down EXIT
"$SCE_ROOT/scripts/build-images.sh"
"$SCE_ROOT/scripts/serve.sh"
