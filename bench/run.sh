#!/usr/bin/env bash
# Benchmarks of safeupdate on this machine (issue 7). Prints Markdown tables
# of medians; commit this script, not its numbers.
#
#   bench/run.sh                      # everything, with the defaults below
#   SIZES="100" RUNS=5 bench/run.sh   # one payload size, five runs each
#   PARTS="embed deps" bench/run.sh   # only some parts
#   BASELINE=HEAD~1 bench/run.sh      # serve: also the repotool of that commit
#
# Parts:
#   apply  For each payload of SIZES MiB (real executables of this machine
#          plus 10% random data, published with "repotool add --sign" and
#          served by "repotool serve" on 127.0.0.1): wall time, CPU time
#          (user + system) and peak RSS of apply.Apply (bench/applybench),
#          of "curl | bzip2 -dc | sha256sum", of "lbzip2 -dc -n2 FILE |
#          sha256sum" and of "curl | lbzip2 -dc -n2 | sha256sum"; with a
#          zstd variant when "repotool add --compress zstd" exists.
#   embed  Size of a program that embeds apply against one that only
#          downloads with net/http (both -trimpath -ldflags="-s -w").
#   deps   bench/depsize.sh: what each dependency of apply adds to that.
#   delta  (not in the default PARTS) For each base of DELTA_SIZES MiB
#          (mkpayload) and its next build (mkpayload -change 1: 1% of the
#          4 KiB blocks changed), published as S.0.0 and S.1.0 with
#          "repotool add --delta-from S.0.0" (timed once): wall time, CPU
#          time and peak RSS of apply.Apply updating a copy of the base by
#          the patch, and by the full payload (-no-delta), from
#          "repotool serve" on 127.0.0.1.
#   serve  bench/serve.sh: "repotool serve" against nginx under wrk.
#
# Timings are of warm page caches (the payloads were just written) and of a
# machine that may be shared; compare numbers from one run only.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SIZES=${SIZES:-100 512}
RUNS=${RUNS:-3}
PARTS=${PARTS:-apply embed deps serve}
DELTA_SIZES=${DELTA_SIZES:-100}
export RUNS

need_tools /usr/bin/time:time curl:curl bzip2:bzip2 lbzip2:lbzip2
case " $PARTS " in *" serve "*) need_tools wrk:wrk nginx:nginx ;; esac

started=$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/safeupdate-bench.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do stop_pid "$p"; done
	rm -rf "$WORK"
}
trap cleanup EXIT

say "building into $WORK"
go build -o "$WORK/repotool" ./cmd/repotool
go build -o "$WORK/applybench" ./bench/applybench
go build -o "$WORK/mkpayload" ./bench/mkpayload
goos=$(go env GOOS) goarch=$(go env GOARCH)

echo "# safeupdate benchmarks"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(go version | cut -d' ' -f3), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- 2>/dev/null || echo ' (modified)')"

bench_apply() {
	local repo=$WORK/repo zstd=no
	quiet "$WORK/repotool" keygen --out "$WORK/keys/release" --unencrypted
	if "$WORK/repotool" add --help 2>&1 | grep -q -- '--compress'; then
		zstd=yes
		need_tools zstd:zstd
	fi
	local size
	for size in $SIZES; do
		say "payload of $size MiB: building and publishing (bzip2$([ $zstd = yes ] && echo ', zstd'))"
		"$WORK/mkpayload" -size "$size" -out "$WORK/payload-$size" /usr/bin /usr/lib /usr/libexec /usr/local
		quiet "$WORK/repotool" add "$WORK/payload-$size" --repo "$repo" --version "$size.0.0" --name app \
			--os "$goos" --arch "$goarch" --sign --key "$WORK/keys/release.key"
		if [ $zstd = yes ]; then
			quiet "$WORK/repotool" add "$WORK/payload-$size" --repo "$repo" --version "$size.1.0" --name app \
				--os "$goos" --arch "$goarch" --compress zstd --sign --key "$WORK/keys/release.key"
		fi
		rm "$WORK/payload-$size"
	done

	local pid url
	start_serve "$WORK/repotool" "$repo" pid url
	pids+=("$pid")

	local rows=() res=$WORK/res
	mkdir -p "$res"
	for size in $SIZES; do
		local rel=$size.0.0/$goos/$goarch want file zfile zrel=$size.1.0/$goos/$goarch
		file=$repo/$rel/app.bz2
		want=$(sed -n 's/^ *"hash": *"\([0-9a-f]*\)".*/\1/p' "$repo/$rel/release.json")
		zfile=$(find "$repo/$zrel" -name 'app.*' 2>/dev/null | head -1)
		for ((r = 1; r <= RUNS; r++)); do
			say "payload of $size MiB: run $r of $RUNS"
			timed "$res/$size-apply" "$WORK/applybench" -repo "$url" -pub "$WORK/keys/release.pub" \
				-version "$size.0.0" -os "$goos" -arch "$goarch" -tmp "$WORK"
			timed "$res/$size-curl-bzip2" bash -c "set -o pipefail; curl -sSf '$url/$rel/app.bz2' | bzip2 -dc | sha256sum"
			timed "$res/$size-lbzip2" bash -c "set -o pipefail; lbzip2 -dc -n2 '$file' | sha256sum"
			timed "$res/$size-curl-lbzip2" bash -c "set -o pipefail; curl -sSf '$url/$rel/app.bz2' | lbzip2 -dc -n2 | sha256sum"
			if [ -n "$zfile" ]; then
				timed "$res/$size-apply-zstd" "$WORK/applybench" -repo "$url" -pub "$WORK/keys/release.pub" \
					-version "$size.1.0" -os "$goos" -arch "$goarch" -tmp "$WORK"
				timed "$res/$size-curl-zstd" bash -c "set -o pipefail; curl -sSf '$url/$zrel/${zfile##*/}' | zstd -dc | sha256sum"
			fi
		done
		local t
		for t in curl-bzip2 lbzip2 curl-lbzip2 curl-zstd; do
			[ -s "$res/$size-$t.out" ] || continue
			[ "$(cut -d' ' -f1 "$res/$size-$t.out")" = "$want" ] || die "$t: wrong SHA-256 for $size MiB"
		done
		rows+=("| $size | $(mib "$file") | apply.Apply (bzip2) | $(result "$res/$size-apply")")
		if [ -n "$zfile" ]; then
			rows+=("| $size | $(mib "$zfile") | apply.Apply (zstd) | $(result "$res/$size-apply-zstd")")
		fi
		rows+=("| $size | $(mib "$file") | curl \\| bzip2 -dc \\| sha256sum | $(result "$res/$size-curl-bzip2")")
		rows+=("| $size | $(mib "$file") | lbzip2 -dc -n2 FILE \\| sha256sum | $(result "$res/$size-lbzip2")")
		rows+=("| $size | $(mib "$file") | curl \\| lbzip2 -dc -n2 \\| sha256sum | $(result "$res/$size-curl-lbzip2")")
		if [ -n "$zfile" ]; then
			rows+=("| $size | $(mib "$zfile") | curl \\| zstd -dc \\| sha256sum | $(result "$res/$size-curl-zstd")")
		fi
	done
	stop_pid "$pid"

	echo
	echo "## Download, decompress, verify ($RUNS runs, medians)"
	echo
	echo "zstd variant: $([ $zstd = yes ] && echo 'published with repotool add --compress zstd' || echo 'repotool add has no --compress yet: not measured')."
	echo "CPU = user + system of the whole process tree; peak RSS = largest single process"
	echo "(GNU time, from wait4 rusage). apply.Apply also writes, syncs and installs the file."
	echo
	echo "| MiB | compressed MiB | what | wall s | CPU s | peak RSS MiB |"
	echo "|---:|---:|---|---:|---:|---:|"
	printf '%s\n' "${rows[@]}"
}

bench_embed() {
	say "embedding cost: building bench/embed/*"
	local with plain diff
	small_build -o "$WORK/withapply" ./bench/embed/withapply
	small_build -o "$WORK/plainhttp" ./bench/embed/plainhttp
	with=$(stat -c %s "$WORK/withapply") plain=$(stat -c %s "$WORK/plainhttp")
	diff=$((with - plain))
	echo
	echo "## Embedding cost (go build -trimpath -ldflags=\"-s -w\", $goos/$goarch)"
	echo
	echo "| program | bytes | MB |"
	echo "|---|---:|---:|"
	echo "| bench/embed/plainhttp (net/http GET to a file) | $plain | $(awk -v b="$plain" 'BEGIN { printf "%.2f", b / 1e6 }') |"
	echo "| bench/embed/withapply (apply.Apply, pinned key) | $with | $(awk -v b="$with" 'BEGIN { printf "%.2f", b / 1e6 }') |"
	echo "| difference | $diff | $(awk -v b="$diff" 'BEGIN { printf "%.2f", b / 1e6 }') |"
	echo
	echo "Target: at most 5 MB larger: $([ "$diff" -le 5000000 ] && echo met || echo 'NOT met')."
	echo
	# Symbols keep their sizes only in an unstripped build; what a package
	# costs is the sum of its symbols', which leaves out the runtime's
	# tables (pclntab and the like), hence "at least".
	go build -trimpath -o "$WORK/withapply.sym" ./bench/embed/withapply
	go list -deps ./bench/embed/plainhttp | sort >"$WORK/plain.deps"
	go list -deps ./bench/embed/withapply | sort >"$WORK/with.deps"
	comm -13 "$WORK/plain.deps" "$WORK/with.deps" >"$WORK/extra.deps"
	echo "$(wc -l <"$WORK/extra.deps") packages come with apply and not with net/http; the largest, by"
	echo "the size of their symbols (go tool nm -size; at least this much each):"
	echo
	echo "| package | KB |"
	echo "|---|---:|"
	go tool nm -size "$WORK/withapply.sym" | awk '
		NR == FNR { extra[$0] = 1; next }
		{
			sym = $4
			sub(/^(type:|go:itab\.|go:)\*?/, "", sym)
			slash = match(sym, /\/[^\/]*$/)
			rest = slash ? substr(sym, RSTART + 1) : sym
			base = slash ? substr(sym, 1, RSTART) : ""
			dot = index(rest, ".")
			pkg = base (dot ? substr(rest, 1, dot - 1) : rest)
			if (pkg in extra) size[pkg] += $2
		}
		END { for (p in size) printf "%d %s\n", size[p], p }' "$WORK/extra.deps" - |
		sort -rn | head -15 | awk '{ printf "| %s | %.0f |\n", $2, $1 / 1000 }'
}

bench_delta() {
	local repo=$WORK/delta-repo res=$WORK/delta-res size rows=() pid url
	mkdir -p "$res"
	[ -f "$WORK/keys/release.key" ] || quiet "$WORK/repotool" keygen --out "$WORK/keys/release" --unencrypted
	for size in $DELTA_SIZES; do
		say "delta, $size MiB: building the base and its next build, publishing both"
		"$WORK/mkpayload" -size "$size" -out "$WORK/base-$size" /usr/bin /usr/lib /usr/libexec /usr/local
		"$WORK/mkpayload" -size "$size" -change 1 -out "$WORK/next-$size" /usr/bin /usr/lib /usr/libexec /usr/local
		quiet "$WORK/repotool" add "$WORK/base-$size" --repo "$repo" --version "$size.0.0" --name app \
			--os "$goos" --arch "$goarch" --sign --key "$WORK/keys/release.key"
		timed "$res/$size-add" "$WORK/repotool" add "$WORK/next-$size" --repo "$repo" --version "$size.1.0" --name app \
			--os "$goos" --arch "$goarch" --sign --key "$WORK/keys/release.key" --delta-from "$size.0.0"
		rm "$WORK/next-$size"
	done
	start_serve "$WORK/repotool" "$repo" pid url
	pids+=("$pid")
	for size in $DELTA_SIZES; do
		local dir=$repo/$size.1.0/$goos/$goarch
		for ((r = 1; r <= RUNS; r++)); do
			say "delta, $size MiB: run $r of $RUNS"
			timed "$res/$size-patch" "$WORK/applybench" -repo "$url" -pub "$WORK/keys/release.pub" \
				-version "$size.1.0" -os "$goos" -arch "$goarch" -tmp "$WORK" -base "$WORK/base-$size"
			timed "$res/$size-full" "$WORK/applybench" -repo "$url" -pub "$WORK/keys/release.pub" \
				-version "$size.1.0" -os "$goos" -arch "$goarch" -tmp "$WORK" -base "$WORK/base-$size" -no-delta
		done
		local patch payload
		patch=$(awk -v b="$(stat -c %s "$dir/app-from-$size.0.0.bsdiff")" 'BEGIN { printf "%.1f", b / 1024 }')
		payload=$(mib "$dir/app.bz2")
		rows+=("| $size | $payload | $patch | add --delta-from (compress, patch, check; once) | $(result "$res/$size-add")")
		rows+=("| $size | $payload | $patch | apply.Apply by the patch | $(result "$res/$size-patch")")
		rows+=("| $size | $payload | $patch | apply.Apply by the full payload (NoDelta) | $(result "$res/$size-full")")
		rm "$WORK/base-$size"
	done
	stop_pid "$pid"
	echo
	echo "## Delta updates: a build with 1% of its 4 KiB blocks changed ($RUNS runs, medians)"
	echo
	echo "Both apply.Apply rows update a copy of the base (copied in the timing) from 127.0.0.1."
	echo "Peak RSS bounds the anonymous memory from above (the base is read with pread, not mapped)."
	echo
	echo "| MiB | payload MiB | patch KiB | what | wall s | CPU s | peak RSS MiB |"
	echo "|---:|---:|---:|---|---:|---:|---:|"
	printf '%s\n' "${rows[@]}"
}

for part in $PARTS; do
	case $part in
	apply) bench_apply ;;
	embed) bench_embed ;;
	deps) bash bench/depsize.sh ;;
	serve) WORK=$WORK bash bench/serve.sh ;;
	delta) bench_delta ;;
	*) die "unknown part $part (want apply, embed, deps, serve or delta)" ;;
	esac
done
echo
echo "Run time: $(($(date +%s) - started)) s."
