# scripts/lib.sh - shell functions shared by the scripts (sourced, not run).

SCE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${SCE_CONFIG:-}" ]; then  # the source tree's, else the installed one
    SCE_CONFIG=$SCE_ROOT/conf/sce.conf
    [ -f "$SCE_CONFIG" ] || SCE_CONFIG=/etc/safe-code-executor/sce.conf
fi
DOCKER=${DOCKER:-/usr/bin/docker}
SCE_LABEL=org.safe-code-executor.instance

# Debian packages the project needs to build, test and run.
SCE_PACKAGES="gcc make libc6-dev clang libclang-rt-14-dev libfcgi-dev libfcgi-bin libcjson-dev
libcmocka-dev lighttpd
docker.io debootstrap python3-pytest python3-requests curl procps nginx spawn-fcgi
libhiredis-dev redis-server haproxy"

die() { echo "error: $*" >&2; exit 1; }

# The path of one of the programs (run.fcgi, history.fcgi): the source tree's, else the
# installed one (scripts in <prefix>/share/safe-code-executor, programs in <prefix>/lib/...).
sce_program() {
    local p
    for p in "$SCE_ROOT/cgi-bin/$1" "$SCE_ROOT/../../lib/safe-code-executor/$1"; do
        [ -x "$p" ] && { echo "$p"; return 0; }
    done
    die "$1 not found: build it with make"
}

# The last value of key in the config file (the programs check the file; this only reads it).
conf_value() {
    sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\\([^#]*[^#[:space:]]\\).*/\\1/p" \
        "${2:-$SCE_CONFIG}" | tail -n 1
}

# Installs the Debian packages of $SCE_PACKAGES (and any given) that are missing.
install_missing() {
    local missing=() p
    for p in $SCE_PACKAGES "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}): run as root to install them"
    echo "installing: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get -q update >/dev/null ||
        die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "${missing[@]}" \
        >/dev/null || die "apt-get install ${missing[*]} failed"
}

# Node.js and npm for the browser tests (Debian's, unless the machine has them already), Debian's
# Chromium, and playwright-core from npm (tests/browser/package-lock.json).
install_browser_tools() {
    local extra=(chromium)
    command -v node >/dev/null && command -v npm >/dev/null || extra+=(nodejs npm)
    install_missing "${extra[@]}"
    npm --prefix "$SCE_ROOT/tests/browser" ci --no-audit --no-fund --loglevel=error >/dev/null ||
        die "npm ci in tests/browser failed"
}

# Starts dockerd when no engine answers; sets SCE_STARTED_DOCKERD to its pid when it did.
SCE_STARTED_DOCKERD=
docker_up() {
    "$DOCKER" info >/dev/null 2>&1 && return 0
    [ "$(id -u)" -eq 0 ] || die "the Docker engine is not running and only root can start it"
    local log=/var/log/sce-dockerd.log i
    echo "starting dockerd (log: $log)"
    setsid dockerd >>"$log" 2>&1 </dev/null &
    SCE_STARTED_DOCKERD=$!
    for i in $(seq 1 120); do
        "$DOCKER" info >/dev/null 2>&1 && return 0
        kill -0 "$SCE_STARTED_DOCKERD" 2>/dev/null || { tail -n 20 "$log" >&2; die "dockerd exited"; }
        sleep 0.5
    done
    die "dockerd did not answer within 60 s (log: $log)"
}

# Stops dockerd if docker_up started it (the one running now: a test may have restarted it).
docker_down() {
    [ -n "$SCE_STARTED_DOCKERD" ] || return 0
    local pids i
    pids=$(pgrep -x dockerd || true)
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for i in $(seq 1 60); do
        pgrep -x dockerd >/dev/null || break
        sleep 0.5
    done
    SCE_STARTED_DOCKERD=
}
