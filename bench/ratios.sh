#!/usr/bin/env bash
# The ratios issue 18 set targets for, measured in one run on this machine
# (medians of RUNS runs), so that the next change can see them:
#
#   - apply.Apply of a plain "bzip2 -9" payload (one stream of many blocks)
#     against "lbzip2 -dc -n2 FILE | sha256sum" on the same file: <= 1.25x;
#   - apply.Apply of repotool's own bzip2 payload against the same: <= 1.0x;
#   - apply.Apply's peak RSS: <= 32 MiB, at every size;
#   - apply.Apply on one core (GOMAXPROCS=1) against compress/bzip2 alone
#     on the same file (bench/stdbzip2): never slower (<= 1.0x);
#   - "repotool add --compress zstd" against "repotool add" (bzip2), wall
#     time: <= 1.0x (and, with no target, the same for --zstd-level best).
#
#   bench/ratios.sh                      # 100 and 512 MiB, 3 runs each
#   SIZES=100 RUNS=5 bench/ratios.sh
#   SRC=/path/to/other/checkout bench/ratios.sh   # measure that code's
#        repotool and apply (the helpers are built from this checkout)
#
# Payloads are bench/mkpayload's (executables of this machine and 10%
# random data). The plain bzip2 payload is published by adding the release
# unsigned, replacing its payload with "bzip2 -9"'s and signing it with
# "repotool sign --binary". Timings are of warm page caches on a machine
# that may be shared: compare numbers from one run only.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

SIZES=${SIZES:-100 512}
RUNS=${RUNS:-3}
SRC=$(cd "${SRC:-.}" && pwd)
export RUNS

need_tools /usr/bin/time:time curl:curl bzip2:bzip2 lbzip2:lbzip2 zstd:zstd

started=$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/safeupdate-ratios.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do stop_pid "$p"; done
	rm -rf "$WORK"
}
trap cleanup EXIT

say "building into $WORK (repotool and applybench from $SRC)"
(cd "$SRC" && go build -o "$WORK/repotool" ./cmd/repotool && go build -o "$WORK/applybench" ./bench/applybench)
go build -o "$WORK/mkpayload" ./bench/mkpayload
go build -o "$WORK/stdbzip2" ./bench/stdbzip2
goos=$(go env GOOS) goarch=$(go env GOARCH)
commit=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$SRC" diff --quiet HEAD -- 2>/dev/null || commit="$commit (modified)"

# ratio A B prints A/B of two medians' first column (wall time).
ratio() { awk -v a="$(medians "$1" | cut -d' ' -f1)" -v b="$(medians "$2" | cut -d' ' -f1)" 'BEGIN { printf "%.2f", a / b }'; }
# verdict RATIO LIMIT prints "met" or "NOT met".
verdict() { awk -v r="$1" -v l="$2" 'BEGIN { print (r <= l) ? "met" : "**NOT met**" }'; }
wall() { medians "$1" | cut -d' ' -f1; }
rss() { medians "$1" | cut -d' ' -f3; }

repo=$WORK/repo res=$WORK/res
mkdir -p "$res"
quiet "$WORK/repotool" keygen --out "$WORK/keys/release" --unencrypted
key=$WORK/keys/release.key
for size in $SIZES; do
	say "payload of $size MiB: building, compressing and publishing ($RUNS times each)"
	bin=$WORK/payload-$size
	"$WORK/mkpayload" -size "$size" -out "$bin" /usr/bin /usr/lib /usr/libexec /usr/local
	# repotool's payloads; the adds are timed (--force: the same release again).
	for ((r = 1; r <= RUNS; r++)); do
		timed "$res/$size-add-bzip2" "$WORK/repotool" add "$bin" --repo "$repo" --version "$size.0.0" --name app \
			--os "$goos" --arch "$goarch" --sign --key "$key" --force
		timed "$res/$size-add-zstd" "$WORK/repotool" add "$bin" --repo "$repo" --version "$size.1.0" --name app \
			--os "$goos" --arch "$goarch" --compress zstd --sign --key "$key" --force
		timed "$res/$size-add-zstdbest" "$WORK/repotool" add "$bin" --repo "$repo" --version "$size.3.0" --name app \
			--os "$goos" --arch "$goarch" --compress zstd --zstd-level best --sign --key "$key" --force
	done
	# A plain bzip2 -9 payload.
	quiet "$WORK/repotool" add "$bin" --repo "$repo" --version "$size.2.0" --name app --os "$goos" --arch "$goarch"
	dir=$repo/$size.2.0/$goos/$goarch
	bzip2 -9c "$bin" >"$dir/app.bz2.new"
	sed -i -e "s/\"compressed_hash\": *\"[0-9a-f]*\"/\"compressed_hash\": \"$(sha256sum <"$dir/app.bz2.new" | cut -d' ' -f1)\"/" \
		-e "s/\"compressed_size\": *[0-9]*/\"compressed_size\": $(stat -c %s "$dir/app.bz2.new")/" "$dir/release.json"
	mv "$dir/app.bz2.new" "$dir/app.bz2"
	quiet "$WORK/repotool" sign --repo "$repo" --version "$size.2.0" --os "$goos" --arch "$goarch" --binary "$bin" --key "$key"
	rm "$bin"
done

start_serve "$WORK/repotool" "$repo" pid url
pids+=("$pid")

apply_() { timed "$1" "$WORK/applybench" -repo "$url" -pub "$WORK/keys/release.pub" -version "$2" -os "$goos" -arch "$goarch" -tmp "$WORK"; }
rows=()
for size in $SIZES; do
	own=$repo/$size.0.0/$goos/$goarch/app.bz2 plain=$repo/$size.2.0/$goos/$goarch/app.bz2
	want=$(sed -n 's/^ *"hash": *"\([0-9a-f]*\)".*/\1/p' "$repo/$size.0.0/$goos/$goarch/release.json")
	for ((r = 1; r <= RUNS; r++)); do
		say "payload of $size MiB: run $r of $RUNS"
		for kind in own plain; do
			file=$own version=$size.0.0
			[ $kind = plain ] && file=$plain version=$size.2.0
			apply_ "$res/$size-$kind-apply" "$version"
			GOMAXPROCS=1 apply_ "$res/$size-$kind-apply1" "$version"
			timed "$res/$size-$kind-lbzip2" bash -c "set -o pipefail; lbzip2 -dc -n2 '$file' | sha256sum"
			timed "$res/$size-$kind-std" "$WORK/stdbzip2" "$file"
		done
	done
	for t in own-lbzip2 own-std plain-lbzip2 plain-std; do
		[ "$(cut -d' ' -f1 "$res/$size-$t.out")" = "$want" ] || die "$t: wrong SHA-256 for $size MiB"
	done
	for kind in own plain; do
		lim=1.0 name="repotool's bzip2 payload"
		[ $kind = plain ] && lim=1.25 name='plain `bzip2 -9` payload'
		r=$(ratio "$res/$size-$kind-apply" "$res/$size-$kind-lbzip2")
		rows+=("| $size | apply, $name / lbzip2 -dc -n2 \\| sha256sum | $(wall "$res/$size-$kind-apply") s / $(wall "$res/$size-$kind-lbzip2") s | $r | <= $lim: $(verdict "$r" "$lim") |")
	done
	for kind in own plain; do
		r=$(ratio "$res/$size-$kind-apply1" "$res/$size-$kind-std")
		rows+=("| $size | GOMAXPROCS=1 apply / compress/bzip2 alone ($kind payload) | $(wall "$res/$size-$kind-apply1") s / $(wall "$res/$size-$kind-std") s | $r | <= 1.0: $(verdict "$r" 1.0) |")
	done
	for kind in own plain; do
		m=$(rss "$res/$size-$kind-apply")
		rows+=("| $size | apply peak RSS, MiB ($kind payload) | $m | | <= 32: $(verdict "$m" 32) |")
	done
	r=$(ratio "$res/$size-add-zstd" "$res/$size-add-bzip2")
	rows+=("| $size | repotool add --compress zstd / add (bzip2), wall | $(wall "$res/$size-add-zstd") s / $(wall "$res/$size-add-bzip2") s | $r | <= 1.0: $(verdict "$r" 1.0) |")
	r=$(ratio "$res/$size-add-zstdbest" "$res/$size-add-bzip2")
	rows+=("| $size | repotool add --compress zstd --zstd-level best / add (bzip2), wall | $(wall "$res/$size-add-zstdbest") s / $(wall "$res/$size-add-bzip2") s | $r | (none: the smaller payload, for about bzip2's time) |")
	rows+=("| $size | payload MiB: repotool bzip2 / bzip2 -9 / zstd / zstd best | $(mib "$own") / $(mib "$plain") / $(mib "$(find "$repo/$size.1.0" -name 'app.zst')") / $(mib "$(find "$repo/$size.3.0" -name 'app.zst')") | | |")
done
stop_pid "$pid"

echo "## Issue 18 ratios ($RUNS runs, medians)"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(go version | cut -d' ' -f3), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), commit $commit"
echo
echo "| MiB | what | medians | ratio | target |"
echo "|---:|---|---|---:|---|"
printf '%s\n' "${rows[@]}"
echo
echo "Run time: $(($(date +%s) - started)) s."
