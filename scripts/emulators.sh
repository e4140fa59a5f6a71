#!/usr/bin/env bash
# emulators.sh install|start|stop|status|env
#
# Installs (when missing) and runs the three cloud object store emulators that
# the blob store tests use, and the AWS KMS emulator that the KMS signing tests
# use, on 127.0.0.1 only:
#   S3     versitygw (posix backend on a temporary directory), fixed test keys
#   GCS    fake-gcs-server (in memory), reached through STORAGE_EMULATOR_HOST
#   Azure  Azurite, blob service only, in memory, telemetry disabled
#   KMS    local-kms (data on a temporary directory), plain HTTP, any
#          credentials; served by scripts/kms-emulator, which binds it to
#          127.0.0.1 (local-kms's own main listens on every interface)
# Each bucket emulator gets one empty bucket (container) named safeupdate-test.
#
#   install install what is missing (all three side by side), start nothing
#   start   install what is missing, start what is not running, wait until each
#           answers HTTP (bounded), create the buckets; idempotent. On
#           failure it prints the emulator's log; run stop to clean up.
#   stop    stop the emulators this script started and remove their temp dir
#   status  one line per emulator; exit 0 only when all four run
#   env     print the export lines the tests read: eval "$(scripts/emulators.sh env)"
#
# Needs Go, node and npm. Binaries and node modules are cached under
# SAFEUPDATE_EMU_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/safeupdate-emulators)
# so later runs skip the install. Runtime state, data and logs live under
# SAFEUPDATE_EMU_STATE (default ${TMPDIR:-/tmp}/safeupdate-emulators.UID).
# Ports: SAFEUPDATE_EMU_S3_PORT (7070), SAFEUPDATE_EMU_GCS_PORT (4443),
# SAFEUPDATE_EMU_AZURE_PORT (10000), SAFEUPDATE_EMU_KMS_PORT (4599).
# SAFEUPDATE_EMU_WAIT bounds the wait for
# each emulator to answer (60 seconds).
set -euo pipefail

VERSITYGW_VERSION=v1.8.0
FAKE_GCS_VERSION=v1.56.1
# 3.36 and later need node >= 21; 3.35.0 declares node >= 10 and is run on
# node 20 here (Debian 12's own nodejs is 18: not tried).
AZURITE_VERSION=3.35.0
# The version is pinned in scripts/kms-emulator/go.mod; this names it for the
# install stamp and the messages.
LOCAL_KMS_VERSION=v0.0.0-20260228092603-2a5e92d09ab6
KMS_EMU_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kms-emulator

CACHE=${SAFEUPDATE_EMU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/safeupdate-emulators}
STATE=${SAFEUPDATE_EMU_STATE:-${TMPDIR:-/tmp}/safeupdate-emulators.$(id -u)}
S3_PORT=${SAFEUPDATE_EMU_S3_PORT:-7070}
GCS_PORT=${SAFEUPDATE_EMU_GCS_PORT:-4443}
AZURE_PORT=${SAFEUPDATE_EMU_AZURE_PORT:-10000}
KMS_PORT=${SAFEUPDATE_EMU_KMS_PORT:-4599}
WAIT_SECONDS=${SAFEUPDATE_EMU_WAIT:-60}

BUCKET=safeupdate-test
S3_ACCESS=safeupdate-test-access
S3_SECRET=safeupdate-test-secret-key
S3_REGION=us-east-1
# Azurite's fixed development account, documented by Microsoft; not a secret.
AZ_ACCOUNT=devstoreaccount1
AZ_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='

EMULATORS=(s3 gcs azure kms)

say() { printf 'emulators: %s\n' "$*" >&2; }
die() {
	say "$*"
	exit 1
}

port_of() {
	case $1 in
	s3) echo "$S3_PORT" ;;
	gcs) echo "$GCS_PORT" ;;
	azure) echo "$AZURE_PORT" ;;
	kms) echo "$KMS_PORT" ;;
	esac
}

# --- install -----------------------------------------------------------------

go_install() { # name module version
	local bin=$CACHE/bin/$1 stamp=$CACHE/bin/.$1.version
	if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$3" ]; then
		return
	fi
	command -v go >/dev/null || die "go is not on PATH: it is needed to install $1"
	say "installing $1 $3 (go install $2@$3)"
	local t0=$SECONDS
	mkdir -p "$CACHE/bin"
	# Outside any module, with no inherited flags: the project's go.mod and
	# GOFLAGS must not change how the emulator builds. Unoptimised (-N -l):
	# the emulators serve a few small objects to tests, and compiling their
	# hundreds of packages without optimisation makes a cold install faster.
	(cd "$CACHE" && GOBIN=$CACHE/bin GOFLAGS='' CGO_ENABLED=0 go install -trimpath -gcflags='all=-N -l' -ldflags='-s -w' "$2@$3") ||
		die "go install $2@$3 failed"
	echo "$3" >"$stamp"
	say "installed $1 in $((SECONDS - t0))s"
}

# local-kms is built from scripts/kms-emulator, a module of its own that
# requires it: the stamp is the version and the wrapper's source, so an edit
# of either rebuilds it.
kms_build() {
	local bin=$CACHE/bin/kms-emulator stamp=$CACHE/bin/.kms-emulator.version want
	want="$LOCAL_KMS_VERSION $(cat "$KMS_EMU_SRC/main.go" "$KMS_EMU_SRC/go.mod" "$KMS_EMU_SRC/go.sum" | cksum)"
	if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
		return
	fi
	command -v go >/dev/null || die "go is not on PATH: it is needed to build local-kms"
	say "installing local-kms $LOCAL_KMS_VERSION (go build scripts/kms-emulator)"
	local t0=$SECONDS
	mkdir -p "$CACHE/bin"
	(cd "$KMS_EMU_SRC" && GOFLAGS='-mod=readonly' CGO_ENABLED=0 go build -trimpath -gcflags='all=-N -l' -ldflags='-s -w' -o "$bin" .) ||
		die "building local-kms (scripts/kms-emulator) failed"
	echo "$want" >"$stamp"
	say "installed local-kms in $((SECONDS - t0))s"
}

azurite_installed() {
	[ -x "$CACHE/npm/node_modules/.bin/azurite-blob" ] &&
		[ "$(cat "$CACHE/npm/.azurite.version" 2>/dev/null)" = "$AZURITE_VERSION" ]
}

npm_install_azurite() {
	local dir=$CACHE/npm t0=$SECONDS
	say "installing azurite $AZURITE_VERSION (npm)"
	mkdir -p "$dir"
	[ -f "$dir/package.json" ] || echo '{"name":"safeupdate-emulators","private":true}' >"$dir/package.json"
	npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
		--save-exact "azurite@$AZURITE_VERSION" >&2 ||
		die "npm install azurite@$AZURITE_VERSION failed"
	echo "$AZURITE_VERSION" >"$dir/.azurite.version"
	say "installed azurite in $((SECONDS - t0))s"
}

install_all() {
	command -v node >/dev/null ||
		die "node is not on PATH: Azurite runs on node (apt-get install nodejs npm)"
	local pids=() pid rc=0
	if ! azurite_installed; then
		command -v npm >/dev/null ||
			die "npm is not on PATH: Azurite is installed with npm (apt-get install npm)"
		npm_install_azurite &
		pids+=($!)
	fi
	# Side by side: each waits on downloads while another compiles.
	go_install versitygw github.com/versity/versitygw/cmd/versitygw "$VERSITYGW_VERSION" &
	pids+=($!)
	go_install fake-gcs-server github.com/fsouza/fake-gcs-server "$FAKE_GCS_VERSION" &
	pids+=($!)
	kms_build &
	pids+=($!)
	for pid in "${pids[@]}"; do
		wait "$pid" || rc=1
	done
	((rc == 0)) || die "installing the emulators failed (see above)"
}

# --- processes ---------------------------------------------------------------

pid_of() { cat "$STATE/$1.pid" 2>/dev/null || true; }

# alive NAME: the recorded process runs and is still the program we started
# (a pid is only trusted together with its command line).
alive() {
	local pid want cmd
	pid=$(pid_of "$1")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	want=$(cat "$STATE/$1.cmd" 2>/dev/null) || return 1
	if [ -r "/proc/$pid/cmdline" ]; then
		cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline")
	else
		cmd=$(ps -p "$pid" -o command= 2>/dev/null) || return 1
	fi
	case $cmd in *"$want"*) return 0 ;; esac
	return 1
}

# http_status PORT PATH: the status code of one HTTP/1.0 GET, or nothing.
http_status() {
	local line=
	{
		exec 3<>"/dev/tcp/127.0.0.1/$1" &&
			printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n' "$2" "$1" >&3 &&
			IFS= read -r -t 5 line <&3
		exec 3<&- 3>&-
	} 2>/dev/null || true
	case $line in HTTP/*) line=${line#* } && echo "${line%% *}" ;; esac
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

show_log() {
	local log=$STATE/logs/$1.log
	say "last lines of $log:"
	tail -n 40 "$log" >&2 2>/dev/null || true
}

launch() { # name marker program args...
	local name=$1 marker=$2
	shift 2
	if alive "$name"; then
		say "$name already running (pid $(pid_of "$name"), port $(port_of "$name"))"
		return
	fi
	(cd "$STATE" && exec "$@" </dev/null >"$STATE/logs/$name.log" 2>&1) &
	echo $! >"$STATE/$name.pid"
	echo "$marker" >"$STATE/$name.cmd"
}

wait_ready() { # name path
	local name=$1 port deadline code
	port=$(port_of "$name")
	deadline=$((SECONDS + WAIT_SECONDS))
	while :; do
		code=$(http_status "$port" "$2")
		[ -n "$code" ] && return 0
		if ! alive "$name"; then
			show_log "$name"
			die "$name exited before answering on 127.0.0.1:$port"
		fi
		if ((SECONDS >= deadline)); then
			show_log "$name"
			die "$name did not answer on 127.0.0.1:$port within ${WAIT_SECONDS}s"
		fi
		sleep 0.2
	done
}

# Azurite has no option to create a container at start, so sign one
# Create Container request (Shared Key) with node, which runs Azurite anyway.
azure_create_container() {
	AZ_PORT=$AZURE_PORT AZ_ACCOUNT=$AZ_ACCOUNT AZ_KEY=$AZ_KEY AZ_CONTAINER=$BUCKET node -e '
const http = require("http"), crypto = require("crypto");
const {AZ_PORT: port, AZ_ACCOUNT: acct, AZ_KEY: key, AZ_CONTAINER: name} = process.env;
const date = new Date().toUTCString(), version = "2021-08-06";
const path = "/" + acct + "/" + name;
const toSign = ["PUT", "", "", "", "", "", "", "", "", "", "", "",
  "x-ms-date:" + date, "x-ms-version:" + version,
  "/" + acct + path + "\nrestype:container"].join("\n");
const sig = crypto.createHmac("sha256", Buffer.from(key, "base64")).update(toSign, "utf8").digest("base64");
const req = http.request({host: "127.0.0.1", port, method: "PUT", path: path + "?restype=container",
  headers: {"x-ms-date": date, "x-ms-version": version, "Content-Length": 0,
    Authorization: "SharedKey " + acct + ":" + sig}}, res => {
  let body = ""; res.on("data", d => body += d);
  res.on("end", () => {
    if (res.statusCode === 201 || res.statusCode === 409) process.exit(0);
    console.error("create container: HTTP " + res.statusCode + " " + body); process.exit(1);
  });
});
req.on("error", e => { console.error("create container: " + e.message); process.exit(1); });
req.end();' || die "could not create the Azure container $BUCKET"
}

start() {
	install_all
	mkdir -p "$STATE/logs"
	local t0=$SECONDS name
	for name in "${EMULATORS[@]}"; do
		if ! alive "$name" && port_busy "$(port_of "$name")"; then
			die "port $(port_of "$name") on 127.0.0.1 is taken by another program; set SAFEUPDATE_EMU_$(echo "$name" | tr '[:lower:]' '[:upper:]')_PORT"
		fi
	done

	# versitygw's posix backend maps each top directory to a bucket.
	mkdir -p "$STATE/s3/$BUCKET"
	launch s3 "versitygw" "$CACHE/bin/versitygw" \
		--port "127.0.0.1:$S3_PORT" --access "$S3_ACCESS" --secret "$S3_SECRET" \
		--region "$S3_REGION" posix "$STATE/s3"

	# fake-gcs-server makes a bucket of each directory under -data. The Go
	# client downloads from http://HOST/bucket/object, which the server
	# routes only for its public host.
	mkdir -p "$STATE/gcs-seed/$BUCKET"
	launch gcs "fake-gcs-server" "$CACHE/bin/fake-gcs-server" \
		-scheme http -host 127.0.0.1 -port "$GCS_PORT" -backend memory \
		-public-host "127.0.0.1:$GCS_PORT" -external-url "http://127.0.0.1:$GCS_PORT" \
		-data "$STATE/gcs-seed" -log-level warn

	launch azure "azurite-blob" node "$CACHE/npm/node_modules/.bin/azurite-blob" \
		--blobHost 127.0.0.1 --blobPort "$AZURE_PORT" \
		--inMemoryPersistence --extentMemoryLimit 2048 \
		--disableTelemetry --skipApiVersionCheck --loose

	# The KMS's keys live in its own directory, removed by stop.
	mkdir -p "$STATE/kms"
	launch kms "kms-emulator" env KMS_ADDR="127.0.0.1:$KMS_PORT" KMS_REGION="$S3_REGION" \
		KMS_DATA_PATH="$STATE/kms" "$CACHE/bin/kms-emulator"

	wait_ready s3 /
	wait_ready gcs /storage/v1/b
	wait_ready azure "/$AZ_ACCOUNT?comp=list"
	# local-kms answers any GET with 405: that is ready.
	wait_ready kms /
	azure_create_container
	say "S3 :$S3_PORT, GCS :$GCS_PORT, Azure :$AZURE_PORT, KMS :$KMS_PORT ready in $((SECONDS - t0))s (logs in $STATE/logs)"
}

stop() {
	local name pid i pids=()
	for name in "${EMULATORS[@]}"; do
		if alive "$name"; then
			pid=$(pid_of "$name")
			kill "$pid" 2>/dev/null || true
			pids+=("$pid")
			say "stopping $name (pid $pid)"
		fi
	done
	# Each takes a second or two to close; wait for all at once, then force.
	for ((i = 0; i < 100; i++)); do
		local left=()
		for pid in ${pids[@]+"${pids[@]}"}; do
			kill -0 "$pid" 2>/dev/null && left+=("$pid")
		done
		pids=(${left[@]+"${left[@]}"})
		((${#pids[@]} == 0)) && break
		sleep 0.1
	done
	for pid in ${pids[@]+"${pids[@]}"}; do
		say "pid $pid did not stop in 10s: killing it"
		kill -9 "$pid" 2>/dev/null || true
	done
	rm -rf "$STATE"
}

status() {
	local name rc=0
	for name in "${EMULATORS[@]}"; do
		if alive "$name"; then
			echo "$name: running, pid $(pid_of "$name"), 127.0.0.1:$(port_of "$name")"
		else
			echo "$name: not running"
			rc=1
		fi
	done
	return $rc
}

print_env() {
	local name
	for name in "${EMULATORS[@]}"; do
		alive "$name" || die "$name is not running: run $0 start"
	done
	cat <<EOF
export SAFEUPDATE_TEST_S3='s3://$BUCKET?endpoint=http://127.0.0.1:$S3_PORT&use_path_style=true&disable_https=true&region=$S3_REGION'
export AWS_ACCESS_KEY_ID='$S3_ACCESS'
export AWS_SECRET_ACCESS_KEY='$S3_SECRET'
export AWS_REGION='$S3_REGION'
export SAFEUPDATE_TEST_GCS='gs://$BUCKET'
export STORAGE_EMULATOR_HOST='127.0.0.1:$GCS_PORT'
export SAFEUPDATE_TEST_AZURE='azblob://$BUCKET'
export AZURE_STORAGE_CONNECTION_STRING='DefaultEndpointsProtocol=http;AccountName=$AZ_ACCOUNT;AccountKey=$AZ_KEY;BlobEndpoint=http://127.0.0.1:$AZURE_PORT/$AZ_ACCOUNT;'
export AZURE_STORAGE_IS_LOCAL_EMULATOR='true'
export AZURE_STORAGE_DOMAIN='127.0.0.1:$AZURE_PORT'
export AZURE_STORAGE_PROTOCOL='http'
export SAFEUPDATE_TEST_KMS='http://127.0.0.1:$KMS_PORT'
EOF
}

main() {
	case ${1:-} in
	install) install_all ;;
	start) start ;;
	stop) stop ;;
	status) status ;;
	env) print_env ;;
	*)
		echo "usage: $0 install|start|stop|status|env" >&2
		exit 2
		;;
	esac
}

# One line, so that bash has read all of it before running any (an edit of
# this file during a long install cannot change what runs).
main "$@"; exit
