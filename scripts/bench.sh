#!/usr/bin/env bash
# make bench: installs what is missing, builds, starts Docker and the images if needed, then
# measures (bench/bench.py). A benchmark, not a test: it prints figures and asserts nothing on them.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

install_missing wrk
cd "$SCE_ROOT"
make --no-print-directory all
docker_up
trap docker_down EXIT
scripts/build-images.sh
/usr/bin/python3 bench/bench.py "$@"
