#!/usr/bin/env bash
# make test: installs what is missing, builds, runs the C unit tests (also under ASan/UBSan),
# starts Docker and the images if needed, then runs the HTTP suite against the real stack behind
# each web server, and the browser tests.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

install_missing systemd  # systemd-analyze, which checks the units (systemd need not run)
install_browser_tools
cd "$SCE_ROOT"
make --no-print-directory all
make --no-print-directory unit
make --no-print-directory unit-san
make --no-print-directory fuzz
docker_up
trap docker_down EXIT
scripts/build-images.sh
# The HTTP suite behind each web server; the tests that start no web server (CGI, install,
# systemd units) run in the first pass only.
for server in lighttpd nginx lighttpd-drop-in; do
    echo "== HTTP suite behind $server"
    only_once=()
    [ "$server" = lighttpd ] ||
        only_once=(--ignore=tests/http/test_cgi.py --ignore=tests/http/test_deploy.py
            --ignore=tests/http/test_systemd.py)
    SCE_SERVER=$server /usr/bin/python3 -m pytest -p no:cacheprovider -v "${only_once[@]}" tests/http
done
node --test tests/browser/
