#!/usr/bin/env bash
# Serves the service with lighttpd in the foreground until interrupted; then stops lighttpd and
# its FastCGI programs and removes any container they left.
# Config: $SCE_CONFIG (default conf/sce.conf). Needs the programs built, dockerd and the images.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

check=$("$SCE_ROOT/cgi-bin/run.fcgi" --check-config) || exit 1
history=${check#Using history file at: }
mkdir -p "$(dirname "$history")"
echo "$check"

export SCE_HOME=$SCE_ROOT SCE_CONFIG SCE_HTDOCS=${SCE_HTDOCS:-$SCE_ROOT/htdocs}
SCE_CONFIG=$(cd "$(dirname "$SCE_CONFIG")" && pwd)/$(basename "$SCE_CONFIG")
SCE_BIND=$(conf_value bind); SCE_BIND=${SCE_BIND:-127.0.0.1}
SCE_PORT=$(conf_value port); SCE_PORT=${SCE_PORT:-5000}
SCE_WORKERS=$(conf_value workers); SCE_WORKERS=${SCE_WORKERS:-4}
instance=$(conf_value instance); instance=${instance:-default}
SCE_STATE=$(mktemp -d /tmp/sce-lighttpd.XXXXXX)
export SCE_BIND SCE_PORT SCE_WORKERS SCE_STATE

lighttpd_pid=
stop() {
    trap - INT TERM EXIT
    if [ -n "$lighttpd_pid" ]; then
        # Its FastCGI programs finish what they are doing (a run, a refill) before the sweep.
        local programs p i running
        programs=$(pgrep -P "$lighttpd_pid" || true)
        kill -TERM "$lighttpd_pid" 2>/dev/null || true
        wait "$lighttpd_pid" 2>/dev/null || true
        for i in $(seq 1 150); do
            running=0
            for p in $programs; do kill -0 "$p" 2>/dev/null && running=1; done
            [ "$running" = 0 ] && break
            sleep 0.2
        done
    fi
    sweep_containers "$instance"
    rm -rf "$SCE_STATE"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Containers a previous run of the service left, and the warm pool.
"$SCE_ROOT/cgi-bin/run.fcgi" --prepare
lighttpd -tt -f "$SCE_ROOT/conf/lighttpd.conf" >/dev/null
lighttpd -D -f "$SCE_ROOT/conf/lighttpd.conf" &
lighttpd_pid=$!
echo "Running on http://$SCE_BIND:$SCE_PORT"
wait "$lighttpd_pid"
