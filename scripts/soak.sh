#!/usr/bin/env bash
# make soak: installs what is missing, builds, starts Docker and the images if needed, then runs
# the soak under faults (tests/soak/soak.py: 15 minutes by default, dockerd restarts included).
# Not part of make test (which runs a one-minute version); SOAK_ARGS passes options, e.g.
# make soak SOAK_ARGS="--seconds 300 --server nginx".
set -euo pipefail
. "$(dirname "$0")/lib.sh"

install_missing
cd "$SCE_ROOT"
make --no-print-directory all
docker_up
trap docker_down EXIT
scripts/build-images.sh
/usr/bin/python3 tests/soak/soak.py "$@"
