#!/usr/bin/env bash
# Starts the FastCGI programs with spawn-fcgi for a web server that does not start them itself
# (lighttpd and nginx here; the drop-ins on a host): `spawn.sh SOCKET_DIR` removes what a previous
# run left and fills the warm pool (run.fcgi --prepare), then makes SOCKET_DIR/run.sock (a
# supervisor keeping `workers` run.fcgi processes on it, replacing one that dies) and
# SOCKET_DIR/history.sock (2 history.fcgi), and writes the supervisors' pids to SOCKET_DIR/*.pid.
# Config: $SCE_CONFIG. Programs: $SCE_PROGRAMS (default: the installed, else the built ones).
# Sockets: run as root, 0660 for the group $SCE_SOCKET_GROUP (default: the web server's,
# www-data). Run as the service's own user (spawn-fcgi can then set no group), 0666 in
# SOCKET_DIR, which must then keep others out (e.g. `install -d -o sce -g www-data -m 0750`):
# only the web server's group can reach them.
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
workers=$(conf_value workers); workers=${workers:-32}
mkdir -p -m 0750 "$dir"
if [ "$(id -u)" -eq 0 ]; then
    group=${SCE_SOCKET_GROUP:-www-data}
    getent group "$group" >/dev/null || group=$(id -gn)
    owner=(-M 0660 -G "$group")
    [ "$(getent group "$group" | cut -d: -f3)" = 0 ] && owner=(-M 0660)  # spawn-fcgi will not set gid 0
else
    # spawn-fcgi ignores -G unless it runs as root: the directory keeps others out instead.
    mode=$(stat -c %a "$dir")
    [ $((8#$mode & 8#007)) -eq 0 ] ||
        die "$dir is open to every user (mode $mode): make it 0750, group www-data (see README)"
    owner=(-M 0666)
fi
log=${SCE_LOG:-$dir/programs.log}
touch "$log" || die "cannot write the log $log"
env=(/usr/bin/env SCE_CONFIG="$SCE_CONFIG" SCE_LOG="$log" PATH=/usr/sbin:/usr/bin:/sbin:/bin)
# Containers a previous run left, and the warm pool, filled now: /readyz is true before the
# first run (a load balancer that waits for readiness would never send it).
"${env[@]}" "$programs/run.fcgi" --prepare 2>>"$log"
for spec in "run $workers" "history 2"; do
    set -- $spec
    spawn-fcgi -s "$dir/$1.sock" "${owner[@]}" -F 1 -P "$dir/$1.pid" -- "${env[@]}" \
        /bin/sh -c 'exec "$0" --workers "$1" 2>>"$SCE_LOG"' "$programs/$1.fcgi" "$2" >/dev/null
done
