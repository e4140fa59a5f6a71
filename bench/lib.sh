# Helpers shared by bench/run.sh, bench/serve.sh and bench/depsize.sh; source
# it, do not run it.
# shellcheck shell=bash

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }

# need_tools CMD:PACKAGE... installs the Debian packages of the commands
# that are missing when running as root, and otherwise names them and fails.
need_tools() {
	local missing=() pkgs=() spec cmd pkg
	for spec in "$@"; do
		cmd=${spec%%:*} pkg=${spec#*:}
		command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ] || { missing+=("$cmd"); pkgs+=("$pkg"); }
	done
	((${#missing[@]})) || return 0
	if [ "$(id -u)" -ne 0 ]; then
		die "missing ${missing[*]}; install them (apt-get install ${pkgs[*]}) and run again"
	fi
	say "installing ${pkgs[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
}

# small_build ARGS... runs go build as the embedding measurements build
# (bench/run.sh embed, bench/depsize.sh): without paths, symbols or DWARF, the
# way a program is shipped.
small_build() { go build -trimpath -ldflags='-s -w' "$@"; }

# quiet CMD... runs CMD with its output kept aside, shown only if it fails.
quiet() {
	local log
	log=$(mktemp)
	"$@" >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; die "failed: $*"; }
	rm -f "$log"
}

# free_port prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

# start_serve BIN DIR PIDVAR URLVAR starts "BIN serve" on a free loopback
# port, its request log discarded, and sets the named variables to its pid
# and base URL once it is listening.
start_serve() {
	local bin=$1 dir=$2 ready
	ready=$(mktemp)
	"$bin" serve --repo "$dir" --addr 127.0.0.1:0 >"$ready" 2>/dev/null &
	printf -v "$3" '%s' "$!"
	for _ in $(seq 100); do
		grep -q '^serving ' "$ready" && break
		sleep 0.1
	done
	grep -q '^serving ' "$ready" || die "$bin serve did not start"
	printf -v "$4" '%s' "$(sed -n 's/^serving .* at //p' "$ready")"
	rm -f "$ready"
}

# stop_pid PID stops a process this script started and waits for it.
stop_pid() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# peak_rss_mib PID prints the peak resident set size (VmHWM) of a running
# process in MiB.
peak_rss_mib() {
	awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

# rss_parts_mib PID prints the resident set of a running process now, in
# MiB: anonymous memory (heap, stacks) and file pages (mostly the program's
# own executable), separated by a space.
rss_parts_mib() {
	awk '/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 }
		END { printf "%.1f %.1f", a / 1024, f / 1024 }' "/proc/$1/status"
}

# timed FILE CMD... runs CMD under GNU time and appends to FILE one line:
# wall seconds, CPU seconds (user + system) and peak RSS in MiB. GNU time
# takes these from wait4(2), whose rusage covers the command and every
# descendant it waited for: CPU is summed over the whole process tree, and
# the peak RSS is the largest of any single process in it (Linux keeps the
# maximum of the children's maxrss), not the sum. Output of CMD goes to
# FILE.out (the last run's). A run that fails is reported, counted in
# FILE.failed and left out of FILE, so one failure does not lose the rest.
timed() {
	local file=$1 t
	shift
	t=$(mktemp)
	if /usr/bin/time -f '%e %U %S %M' -o "$t" "$@" >"$file.out"; then
		awk '{ printf "%s %.2f %.1f\n", $1, $2 + $3, $4 / 1024 }' "$t" >>"$file"
	else
		say "FAILED: $*"
		sed 's/^/    /' "$t" >&2
		echo x >>"$file.failed"
	fi
	rm -f "$t"
}

# result FILE prints the medians of FILE's columns, as Markdown cells, and
# how many runs failed, if any.
result() {
	local cells="n/a | n/a | n/a" note=""
	[ -s "$1" ] && cells=$(medians "$1" | sed 's/ / | /g')
	[ -f "$1.failed" ] && note=" **($(wc -l <"$1.failed") of $RUNS runs FAILED)**"
	echo "$cells |$note"
}

# medians FILE prints the median of each column of FILE.
medians() {
	local cols i
	cols=$(awk 'NR == 1 { print NF }' "$1")
	for ((i = 1; i <= cols; i++)); do
		sort -g -k"$i,$i" "$1" | awk -v c="$i" '{ v[NR] = $c } END {
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s%s", m, (c == '"$cols"') ? "\n" : " " }'
	done
}

# mib FILE prints the size of FILE in MiB.
mib() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1048576 }'; }
