#!/usr/bin/env bash
# "repotool serve" under load, against nginx serving the same directory
# (issue 7). Run by bench/run.sh, or alone:
#
#   bench/serve.sh                    # this tree's repotool against nginx
#   BASELINE=HEAD bench/serve.sh      # and the repotool of a commit, to
#                                     # compare a change not yet committed
#   BASELINE=HEAD BASELINE_WITH=repotool/serve.go bench/serve.sh
#                                     # and that commit with only these
#                                     # files of the tree: their effect alone
#   BEFORE=/tmp/old/repotool bench/serve.sh
#                                     # and an already built repotool,
#                                     # such as this tree before an edit
#   NGINX_LOG=1 bench/serve.sh        # nginx writes an access log to
#                                     # /dev/null too (unbuffered: one
#                                     # write(2) per request), as
#                                     # repotool serve writes its own
#   RUNS=5 DURATION=20s CONNS=64 bench/serve.sh
#
# The repository holds one signed release whose payload is 10 MiB of
# random data, so its .bz2 is about 10 MiB too. wrk (THREADS threads, CONNS
# connections, DURATION each) fetches (i) its release.json and (ii) its
# .bz2, from each server in turn, RUNS times; the tables give the medians.
# nginx runs as the current user with a generated configuration: 127.0.0.1
# only, sendfile on, 2 workers, no access log unless NGINX_LOG is set.
# repotool serve's request log goes to /dev/null (it is still formatted and
# written, in batches of up to 100 ms). Peak RSS is VmHWM, and RSS split
# into anonymous and file pages, read from /proc once all runs are done. Server CPU is user + system time from
# /proc/PID/stat (all of nginx's processes), over the requests of a run:
# on a shared machine it is steadier than requests/s.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

RUNS=${RUNS:-3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
BASELINE=${BASELINE:-}

need_tools wrk:wrk nginx:nginx curl:curl pgrep:procps
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

own_work=
if [ -z "${WORK:-}" ]; then
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/safeupdate-bench.XXXXXX")
	own_work=yes
fi
S=$WORK/serve
mkdir -p "$S"
pids=()
cleanup() {
	for p in "${pids[@]}"; do stop_pid "$p"; done
	[ -z "$own_work" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# The servers: name and binary; nginx is handled apart.
names=() bins=()
if [ -n "$BASELINE" ]; then
	say "building repotool at $BASELINE"
	mkdir -p "$S/baseline-src"
	git archive "$BASELINE" | tar -x -C "$S/baseline-src"
	(cd "$S/baseline-src" && go build -o "$S/repotool-baseline" ./cmd/repotool)
	names+=("repotool serve ($(git rev-parse --short "$BASELINE"))") bins+=("$S/repotool-baseline")
	if [ -n "${BASELINE_WITH:-}" ]; then
		mkdir -p "$S/with-src"
		git archive "$BASELINE" | tar -x -C "$S/with-src"
		for f in $BASELINE_WITH; do cp "$f" "$S/with-src/$f"; done
		(cd "$S/with-src" && go build -o "$S/repotool-with" ./cmd/repotool)
		names+=("repotool serve ($(git rev-parse --short "$BASELINE") + this tree's $BASELINE_WITH)") bins+=("$S/repotool-with")
	fi
fi
if [ -n "${BEFORE:-}" ]; then
	[ -x "$BEFORE" ] || die "BEFORE=$BEFORE is not an executable"
	names+=("repotool serve (before: $BEFORE)") bins+=("$BEFORE")
fi
go build -o "$S/repotool" ./cmd/repotool
names+=("repotool serve (this tree)") bins+=("$S/repotool")

repo=$S/repo
head -c $((10 << 20)) /dev/urandom >"$S/app"
"$S/repotool" keygen --out "$S/release" --unencrypted >/dev/null 2>&1
"$S/repotool" add "$S/app" --repo "$repo" --version 1.0.0 --name app --os linux --arch amd64 \
	--sign --key "$S/release.key" >/dev/null 2>&1
targets=("/1.0.0/linux/amd64/release.json" "/1.0.0/linux/amd64/app.bz2")

mkdir -p "$S/nginx"
nginx_port=$(free_port)
cat >"$S/nginx/nginx.conf" <<EOF
$([ "$(id -u)" -eq 0 ] && echo 'user root;')
worker_processes 2;
daemon off;
pid $S/nginx/nginx.pid;
error_log $S/nginx/error.log;
events { worker_connections 1024; }
http {
	$([ -n "${NGINX_LOG:-}" ] && echo 'access_log /dev/null;' || echo 'access_log off;')
	sendfile on;
	tcp_nopush on;
	types { application/json json; }
	default_type application/octet-stream;
	client_body_temp_path $S/nginx/body;
	proxy_temp_path $S/nginx/proxy;
	fastcgi_temp_path $S/nginx/fastcgi;
	uwsgi_temp_path $S/nginx/uwsgi;
	scgi_temp_path $S/nginx/scgi;
	server {
		listen 127.0.0.1:$nginx_port;
		root $repo;
		autoindex off;
	}
}
EOF
"$nginx_bin" -p "$S/nginx" -c "$S/nginx/nginx.conf" -e "$S/nginx/error.log" &
nginx_pid=$!
pids+=("$nginx_pid")
servers=("${names[@]}" "nginx") urls=() spids=()
for i in "${!bins[@]}"; do
	start_serve "${bins[$i]}" "$repo" pid url
	pids+=("$pid") spids+=("$pid") urls+=("$url")
done
spids+=("$nginx_pid") urls+=("http://127.0.0.1:$nginx_port")
for _ in $(seq 50); do curl -sf -o /dev/null "${urls[-1]}${targets[0]}" && break; sleep 0.1; done

# Every server must serve the same bytes before it is timed.
for u in "${urls[@]}"; do
	for t in "${targets[@]}"; do
		cmp -s <(curl -sf "$u$t") "$repo$t" || die "$u$t does not serve $repo$t"
	done
done

# wrk prints "Transfer/sec: 1.23GB"; mbps turns that into MB/s (MiB/s).
mbps() { awk '{ v = $1 + 0; u = $1; sub(/^[0-9.]+/, "", u)
	f = (u == "GB") ? 1024 : (u == "MB") ? 1 : (u == "KB") ? 1 / 1024 : 1 / 1048576
	printf "%.1f", v * f }'; }

# cpu_ticks PID... prints the user + system clock ticks the processes used.
cpu_ticks() {
	local t=0 p
	for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done
	echo "$t"
}
# server_pids SI prints the pids of server SI (nginx: master and workers).
server_pids() {
	echo "${spids[$1]}"
	[ "${spids[$1]}" != "$nginx_pid" ] || pgrep -P "$nginx_pid"
}
hz=$(getconf CLK_TCK)

say "serve: warming up"
for u in "${urls[@]}"; do
	for t in "${targets[@]}"; do wrk -t1 -c4 -d1s "$u$t" >/dev/null; done
done
for ((r = 1; r <= RUNS; r++)); do
	for ti in "${!targets[@]}"; do
		for si in "${!servers[@]}"; do
			say "serve: run $r of $RUNS, ${targets[$ti]##*/}, ${servers[$si]}"
			mapfile -t sp < <(server_pids "$si")
			c0=$(cpu_ticks "${sp[@]}")
			wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" "${urls[$si]}${targets[$ti]}" >"$S/wrk.out"
			c1=$(cpu_ticks "${sp[@]}")
			if grep -q 'Non-2xx' "$S/wrk.out"; then die "${servers[$si]} answered errors: $(cat "$S/wrk.out")"; fi
			# Timeouts and resets count against a server too: say so.
			if grep -q 'Socket errors' "$S/wrk.out"; then say "warning: ${servers[$si]}: $(grep 'Socket errors' "$S/wrk.out")"; fi
			rps=$(awk '/^Requests\/sec:/ { print $2 }' "$S/wrk.out")
			mb=$(awk '/^Transfer\/sec:/ { print $2 }' "$S/wrk.out" | mbps)
			n=$(awk '/ requests in / { print $1 }' "$S/wrk.out")
			cpu=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v n="$n" 'BEGIN { printf "%.1f", 1e6 * c / hz / n }')
			echo "$rps $mb $cpu" >>"$S/res-$ti-$si"
		done
	done
done

rss=() parts=()
for si in "${!servers[@]}"; do
	if [ "${spids[$si]}" = "$nginx_pid" ]; then
		# The master does no serving; report the largest worker.
		m=0 mp="0 0"
		for w in $(pgrep -P "$nginx_pid"); do
			if awk -v a="$m" -v b="$(peak_rss_mib "$w")" 'BEGIN { exit !(b > a) }'; then
				m=$(peak_rss_mib "$w") mp=$(rss_parts_mib "$w")
			fi
		done
		rss+=("$m (largest worker)") parts+=("$mp")
	else
		rss+=("$(peak_rss_mib "${spids[$si]}")") parts+=("$(rss_parts_mib "${spids[$si]}")")
	fi
done

echo
echo "## repotool serve against nginx (wrk -t$THREADS -c$CONNS -d$DURATION, $RUNS runs, medians)"
echo
echo "Payload: $(mib "$repo${targets[1]}") MiB .bz2; release.json: $(stat -c %s "$repo${targets[0]}") bytes."
echo "Ratio = the server's / nginx's requests per second. CPU = the server's"
echo "user + system time per request, in microseconds (median of runs)."
echo
echo "| target | server | requests/s | MB/s | ratio to nginx | server CPU µs/request |"
echo "|---|---|---:|---:|---:|---:|"
n=$((${#servers[@]} - 1))
for ti in "${!targets[@]}"; do
	read -r nrps _ < <(medians "$S/res-$ti-$n")
	for si in "${!servers[@]}"; do
		read -r rps mb cpu < <(medians "$S/res-$ti-$si")
		ratio=$(awk -v a="$rps" -v b="$nrps" 'BEGIN { printf "%.0f%%", 100 * a / b }')
		echo "| ${targets[$ti]##*/} | ${servers[$si]} | $rps | $mb | $ratio | $cpu |"
	done
done
echo
echo "Peak RSS includes the pages of the executable that were read (repotool"
echo "links the cloud SDKs); after the runs, RSS splits into anonymous memory"
echo "(heap, stacks: what serving holds) and file pages."
echo
echo "| server | peak RSS MiB (VmHWM) | after: anonymous MiB | after: file MiB |"
echo "|---|---:|---:|---:|"
for si in "${!servers[@]}"; do
	read -r anon file <<<"${parts[$si]}"
	echo "| ${servers[$si]} | ${rss[$si]} | $anon | $file |"
done
