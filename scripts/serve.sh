#!/usr/bin/env bash
# Serves the service in the foreground until interrupted; then stops the web server and the
# FastCGI programs and removes any container they left.
# Config: $SCE_CONFIG (default conf/sce.conf). Needs the programs built, dockerd and the images.
# SCE_SERVER chooses the web server:
#   lighttpd          (default) conf/lighttpd.conf
#   nginx             conf/nginx.conf with the nginx drop-in
#   lighttpd-drop-in  this host's stock /etc/lighttpd/lighttpd.conf (moved to a loopback port and
#                     private files) with the lighttpd drop-in
#   front             the standalone lighttpd as the one host behind the front (HAProxy,
#                     scripts/front.sh) on $SCE_FRONT_BIND:$SCE_FRONT_PORT; the config's
#                     front_addresses must hold the front's source address, $SCE_FRONT_SOURCE
#                     (default 127.0.0.2)
# The programs run under spawn-fcgi (scripts/spawn.sh) for each; their log lines go to the file
# $SCE_LOG, or are echoed here.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

server=${SCE_SERVER:-lighttpd}
case $server in
    lighttpd | nginx | lighttpd-drop-in | front) ;;
    *) die "SCE_SERVER=$server: use lighttpd, nginx, lighttpd-drop-in or front" ;;
esac

check=$("$SCE_ROOT/cgi-bin/run.fcgi" --check-config) || exit 1
history=${check#Using history file at: }
mkdir -p "$(dirname "$history")"
echo "$check"

export SCE_HOME=$SCE_ROOT SCE_CONFIG SCE_HTDOCS=${SCE_HTDOCS:-$SCE_ROOT/htdocs}
SCE_CONFIG=$(cd "$(dirname "$SCE_CONFIG")" && pwd)/$(basename "$SCE_CONFIG")
SCE_BIND=$(conf_value bind); SCE_BIND=${SCE_BIND:-127.0.0.1}
SCE_PORT=$(conf_value port); SCE_PORT=${SCE_PORT:-5000}
instance=$(conf_value instance); instance=${instance:-default}
SCE_STATE=$(mktemp -d /tmp/sce-server.XXXXXX)
export SCE_BIND SCE_PORT SCE_STATE

server_pid=
front_pid=
tail_pid=
programs=
stop() {
    trap - INT TERM EXIT
    if [ -n "$front_pid" ]; then
        kill -TERM "$front_pid" 2>/dev/null || true
        wait "$front_pid" 2>/dev/null || true
    fi
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    # The programs finish what they are doing (a run, a refill) before the sweep: each
    # supervisor lets its workers end their requests.
    local p i running
    # shellcheck disable=SC2086
    [ -n "$programs" ] && { kill -TERM $programs 2>/dev/null || true; }
    for i in $(seq 1 150); do
        running=0
        for p in $programs; do
            [ -d "/proc/$p" ] && [ "$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null)" != Z ] && running=1
        done
        [ "$running" = 0 ] && break
        sleep 0.2
    done
    [ -n "$tail_pid" ] && { kill "$tail_pid" 2>/dev/null || true; }
    "$SCE_ROOT/cgi-bin/run.fcgi" --cleanup  # the instance's containers and their records
    rm -rf "$SCE_STATE"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The drop-in for the chosen server, pointed at this tree and the private socket directory.
drop_in() {
    sed -e "s|/run/safe-code-executor|$SCE_STATE/sock|g" \
        -e "s|/usr/local/share/safe-code-executor/htdocs|$SCE_HTDOCS|g" "$SCE_ROOT/conf/deploy/$1"
}

# The programs under spawn-fcgi; their log is echoed here unless SCE_LOG names a file.
spawn_programs() {
    if [ -z "${SCE_LOG:-}" ]; then
        export SCE_LOG=$SCE_STATE/programs.log
        touch "$SCE_LOG"
        tail -n 0 -s 0.2 -F "$SCE_LOG" 2>/dev/null &
        tail_pid=$!
    fi
    SCE_PROGRAMS=$SCE_ROOT/cgi-bin SCE_SOCKET_GROUP=$(id -gn) "$SCE_ROOT/scripts/spawn.sh" "$SCE_STATE/sock"
    programs=$(for f in "$SCE_STATE"/sock/*.pid; do cat "$f"; echo; done)  # no final newline
}

case $server in
lighttpd | front)
    lighttpd -tt -f "$SCE_ROOT/conf/lighttpd.conf" >/dev/null
    spawn_programs
    # In a process group of its own: Ctrl+C reaches this script, which stops lighttpd gracefully.
    setsid lighttpd -D -f "$SCE_ROOT/conf/lighttpd.conf" &
    server_pid=$!
    ;;
nginx)
    drop_in nginx-safe-code-executor.conf >"$SCE_STATE/safe-code-executor.conf"
    cp /etc/nginx/fastcgi_params "$SCE_STATE/"  # Debian's, which the drop-in includes
    sed -e "s|@STATE@|$SCE_STATE|g" -e "s|@BIND@|$SCE_BIND|g" -e "s|@PORT@|$SCE_PORT|g" \
        -e "s|@HTDOCS@|$SCE_HTDOCS|g" "$SCE_ROOT/conf/nginx.conf" >"$SCE_STATE/nginx.conf"
    # nginx started as root runs its workers as nobody, who cannot enter the private directory.
    [ "$(id -u)" -eq 0 ] && sed -i '1i user root root;' "$SCE_STATE/nginx.conf"
    nginx -t -q -e stderr -p "$SCE_STATE" -c "$SCE_STATE/nginx.conf"
    spawn_programs
    nginx -e stderr -p "$SCE_STATE" -c "$SCE_STATE/nginx.conf" -g 'daemon off;' &
    server_pid=$!
    ;;
lighttpd-drop-in)
    stock=/etc/lighttpd/lighttpd.conf
    [ -f "$stock" ] || die "$stock not found (Debian's lighttpd package installs it)"
    mkdir -p "$SCE_STATE/conf-enabled" "$SCE_STATE/www"
    drop_in lighttpd-safe-code-executor.conf >"$SCE_STATE/conf-enabled/50-safe-code-executor.conf"
    # The host's own settings stay; only where it listens and writes is moved.
    sed -e "s|\"/etc/lighttpd/conf-enabled/\*.conf\"|\"$SCE_STATE/conf-enabled/*.conf\"|" \
        -e "s|^server.port .*|server.port = $SCE_PORT\nserver.bind = \"$SCE_BIND\"|" \
        -e "s|\"/var/log/lighttpd/error.log\"|\"/dev/stderr\"|" \
        -e "s|\"/run/lighttpd.pid\"|\"$SCE_STATE/lighttpd.pid\"|" \
        -e "s|\"/var/www/html\"|\"$SCE_STATE/www\"|" \
        -e "s|\"/var/cache/lighttpd/uploads\"|\"$SCE_STATE\"|" \
        -e '/^server.username/d' -e '/^server.groupname/d' -e '/use-ipv6.pl/d' \
        "$stock" >"$SCE_STATE/lighttpd.conf"
    lighttpd -tt -f "$SCE_STATE/lighttpd.conf" >/dev/null
    spawn_programs
    lighttpd -D -f "$SCE_STATE/lighttpd.conf" &
    server_pid=$!
    ;;
esac
if [ "$server" = front ]; then
    [ "${SCE_FRONT_BIND:-127.0.0.1}:${SCE_FRONT_PORT:-5000}" != "$SCE_BIND:$SCE_PORT" ] ||
        die "the front and the host would both listen on $SCE_BIND:$SCE_PORT: set the host's bind (127.0.0.3) or SCE_FRONT_PORT"
    source_addr=${SCE_FRONT_SOURCE:-127.0.0.2}
    front_addresses=$(conf_value front_addresses)
    case " $front_addresses " in
        *" $source_addr "*) ;;
        *) die "front_addresses in $SCE_CONFIG must hold $source_addr, the front's source address" ;;
    esac
    printf 'backend hosts\n    default-server source %s\n    server host %s:%s\n' \
        "$source_addr" "$SCE_BIND" "$SCE_PORT" >"$SCE_STATE/hosts.cfg"
    # In a process group of its own (job control on for this one start), as lighttpd: Ctrl+C
    # reaches this script, which stops the front; a background job of a script would also
    # start with SIGINT ignored, which HAProxy's worker keeps.
    set -m
    SCE_FRONT_HOSTS=$SCE_STATE/hosts.cfg "$SCE_ROOT/scripts/front.sh" &
    front_pid=$!
    set +m
    echo "Host on http://$SCE_BIND:$SCE_PORT"
    wait -n "$server_pid" "$front_pid"
    exit 1  # one of them ended on its own
fi
echo "Running on http://$SCE_BIND:$SCE_PORT"
wait "$server_pid"
