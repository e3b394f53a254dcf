#!/usr/bin/env bash
# A private ClickHouse server for the store's integration tests.
#
#   scripts/clickhouse.sh start [DIR]   install if needed, start (or reuse) the server,
#                                       print SENTINEL_CLICKHOUSE_DSN=... on stdout
#   scripts/clickhouse.sh stop [DIR]    stop the server started from DIR
#
# DIR (default bin/.clickhouse) holds the config, data, logs and pid file, so
# the server never touches /etc/clickhouse-server or /var/lib/clickhouse and
# needs no systemd. It is hidden because the go tool's ./... skips hidden
# directories: walking the server's data as it merges parts away fails. Ports come from CLICKHOUSE_TCP_PORT (19000) and CLICKHOUSE_HTTP_PORT
# (18123); the server listens on 127.0.0.1 only. Everything but the DSN line goes
# to stderr, so a caller can take stdout whole:
#
#   dsn=$(scripts/clickhouse.sh start) && export "$dsn" && go test ./...
#
# With CLICKHOUSE_OWNER_PID set, a server this call starts stops when that
# process ends: a test binary killed or timed out runs no cleanup, and would
# leave its private server running for good.
set -euo pipefail

. "$(dirname "$0")/lib/apt.sh"

cmd=${1:-start}
dir=${2:-bin/.clickhouse}
tcp_port=${CLICKHOUSE_TCP_PORT:-19000}
http_port=${CLICKHOUSE_HTTP_PORT:-18123}
wait_seconds=${CLICKHOUSE_WAIT_SECONDS:-60}

log() { echo "clickhouse.sh: $*" >&2; }
die() {
	log "$*"
	exit 1
}

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pidfile=$dir/clickhouse.pid

answers() {
	clickhouse-client --host 127.0.0.1 --port "$tcp_port" --query 'SELECT 1' >/dev/null 2>&1
}

install() {
	if command -v clickhouse-server >/dev/null && command -v clickhouse-client >/dev/null; then
		return
	fi
	apt_install clickhouse-server clickhouse-client || die "cannot install clickhouse-server"
}

write_config() {
	mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
	# The root element is <yandex> because 18.16 knows no other; current releases
	# still accept it. The timezone is fixed so that DateTime columns mean UTC
	# whatever the machine's zone.
	cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
    <logger>
        <level>information</level>
        <log>$dir/log/clickhouse-server.log</log>
        <errorlog>$dir/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$tcp_port</tcp_port>
    <http_port>$http_port</http_port>
    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
EOF
	cat >"$dir/users.xml" <<'EOF'
<?xml version="1.0"?>
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}

log_tail() {
	for f in "$dir/log/stdout.log" "$dir/log/clickhouse-server.err.log"; do
		if [ -s "$f" ]; then
			echo "--- last lines of $f" >&2
			tail -n 40 "$f" >&2
		fi
	done
}

# watch_owner stops server pid $2 once process $1 has ended; it leaves
# when the server does (a stop). Detached like the server, for the same reason.
watch_owner() {
	setsid bash -c 'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done
		kill "$2" 2>/dev/null || true' watch_owner "$1" "$2" </dev/null >/dev/null 2>&1 &
}

start() {
	install
	if answers; then
		log "reusing the server already answering on 127.0.0.1:$tcp_port"
		echo "SENTINEL_CLICKHOUSE_DSN=clickhouse://127.0.0.1:$tcp_port/default"
		return
	fi
	if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		log "pid $(cat "$pidfile") from $pidfile is alive but not answering yet; waiting for it"
	else
		write_config
		# Fresh logs, so that a failure's tail shows this start and no other.
		rm -f "$pidfile" "$dir"/log/*
		log "starting clickhouse-server in $dir (tcp $tcp_port, http $http_port)"
		# setsid and closed standard streams detach the server from make, so a
		# caller that waits for its pipes to close (CI) is not held open by it.
		# The pid file is written here because 18.16 writes none unless it
		# daemonises itself; setsid execs in place, so $! is the server's pid.
		setsid clickhouse-server --config-file="$dir/config.xml" \
			</dev/null >"$dir/log/stdout.log" 2>&1 &
		echo $! >"$pidfile"
		if [ -n "${CLICKHOUSE_OWNER_PID:-}" ]; then
			watch_owner "$CLICKHOUSE_OWNER_PID" "$!"
		fi
	fi
	deadline=$((SECONDS + wait_seconds))
	until answers; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			log_tail
			die "clickhouse-server did not answer SELECT 1 on 127.0.0.1:$tcp_port within ${wait_seconds}s"
		fi
		if [ -s "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
			log_tail
			die "clickhouse-server exited during start-up"
		fi
		sleep 0.5
	done
	log "clickhouse-server $(clickhouse-client --host 127.0.0.1 --port "$tcp_port" --query 'SELECT version()') is up"
	echo "SENTINEL_CLICKHOUSE_DSN=clickhouse://127.0.0.1:$tcp_port/default"
}

stop() {
	if [ ! -s "$pidfile" ]; then
		log "no pid file at $pidfile: nothing to stop"
		return
	fi
	pid=$(cat "$pidfile")
	if kill "$pid" 2>/dev/null; then
		for _ in $(seq 1 60); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		if kill -0 "$pid" 2>/dev/null; then
			log "pid $pid ignored SIGTERM for 30s; killing it"
			kill -9 "$pid" 2>/dev/null || true
		fi
		log "stopped pid $pid"
	fi
	rm -f "$pidfile"
}

case $cmd in
start) start ;;
stop) stop ;;
*) die "usage: $0 start|stop [DIR]" ;;
esac
