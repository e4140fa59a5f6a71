#!/usr/bin/env bash
# What each dependency of package apply costs a program in size (issue 14).
#
#   bench/depsize.sh           # the table: 20 builds, 30 s (2 min cold cache)
#   bench/depsize.sh --check   # only the budget: two builds, fails when over
#   BUDGET_MIB=10 bench/depsize.sh --check
#
# Every program is built like bench/run.sh's embed part builds them (lib.sh's
# small_build: -trimpath -ldflags="-s -w"): the baseline bench/embed/plainhttp
# (one net/http GET, standard library only) and bench/embed/withapply (one
# apply.Apply call). The programs this script generates are written into a
# directory inside the module, so that they build with its go.mod and may
# import its internal packages, and removed on exit.
#
# Method, and why. A row's size is not "a program importing only this
# package set", because the big shared parts (protobuf, encoding/json,
# regexp) would then be counted in every row that uses them and the rows
# would add up to far more than apply costs; nor "apply minus this set",
# which cannot be built without editing apply. Instead the rows are built
# cumulatively, in dependency order (a row comes after the rows it imports):
# row N's program is the baseline plus the packages of rows 1..N, each
# blank-imported (for its init) and with a reference to every exported
# function and method of it that the real apply program links (read from
# that program's symbol table with go tool nm). The linker thus keeps what
# apply keeps of those packages, and no more. A row's size is what its
# program adds to the previous row's: what the set costs beyond the rows
# above it, including the standard-library code it is the first to need.
# The rows add up exactly to apply minus baseline; the last row, apply
# itself, also holds what of the other packages only apply's own code
# reaches (generic code it instantiates, methods called through an
# interface). "Overreach" below the table checks the method: apply built
# with every reference added should be larger only by the references' own
# bytes.
#
# The budget (--check): the apply program measured 8.9 MiB with go1.26
# linux/amd64 (baseline 5.6 MiB); BUDGET_MIB leaves room for Go releases,
# not for a new heavy dependency. Raising it is a decision to justify in
# the commit that does it.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

BUDGET_MIB=${BUDGET_MIB:-9.5}
MOD=github.com/safeupdate/safeupdate

# Rows in dependency order: "label|extended regexp of import paths". Each
# dependency of apply falls in the first row whose pattern it matches; those
# matching none are reported in a row of their own, before the project's
# packages, so a new dependency shows up instead of hiding in apply's row.
ROWS=(
	'golang.org/x/sys, x/term|^golang\.org/x/(sys|term)(/|$)'
	'golang.org/x/crypto|^golang\.org/x/crypto/'
	'internal/limits, strictjson|^'"$MOD"'/internal/(limits|strictjson)$'
	'internal/platform (reads ELF, Mach-O, PE headers)|^'"$MOD"'/internal/platform$'
	'klauspost/compress (zstd decoder)|^github\.com/klauspost/compress(/|$)'
	'internal/pbzip2 (bzip2 decoder)|^'"$MOD"'/internal/pbzip2$'
	'internal/payload|^'"$MOD"'/internal/payload$'
	'protobuf, genproto, sigstore/protobuf-specs|^(google\.golang\.org/(protobuf|genproto)|github\.com/sigstore/protobuf-specs)/'
	'go-containerregistry/pkg/name, go-digest|^github\.com/(google/go-containerregistry|opencontainers/go-digest)(/|$)'
	'youmark/pkcs8, securesystemslib/encrypted|^github\.com/(youmark/pkcs8|secure-systems-lab/go-securesystemslib/encrypted)$'
	'sigstore/sigstore (signature, cryptoutils)|^github\.com/sigstore/sigstore/'
	'go-tuf/v2 metadata, securesystemslib/cjson|^github\.com/(theupdateframework/go-tuf/v2|secure-systems-lab/go-securesystemslib/cjson)(/|$)'
	'filippo.io/age, hpke|^filippo\.io/(age|hpke)(/|$)'
	'@other'
	'keys|^'"$MOD"'/keys$'
	'trust|^'"$MOD"'/trust$'
	'release|^'"$MOD"'/release$'
	'channel|^'"$MOD"'/channel$'
)

mode=table
case "${1-}" in
--check) mode=check ;;
"") ;;
*) die "usage: bench/depsize.sh [--check]" ;;
esac

# Under bench/ with a leading underscore: inside the module, and skipped by
# ./... patterns should a killed run leave it behind.
TMP=$(mktemp -d bench/_depsize.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

kib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1024 }'; }
mibs() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }
size() { stat -c %s "$1"; }

say "depsize: building the baseline and the apply program"
small_build -o "$TMP/baseline" ./bench/embed/plainhttp
small_build -o "$TMP/apply" ./bench/embed/withapply
base=$(size "$TMP/baseline") with=$(size "$TMP/apply")
delta=$((with - base))
budget=$(awk -v m="$BUDGET_MIB" 'BEGIN { printf "%d", m * 1048576 }')
platform="$(go version | cut -d' ' -f3) $(go env GOOS)/$(go env GOARCH), CGO_ENABLED=$(go env CGO_ENABLED)"

if [ $mode = check ]; then
	echo "apply program $(mibs "$with") MiB (budget $BUDGET_MIB MiB), baseline $(mibs "$base") MiB, apply adds $(mibs "$delta") MiB; $platform"
	if [ "$with" -gt "$budget" ]; then
		say "depsize: the apply program is over its budget of $BUDGET_MIB MiB: see which dependency grew with bench/depsize.sh (if the baseline grew as much, it is the Go release)"
		exit 1
	fi
	exit 0
fi

# The dependencies to measure: apply's, outside the standard library.
go list -deps -f '{{if not .Standard}}{{.ImportPath}} {{.Module.Path}}{{end}}' ./bench/embed/withapply |
	awk -v mod="$MOD" '$1 != mod "/apply" && $1 != mod "/bench/embed/withapply"' >"$TMP/deps"

# row-of.txt: "row-index package module" for every dependency; rows that
# match no dependency are dropped, with a note.
other=-1 n=0
for row in "${ROWS[@]}"; do
	[ "$row" = @other ] && other=$n
	n=$((n + 1))
done
awk -v other="$other" '
	NR == FNR { pat[FNR - 1] = $0; rows = FNR; next }
	{
		for (i = 0; i < rows; i++)
			if (pat[i] != "@other" && $1 ~ pat[i]) { print i, $0; next }
		print other, $0
	}' <(for row in "${ROWS[@]}"; do echo "${row#*|}"; done) "$TMP/deps" | sort -k1,1n -k2 >"$TMP/row-of.txt"

# refs.txt: "package expression" for each exported function and method of a
# dependency that the apply program links, as Go source with the package
# written as @: "F" is @.F, "(*T).M" is (*@.T).M, "T.M" is @.T.M. Symbol
# names escape dots in a path's last element as %2e. Generic code (names
# with [...]), closures, wrappers and unexported names do not match and are
# reached, if at all, through what does.
say "depsize: reading the apply program's symbols"
go build -trimpath -o "$TMP/apply.sym" ./bench/embed/withapply
go tool nm -size "$TMP/apply.sym" | awk '
	NR == FNR {
		path = $2; esc = path
		if (match(esc, /[^\/]*$/)) {
			last = substr(esc, RSTART); gsub(/\./, "%2e", last)
			esc = substr(esc, 1, RSTART - 1) last
		}
		pkg[esc] = path
		next
	}
	NF == 4 && $3 == "T" {
		sym = $4
		if (!match(sym, /\/[^\/]*$/)) next
		dot = index(substr(sym, RSTART + 1), ".")
		if (!dot) next
		p = substr(sym, 1, RSTART + dot - 1)
		rest = substr(sym, RSTART + dot + 1)
		if (!(p in pkg)) next
		if (rest ~ /^[A-Z][A-Za-z0-9_]*$/) e = "@." rest
		else if (rest ~ /^\(\*[A-Z][A-Za-z0-9_]*\)\.[A-Z][A-Za-z0-9_]*$/) e = "(*@." substr(rest, 3)
		else if (rest ~ /^[A-Z][A-Za-z0-9_]*\.[A-Z][A-Za-z0-9_]*$/) e = "@." rest
		else next
		print pkg[p], e
	}' "$TMP/row-of.txt" - | sort -u >"$TMP/refs.txt"

# keep_go ROW writes Go source, package main, that links the packages of
# rows 0..ROW as the apply program does; it goes next to a main.go. Each
# function is held in a variable of its own and the variables are reached
# through unsafe pointers: held as interface values, as in []any, every
# function type would bring a type descriptor, 150 KiB for apply's.
keep_go() {
	awk -v upto="$1" -v mod="$MOD/" '
		FILENAME == ARGV[1] {
			# The internal packages of another module cannot be imported here;
			# what imports them in that module brings them.
			if ($2 ~ /\/internal(\/|$)/ && index($2, mod) != 1) next
			if ($1 <= upto) { alias[$2] = "p" FNR; order[++n] = $2 }
			next
		}
		$1 in alias { e = $2; gsub(/@/, alias[$1], e); refs[++m] = e; used[$1] = 1 }
		END {
			print "package main\n\nimport (\n\t\"os\"\n\t\"unsafe\"\n"
			for (i = 1; i <= n; i++)
				printf "\t%s \"%s\"\n", (order[i] in used) ? alias[order[i]] : "_", order[i]
			print ")\n"
			for (i = 1; i <= m; i++) printf "var k%d = %s\n", i, refs[i]
			print "\n// keep holds what the apply program links of the packages above.\nvar keep = [...]unsafe.Pointer{"
			for (i = 1; i <= m; i++) printf "\tunsafe.Pointer(&k%d),\n", i
			print "\tnil,\n}\n\nfunc init() {\n\tif len(os.Args) > 1<<30 { // never, but the compiler cannot know\n\t\tprintln(keep[len(os.Args)%len(keep)])\n\t}\n}"
		}' "$TMP/row-of.txt" "$TMP/refs.txt"
}

# std_new PKG PREV NEXT writes to NEXT the standard-library packages of PKG's
# program (leaving out internal and vendored ones) and prints, comma
# separated, those not in PREV: the ones that row is the first to bring.
std_new() {
	go list -deps -f '{{if .Standard}}{{.ImportPath}}{{end}}' "$1" |
		grep -v -E '(^|/)(internal|vendor)(/|$)' | sort >"$3"
	comm -13 "$2" "$3" | paste -sd, - | sed 's/,/, /g'
}

labels=() sizes=() stds=() prev=$base last=-1
std_new ./bench/embed/plainhttp /dev/null "$TMP/std-1" >/dev/null
for ((i = 0; i < ${#ROWS[@]}; i++)); do
	row=${ROWS[$i]}
	label=${row%%|*}
	if ! awk -v i="$i" '$1 == i { found = 1 } END { exit !found }' "$TMP/row-of.txt"; then
		[ "$row" = @other ] || say "depsize: no dependency of apply matches row \"$label\" any more"
		continue
	fi
	if [ "$row" = @other ]; then
		label="other: $(awk -v i="$i" '$1 == i && !seen[$3]++ { printf "%s%s", sep, $3; sep = ", " }' "$TMP/row-of.txt")"
	fi
	say "depsize: building with $label"
	dir=$TMP/row$i
	mkdir "$dir"
	cp bench/embed/plainhttp/main.go "$dir/main.go"
	keep_go "$i" >"$dir/keep.go"
	small_build -o "$dir/prog" "./$dir"
	s=$(size "$dir/prog")
	labels+=("$label") sizes+=($((s - prev)))
	stds+=("$(std_new "./$dir" "$TMP/std$last" "$TMP/std$i")")
	prev=$s last=$i
done
labels+=("apply itself (and what only it reaches of the above)") sizes+=($((with - prev)))
stds+=("$(std_new ./bench/embed/withapply "$TMP/std$last" "$TMP/std-apply")")

say "depsize: checking the method: apply with every reference added"
mkdir "$TMP/overreach"
cp bench/embed/withapply/main.go "$TMP/overreach/main.go"
keep_go "$last" >"$TMP/overreach/keep.go"
small_build -o "$TMP/overreach/prog" "./$TMP/overreach"
over=$(($(size "$TMP/overreach/prog") - with))
nrefs=$(grep -c '^var k' "$TMP/overreach/keep.go" || true)

echo
echo "## What apply's dependencies cost (go build -trimpath -ldflags=\"-s -w\", $platform)"
echo
echo "Each row: what the package set adds to a program that already has the rows above"
echo "(cumulative, in dependency order; see bench/depsize.sh for why), including the"
echo "standard-library packages it is the first to import. Share: of what apply adds to"
echo "the baseline. Sizes move in 4 KiB pages: a row under 8 KiB is at the noise level."
echo
echo "| dependency | KiB added | share | standard library it is the first to import |"
echo "|---|---:|---:|---|"
for ((i = 0; i < ${#labels[@]}; i++)); do
	echo "| ${labels[$i]} | $(kib "${sizes[$i]}") | $(awk -v s="${sizes[$i]}" -v d="$delta" 'BEGIN { printf "%.1f%%", 100 * s / d }') | ${stds[$i]} |"
done
echo
echo "| total | KiB | MiB |"
echo "|---|---:|---:|"
echo "| baseline: bench/embed/plainhttp (one net/http GET) | $(kib "$base") | $(mibs "$base") |"
echo "| apply: bench/embed/withapply (apply.Apply) | $(kib "$with") | $(mibs "$with") |"
echo "| delta | $(kib "$delta") | $(mibs "$delta") |"
echo
echo "Budget for the apply program (bench/depsize.sh --check, run by .ci/run): $BUDGET_MIB MiB, $([ "$with" -le "$budget" ] && echo met || echo '**NOT met**')."
echo "Overreach: apply built with all $nrefs references the rows add is $(kib "$over") KiB larger than apply,"
echo "of which about $(kib $((nrefs * 16))) KiB are the references themselves (16 bytes each): near that, the rows measure what apply links."
