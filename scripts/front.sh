#!/usr/bin/env bash
# The front of a multi-host set-up in the foreground: HAProxy with conf/haproxy.cfg and the
# hosts of conf/haproxy-hosts.cfg (or of the file $SCE_FRONT_HOSTS), listening on
# $SCE_FRONT_BIND:$SCE_FRONT_PORT (default 127.0.0.1:5000). Its log goes to stderr.
# Ctrl+C or SIGTERM stops it (runs under way are cut: drain the hosts first to avoid that).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

command -v haproxy >/dev/null || die "haproxy not found (Debian package haproxy; make cluster installs it)"
export SCE_HOME=$SCE_ROOT
export SCE_FRONT_BIND=${SCE_FRONT_BIND:-127.0.0.1} SCE_FRONT_PORT=${SCE_FRONT_PORT:-5000}
hosts=${SCE_FRONT_HOSTS:-$SCE_ROOT/conf/haproxy-hosts.cfg}
haproxy -q -c -f "$SCE_ROOT/conf/haproxy.cfg" -f "$hosts" || die "the front's config does not check"
echo "Front on http://$SCE_FRONT_BIND:$SCE_FRONT_PORT, hosts from $hosts"
# -W: master-worker (SIGUSR2 reloads the hosts file); -db: foreground.
exec haproxy -W -db -f "$SCE_ROOT/conf/haproxy.cfg" -f "$hosts"
