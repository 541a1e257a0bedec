#!/usr/bin/env bash
# make test: installs what is missing, builds, runs the C unit tests (also under ASan/UBSan),
# starts Docker and the images if needed, then runs the HTTP suite against the real stack behind
# each web server (all of it behind one), and the browser tests behind each.
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
# The whole HTTP suite behind the standalone lighttpd (with it the multi-host cluster's own
# tests, test_cluster.py); behind nginx, the stock lighttpd with the drop-in and the multi-host
# front (HAProxy before a host), the part that can differ by web server (tests marked by_server:
# headers, limits, errors, origin checks, the seed's examples). The browser tests behind each.
for server in lighttpd nginx lighttpd-drop-in front; do
    select=()
    [ "$server" = lighttpd ] || select=(-m by_server)
    echo "== HTTP suite behind $server${select:+ (by_server)}"
    SCE_SERVER=$server /usr/bin/python3 -m pytest -p no:cacheprovider -v "${select[@]}" tests/http
    echo "== browser tests behind $server"
    SCE_SERVER=$server node --test tests/browser/
done
