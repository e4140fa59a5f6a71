#!/usr/bin/env bash
# The delta-update formats measured on real binaries (issue 15). Prints a
# Markdown table of medians; commit this script, not its numbers.
#
#   bench/delta.sh                          # all cases, RUNS=3 applies, 1 generation
#   CASES="builds" RUNS=5 bench/delta.sh    # some cases only
#   REF="" bench/delta.sh                   # without the reference bsdiff (slow: minutes)
#
# Cases (old -> new):
#   builds   go build -trimpath ./cmd/repotool at OLD_REV and at NEW_REV (a
#            few commits that change repotool and apply), each from git archive
#   shipped  the same two builds with -ldflags='-s -w' (no symbols, no DWARF)
#   dep      NEW_REV built with klauspost/compress v1.18.0 (replace
#            directive) -> NEW_REV as it is (v1.20.3): a dependency bumped
#   depshipped  the same two builds with -ldflags='-s -w'
#   exes     100 MiB of this machine's ELF executables (/usr/bin, GOROOT's
#            pkg/tool) -> the same changed in ~1% of its bytes (edits of 1-8
#            bytes at random positions: half replaced, a quarter inserted, a
#            quarter deleted)
#
# Methods: "bsdiff" is internal/bsdiff (Diff, then Patch reading old through
# ReadAt from its file, output hashed); "bsdiff 4.3" the reference
# bsdiff/bspatch (cases in REF); "zstd (klauspost)" a patch-from frame by
# klauspost/compress (SpeedBestCompression, old as raw dictionary, window
# >= old+new), applied by its decoder; "zstd -19 CLI" zstd --patch-from
# --long. "full .bz2" is the payload repotool add writes (internal/pbzip2
# Writer); its apply column is decoding it through internal/pbzip2's Reader
# and hashing it: the work of a full update once downloaded.
#
# Columns: patch bytes and % of the full .bz2; generation wall time and
# peak RSS; apply wall time, peak RSS and peak anonymous memory (RssAnon,
# which leaves out the page cache and file mappings; "-" for the CLIs).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

RUNS=${RUNS:-3}
GEN_RUNS=${GEN_RUNS:-1}
CASES=${CASES:-builds shipped dep depshipped exes}
REF=${REF-builds shipped}
OLD_REV=${OLD_REV:-6b35355}
NEW_REV=${NEW_REV:-769276e}

need_tools /usr/bin/time:time zstd:zstd bsdiff:bsdiff

WORK=$(mktemp -d "${TMPDIR:-/tmp}/safeupdate-delta.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
DB=$WORK/deltabench
go build -o "$DB" ./bench/deltabench

# median FIELD LINES...: the median of FIELD=value over the lines.
median() {
	local f=$1
	shift
	printf '%s\n' "$@" | sed -n "s/.*\b$f=\([0-9.]*\).*/\1/p" | sort -g |
		awk '{v[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'
}

# runs N CMD...: runs CMD N times, collecting its report lines in $lines.
runs() {
	local n=$1 i out
	shift
	lines=()
	for ((i = 0; i < n; i++)); do
		out=$("$@") || die "failed: $*"
		lines+=("$(tail -n1 <<<"$out")")
	done
}

# timed CMD...: runs a CLI under /usr/bin/time, reporting like deltabench.
timed() {
	/usr/bin/time -f 'time=%e rss_max_kib=%M' "$@" 2>&1 >/dev/null | tail -n1
}

mib() { awk -v k="$1" 'BEGIN { if (k == "-") print "-"; else printf "%.0f", k/1024 }'; }

# build REV OUT [GO BUILD FLAGS...] builds cmd/repotool of REV from git archive.
build() {
	local rev=$1 out=$2 src
	shift 2
	src=$WORK/src-$rev-$RANDOM
	mkdir -p "$src"
	git archive "$rev" | tar -x -C "$src"
	(cd "$src" && quiet go build -trimpath "$@" -o "$out" ./cmd/repotool)
	rm -rf "$src"
}

prepare() {
	local c=$1 d=$WORK/$1
	mkdir -p "$d"
	case $c in
	builds)
		build "$OLD_REV" "$d/old"
		build "$NEW_REV" "$d/new"
		;;
	shipped)
		build "$OLD_REV" "$d/old" -ldflags='-s -w'
		build "$NEW_REV" "$d/new" -ldflags='-s -w'
		;;
	dep | depshipped)
		local src=$WORK/src-dep flags=()
		[ "$c" = depshipped ] && flags=(-ldflags='-s -w')
		mkdir -p "$src"
		git archive "$NEW_REV" | tar -x -C "$src"
		(cd "$src" && go mod edit -replace github.com/klauspost/compress=github.com/klauspost/compress@v1.18.0 &&
			quiet env GOFLAGS=-mod=mod go build -trimpath "${flags[@]}" -o "$d/old" ./cmd/repotool)
		rm -rf "$src"
		build "$NEW_REV" "$d/new" "${flags[@]}"
		;;
	exes)
		quiet "$DB" corpus 100 "$d/old" /usr/bin "$(go env GOROOT)/pkg/tool"
		quiet "$DB" mutate 0.01 1 "$d/old" "$d/new"
		;;
	*) die "unknown case $c" ;;
	esac
}

# row CASE METHOD SIZE FULL GENLINES... -- APPLYLINES...
row() {
	local c=$1 m=$2 size=$3 full=$4 pct
	shift 4
	local gen=() app=() x
	for x in "$@"; do
		[ "$x" = -- ] && { gen=("${app[@]}"); app=(); continue; }
		app+=("$x")
	done
	pct=$(awk -v s="$size" -v f="$full" 'BEGIN { printf "%.1f%%", 100*s/f }')
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$c" "$m" "$size" "$pct" \
		"$(median time "${gen[@]}")" "$(mib "$(median rss_max_kib "${gen[@]}")")" \
		"$(median time "${app[@]}")" "$(mib "$(median rss_max_kib "${app[@]}")")" \
		"$(mib "$(median rss_anon_max_kib "${app[@]}")")"
}

same() { cmp -s "$1" "$2" || die "$3: output differs from the new file"; }

bench_case() {
	local c=$1 d=$WORK/$1 g a full size newsize
	say "case $c: preparing"
	prepare "$c"
	newsize=$(stat -c %s "$d/new")

	say "case $c: full .bz2"
	runs "$GEN_RUNS" "$DB" bz2 "$d/new" "$d/full.bz2"
	g=("${lines[@]}")
	full=$(stat -c %s "$d/full.bz2")
	runs "$RUNS" "$DB" unbz2 "$d/full.bz2"
	row "$c" "full .bz2 (repotool add)" "$full" "$full" "${g[@]}" -- "${lines[@]}"

	say "case $c: bsdiff"
	runs "$GEN_RUNS" "$DB" bsdiff "$d/old" "$d/new" "$d/p.bsdiff"
	g=("${lines[@]}")
	runs "$RUNS" "$DB" bspatch "$d/old" "$d/p.bsdiff" "$d/out" "$newsize"
	same "$d/out" "$d/new" bsdiff
	row "$c" "bsdiff (internal/bsdiff)" "$(stat -c %s "$d/p.bsdiff")" "$full" "${g[@]}" -- "${lines[@]}"

	if [[ " $REF " == *" $c "* ]]; then
		say "case $c: reference bsdiff (slow)"
		g=("$(timed bsdiff "$d/old" "$d/new" "$d/p.ref")")
		a=()
		for ((i = 0; i < RUNS; i++)); do a+=("$(timed bspatch "$d/old" "$d/out" "$d/p.ref")"); done
		same "$d/out" "$d/new" bspatch
		row "$c" "bsdiff 4.3 (reference)" "$(stat -c %s "$d/p.ref")" "$full" "${g[@]}" -- "${a[@]}"
	fi

	say "case $c: zstd (klauspost)"
	runs "$GEN_RUNS" "$DB" zdiff "$d/old" "$d/new" "$d/p.kzst"
	g=("${lines[@]}")
	runs "$RUNS" "$DB" zpatch "$d/old" "$d/p.kzst" "$d/out"
	same "$d/out" "$d/new" "zstd (klauspost)"
	row "$c" "zstd patch-from (klauspost)" "$(stat -c %s "$d/p.kzst")" "$full" "${g[@]}" -- "${lines[@]}"

	say "case $c: zstd CLI"
	local long
	long=$(awk -v n=$(($(stat -c %s "$d/old") + newsize)) 'BEGIN { l = 10; while (2^l < n) l++; print l }')
	g=("$(timed zstd -q -f -19 --long="$long" --patch-from="$d/old" "$d/new" -o "$d/p.zst")")
	a=()
	for ((i = 0; i < RUNS; i++)); do a+=("$(timed zstd -q -f -d --long="$long" --patch-from="$d/old" "$d/p.zst" -o "$d/out")"); done
	same "$d/out" "$d/new" "zstd CLI"
	row "$c" "zstd -19 --patch-from (CLI)" "$(stat -c %s "$d/p.zst")" "$full" "${g[@]}" -- "${a[@]}"
	rm -rf "$d"
}

echo "# Delta formats"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(go version | cut -d' ' -f3), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- 2>/dev/null || echo ' (modified)'); builds $OLD_REV -> $NEW_REV; medians of $RUNS applies, $GEN_RUNS generation(s)"
echo
echo "| case | method | patch bytes | % of .bz2 | gen s | gen MiB | apply s | apply MiB | apply anon MiB |"
echo "|---|---|---|---|---|---|---|---|---|"
for c in $CASES; do bench_case "$c"; done
