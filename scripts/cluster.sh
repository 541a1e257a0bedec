#!/usr/bin/env bash
# make cluster: a whole multi-host set-up on this machine, in the foreground (docs/SCALING.md).
# Redis on 127.0.0.1:$SCE_REDIS_PORT (6379); one host for each "server" line of
# conf/haproxy-hosts.cfg (127.0.0.1:5001-5003: the instance named as the line, its own state
# directory and warm pool, its own /healthz /readyz /metrics), all writing their history to
# Redis; and the front (HAProxy) on http://127.0.0.1:5000. One Docker engine stands in for the
# hosts' own. Their files and logs are under var/cluster/. Ctrl+C stops everything it started.
# Elsewhere: SCE_FRONT_HOSTS (another hosts file), SCE_FRONT_PORT, SCE_REDIS_PORT, SCE_CLUSTER_DIR.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
# Job control: each part started in the background has a process group of its own and its
# signals at their defaults, so Ctrl+C reaches this script alone, which stops the parts in order.
set -m

install_missing
make -C "$SCE_ROOT" --no-print-directory all
docker_up
"$SCE_ROOT/scripts/build-images.sh"

dir=${SCE_CLUSTER_DIR:-$SCE_ROOT/var/cluster}
redis_port=${SCE_REDIS_PORT:-6379}
hosts_file=${SCE_FRONT_HOSTS:-$SCE_ROOT/conf/haproxy-hosts.cfg}
export SCE_FRONT_HOSTS=$hosts_file
base=$(cd "$(dirname "$SCE_CONFIG")" && pwd)/$(basename "$SCE_CONFIG")
mkdir -p "$dir/redis"

pids=()
stop() {
    trap - INT TERM EXIT
    local i
    # The front first (no new runs), then the hosts (each finishes its runs and removes its
    # containers), then Redis, then dockerd when this script started it.
    for (( i = ${#pids[@]} - 1; i >= 0; i-- )); do
        kill -TERM "${pids[$i]}" 2>/dev/null || true
        wait "${pids[$i]}" 2>/dev/null || true
    done
    docker_down
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ]; then
    # Debian's redis-server package starts one where systemd runs: use it, leave it running.
    echo "Redis on 127.0.0.1:$redis_port (already running: used as it is, not stopped)"
else
    redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$dir/redis" --appendonly yes \
        --daemonize no --loglevel warning >"$dir/redis/redis.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 50); do
        [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] && break
        sleep 0.1
    done
    [ "$(redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ] ||
        die "redis-server did not start on 127.0.0.1:$redis_port: $dir/redis/redis.log"
    echo "Redis on 127.0.0.1:$redis_port"
fi

# A path of the base config, absolute (the hosts' configs are elsewhere).
beside_base() {
    local v
    v=$(conf_value "$1" "$base"); v=${v:-$2}
    case $v in /*) echo "$v" ;; *) echo "$(dirname "$base")/$v" ;; esac
}

# Each host: the base config with its own port, instance, files, and the shared history.
source_addr=$(awk '$1 == "default-server" { for (i = 2; i < NF; i++) if ($i == "source") print $(i + 1) }' "$hosts_file")
[ -n "$source_addr" ] && [ "$(echo "$source_addr" | wc -l)" = 1 ] ||
    die "$hosts_file: give the front's source address once (default-server source ADDRESS): the hosts believe only it"
while read -r name addr; do
    port=${addr##*:}
    mkdir -p "$dir/$name"
    { cat "$base"
      printf '\n# make cluster: host %s\n' "$name"
      printf 'bind = %s\nport = %s\ninstance = %s\n' "${addr%:*}" "$port" "$name"
      printf 'history_path = %s\nstate_dir = %s\n' "$dir/$name/history.json" "$dir/$name/state"
      printf 'languages = %s\nseccomp_profile = %s\n' "$(beside_base languages languages.conf)" \
          "$(beside_base seccomp_profile seccomp.json)"
      printf 'history_backend = redis\nredis_port = %s\nfront_addresses = %s\n' "$redis_port" "$source_addr"
      # A full host answers 503 soon, so that the front tries another (docs/SCALING.md).
      printf 'queue_wait_ms = 1000\n'
    } >"$dir/$name/sce.conf"
    SCE_CONFIG=$dir/$name/sce.conf SCE_LOG=$dir/$name/programs.log SCE_SERVER=lighttpd \
        "$SCE_ROOT/scripts/serve.sh" >"$dir/$name/serve.log" 2>&1 &
    pids+=($!)
    echo "Host $name on http://$addr (log: $dir/$name/)"
done < <(awk '$1 == "server" { print $2, $3 }' "$hosts_file")

"$SCE_ROOT/scripts/front.sh" >"$dir/front.log" 2>&1 &
pids+=($!)
echo "Front on http://127.0.0.1:${SCE_FRONT_PORT:-5000} (log: $dir/front.log); Ctrl+C stops all"
wait -n "${pids[@]}"
die "a part of the cluster ended on its own: see $dir/"
