#!/usr/bin/env bash
# make test: installs what is missing, builds, runs the C unit tests (also under ASan/UBSan),
# starts Docker and the images if needed, then runs the HTTP suite against the real stack.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

install_missing
install_browser_tools
cd "$SCE_ROOT"
make --no-print-directory all
make --no-print-directory unit
make --no-print-directory unit-san
make --no-print-directory fuzz
docker_up
trap docker_down EXIT
scripts/build-images.sh
/usr/bin/python3 -m pytest -p no:cacheprovider -v tests/http
node --test tests/browser/
