#!/usr/bin/env bash
# Starts the FastCGI programs with spawn-fcgi for a web server that does not start them itself
# (nginx, or lighttpd with the drop-in): `spawn.sh SOCKET_DIR` makes SOCKET_DIR/run.sock
# (`workers` processes) and SOCKET_DIR/history.sock (2), writes their pids to SOCKET_DIR/*.pid.
# Config: $SCE_CONFIG. Programs: $SCE_PROGRAMS (default: the installed, else the built ones).
# Sockets are made 0660 for the group $SCE_SOCKET_GROUP (default: the web server's, www-data).
# spawn-fcgi points the programs' stderr at /dev/null: their log lines (one per run) are appended
# to $SCE_LOG instead (default: SOCKET_DIR/programs.log).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dir=${1:?usage: spawn.sh SOCKET_DIR}
programs=${SCE_PROGRAMS:-}
if [ -z "$programs" ]; then
    for p in /usr/local/lib/safe-code-executor "$SCE_ROOT/cgi-bin"; do
        [ -x "$p/run.fcgi" ] && programs=$p && break
    done
fi
[ -n "$programs" ] || die "run.fcgi not found: build it (make) or set SCE_PROGRAMS"
"$programs/run.fcgi" --check-config >/dev/null
workers=$(conf_value workers); workers=${workers:-16}
group=${SCE_SOCKET_GROUP:-www-data}
getent group "$group" >/dev/null || group=$(id -gn)
owner=(-G "$group")
[ "$(getent group "$group" | cut -d: -f3)" = 0 ] && owner=()  # spawn-fcgi will not set gid 0
mkdir -p "$dir"
log=${SCE_LOG:-$dir/programs.log}
touch "$log" || die "cannot write the log $log"
for spec in "run $workers" "history 2"; do
    set -- $spec
    spawn-fcgi -s "$dir/$1.sock" -M 0660 "${owner[@]}" -F "$2" -P "$dir/$1.pid" -- \
        /usr/bin/env SCE_CONFIG="$SCE_CONFIG" SCE_LOG="$log" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/sh -c 'exec "$0" 2>>"$SCE_LOG"' "$programs/$1.fcgi" >/dev/null
done
