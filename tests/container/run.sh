#!/usr/bin/env bash
# The container path, really run: build the image, start docker-compose.yml's `scale` profile with podman
# (server + replicas behind the nginx gRPC balancer), wait for health, stream clips through the balancer with
# speechsense-client, kill a replica mid-run, check that new streams still succeed, tear everything down.
#
#   bash tests/container/run.sh          (as root; exits 0 with "skipped: ..." when podman is not installed)
#
# Needs: podman, runc, podman-compose (Debian's 1.0.3 or newer), iptables (netavark's bridge networking) and, when
# no base image is available locally (no registry is reachable here), mmdebstrap. Debian:
#   apt-get install -y podman runc podman-compose iptables mmdebstrap
# The machine-specific parts live here, not in the Dockerfile: a private containers.conf, a Debian base built with
# mmdebstrap from the machine's own apt sources, and the machine's CA bundle mounted into the build for pip.
#
# Environment: PYTHON (the venv with the client, default .venv/bin/python), BASE_IMAGE / BALANCER_IMAGE (use these
# instead of building bases), TOTAL_TIMEOUT (seconds for the whole run, default 1200), KEEP=1 (leave the stack up).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$REPO"

if ! command -v podman >/dev/null 2>&1; then
    echo "skipped: podman not available (apt-get install -y podman runc podman-compose iptables mmdebstrap)"
    exit 0
fi
if ! command -v podman-compose >/dev/null 2>&1; then
    echo "skipped: podman-compose not available (apt-get install -y podman-compose)"
    exit 0
fi

# The whole run is bounded: re-run this script under timeout(1) once; the EXIT trap still tears down.
TOTAL_TIMEOUT=${TOTAL_TIMEOUT:-1200}
if [[ -z "${SPEECHSENSE_CONTAINER_TEST_BOUNDED:-}" ]]; then
    export SPEECHSENSE_CONTAINER_TEST_BOUNDED=1
    exec timeout --signal=TERM --kill-after=60 "$TOTAL_TIMEOUT" bash "${BASH_SOURCE[0]}" "$@"
fi

PYTHON=${PYTHON:-$REPO/.venv/bin/python}
CLIENT=(timeout 120 "$PYTHON" -m speechsense.client.main)
PROJECT=speechsense-ci
SERVER_IMAGE=localhost/speechsense-server:ci
WORK=$(mktemp -d /tmp/speechsense-container.XXXXXX)
T0=$(date +%s.%N)
STEP_NAME="" STEP_T0=""
SUMMARY=()

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

step() {  # step NAME: ends the previous step (printing its time) and starts the next
    local now
    now=$(date +%s.%N)
    if [[ -n "$STEP_NAME" ]]; then
        local took
        took=$(elapsed "$STEP_T0" "$now")
        echo "=== step '$STEP_NAME' took ${took}s"
        SUMMARY+=("$(printf '%7ss  %s' "$took" "$STEP_NAME")")
    fi
    STEP_NAME=$1 STEP_T0=$now
    [[ -n "$STEP_NAME" ]] && echo "=== step '$STEP_NAME'"
    return 0
}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# A private containers.conf, so the machine's podman configuration is left alone. Seen here: this sandbox refuses
# to raise rlimits (so no default ulimits) and crun fails on its cgroup layout (so runc).
export CONTAINERS_CONF=$WORK/containers.conf
printf '[containers]\ndefault_ulimits = []\n' > "$CONTAINERS_CONF"
if command -v runc >/dev/null 2>&1; then
    printf '\n[engine]\nruntime = "runc"\n' >> "$CONTAINERS_CONF"
fi

compose() {
    podman-compose -p "$PROJECT" -f docker-compose.yml -f "$WORK/compose.override.yml" "$@"
}

cleanup() {
    local rc=$?
    trap - EXIT TERM INT
    if [[ "${KEEP:-0}" != 1 && -f "$WORK/compose.override.yml" ]]; then
        step "tear down"
        compose down -t 5 >"$WORK/down.log" 2>&1 || { echo "compose down failed:"; tail -n 20 "$WORK/down.log"; }
        podman network rm -f "${PROJECT}_default" >/dev/null 2>&1 || true
    fi
    step ""
    echo "--- step timings"
    printf '%s\n' "${SUMMARY[@]}"
    printf '%7ss  total\n' "$(elapsed "$T0" "$(date +%s.%N)")"
    if [[ $rc -eq 0 ]]; then
        echo "container test: PASSED"
    else
        echo "container test: FAILED (exit $rc); logs kept in $WORK"
    fi
    [[ $rc -eq 0 ]] && rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 124' TERM INT

# A Debian bookworm image from the machine's own apt sources (no registry is reachable here), cached as NAME.
debian_image() {  # debian_image NAME PACKAGES
    local name=$1 packages=$2
    if podman image exists "$name"; then
        echo "$name: cached"
        return
    fi
    command -v mmdebstrap >/dev/null || fail "no base image and no mmdebstrap (apt-get install -y mmdebstrap)"
    mmdebstrap --quiet --variant=apt --include="$packages" bookworm "$WORK/$(basename "${name%%:*}").tar"
    podman import --quiet "$WORK/$(basename "${name%%:*}").tar" "$name" >/dev/null
    rm -f "$WORK/$(basename "${name%%:*}").tar"
}

# ---------------------------------------------------------------------------------------------------------------
step "base images"
if [[ -z "${BASE_IMAGE:-}" ]]; then
    if podman image exists docker.io/library/python:3.11-slim; then
        BASE_IMAGE=docker.io/library/python:3.11-slim
    else
        BASE_IMAGE=localhost/speechsense-ci-python:bookworm
        debian_image "$BASE_IMAGE" python3,python3-venv,ca-certificates >"$WORK/base.log" 2>&1 &
    fi
fi
if [[ -z "${BALANCER_IMAGE:-}" ]]; then
    if podman image exists docker.io/library/nginx:1.27-alpine; then
        BALANCER_IMAGE=docker.io/library/nginx:1.27-alpine
    else
        BALANCER_IMAGE=localhost/speechsense-ci-nginx:bookworm
        debian_image "$BALANCER_IMAGE" nginx-light >"$WORK/balancer-base.log" 2>&1 &
    fi
fi
for job in $(jobs -p); do
    wait "$job" || { cat "$WORK"/*base.log; fail "building a base image failed"; }
done
echo "server base: $BASE_IMAGE; balancer: $BALANCER_IMAGE"

# ---------------------------------------------------------------------------------------------------------------
step "build server image"
build_args=(--format docker --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$SERVER_IMAGE")
# pip inside the build reaches the package index only with this machine's CA bundle: mount it and a pip.conf
# naming it (pip reads /etc/pip.conf), so the Dockerfile itself stays free of it.
CA_BUNDLE=${PIP_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
if [[ -f "$CA_BUNDLE" ]]; then
    printf '[global]\ncert = /etc/speechsense-build-ca.crt\n' > "$WORK/pip.conf"
    build_args+=(--volume "$CA_BUNDLE:/etc/speechsense-build-ca.crt:ro" --volume "$WORK/pip.conf:/etc/pip.conf:ro")
fi
previous=$(podman image inspect "$SERVER_IMAGE" --format '{{.Id}}' 2>/dev/null || true)
timeout 900 podman build "${build_args[@]}" . >"$WORK/build.log" 2>&1 || { tail -n 40 "$WORK/build.log"; fail "build"; }
# A rebuild leaves the previous image untagged (about 1 GB): remove it so repeated runs do not fill the disk.
current=$(podman image inspect "$SERVER_IMAGE" --format '{{.Id}}')
if [[ -n "$previous" && "$previous" != "$current" ]]; then podman rmi "$previous" >/dev/null 2>&1 || true; fi
podman image inspect "$SERVER_IMAGE" --format 'image {{.Id}}: {{.Size}} bytes, user {{.Config.User}}'
podman image inspect "$SERVER_IMAGE" --format '{{.Config.User}}' | grep -qv '^\(root\|0\)\?$' || fail "image runs as root"

# ---------------------------------------------------------------------------------------------------------------
step "start compose scale profile"
port() { "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
export SPEECHSENSE_IMAGE=$SERVER_IMAGE BALANCER_IMAGE BASE_IMAGE
export SPEECHSENSE_PUBLISH_ADDRESS=127.0.0.1 SPEECHSENSE_REPLICAS=2
SPEECHSENSE_GRPC_PORT=$(port) SPEECHSENSE_METRICS_HOST_PORT=$(port) BALANCER_PORT=$(port) SPEECHSENSE_WEB_HOST_PORT=$(port)
export SPEECHSENSE_GRPC_PORT SPEECHSENSE_METRICS_HOST_PORT BALANCER_PORT SPEECHSENSE_WEB_HOST_PORT
BALANCER=127.0.0.1:$BALANCER_PORT

# The bundled model when the repo has one, else a tiny real model (tests/synth.py) mounted as a volume, the way a
# user swaps the model without rebuilding.
if [[ -f models/speechsense-hybrid.onnx ]]; then
    echo "model: bundled models/speechsense-hybrid.onnx"
    printf 'services: {}\n' > "$WORK/compose.override.yml"
else
    echo "model: models/speechsense-hybrid.onnx not in the repo yet; serving a tiny test model from a volume"
    "$PYTHON" -c "import sys; sys.path.insert(0, 'tests'); from pathlib import Path; from synth import tiny_model; \
tiny_model(Path(sys.argv[1]))" "$WORK/tiny.onnx"
    chmod 644 "$WORK/tiny.onnx"
    chmod 755 "$WORK"
    cat > "$WORK/compose.override.yml" <<EOF
services:
  server:
    environment:
      SPEECHSENSE_MODEL: /models/tiny.onnx
    volumes:
      - $WORK/tiny.onnx:/models/tiny.onnx:ro
  replica:
    environment:
      SPEECHSENSE_MODEL: /models/tiny.onnx
    volumes:
      - $WORK/tiny.onnx:/models/tiny.onnx:ro
EOF
fi

# Debian's podman-compose 1.0.3 knows no profiles (it would start every service): name the services instead;
# newer ones get the profile too.
profile_args=()
podman-compose --help 2>/dev/null | grep -q -- '--profile' && profile_args=(--profile scale)
compose "${profile_args[@]}" up -d --no-build server replica balancer >"$WORK/up.log" 2>&1 \
    || { tail -n 40 "$WORK/up.log"; fail "compose up"; }
mapfile -t SERVERS < <(podman ps --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}' \
    | grep -E '_(server|replica)_[0-9]+$' | sort)
BALANCER_CTR=$(podman ps --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}' \
    | grep -E '_balancer_[0-9]+$' || true)
echo "servers: ${SERVERS[*]}; balancer: ${BALANCER_CTR:-none}"
[[ ${#SERVERS[@]} -eq 3 && -n "$BALANCER_CTR" ]] || { podman ps -a; tail -n 40 "$WORK/up.log"; fail "containers"; }

# ---------------------------------------------------------------------------------------------------------------
step "wait for health"
# The image's HEALTHCHECK (the gRPC health probe). Podman runs health checks from systemd timers, which this
# machine lacks, so run them by hand, as the timer would.
ready_check='import sys, grpc
from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g
with grpc.insecure_channel("127.0.0.1:50051") as c:
    r = g.HealthStub(c).Check(h.HealthCheckRequest(service="speechsense.v1.EmotionService"), timeout=2)
sys.exit(r.status != h.HealthCheckResponse.SERVING)'
deadline=$((SECONDS + 180))
for ctr in "${SERVERS[@]}"; do
    # Both: the HEALTHCHECK, and EmotionService's own health entry (set only once the model is warmed up; the
    # overall "" status of grpcio's health servicer starts out SERVING).
    until podman healthcheck run "$ctr" >/dev/null 2>&1 && podman exec "$ctr" python -c "$ready_check" 2>/dev/null; do
        if ((SECONDS > deadline)); then podman logs "$ctr" | tail -n 30; fail "$ctr not healthy"; fi
        sleep 1
    done
    echo "$ctr: healthy ($(podman inspect "$ctr" --format '{{.State.Health.Status}}'))"
done
# Through the balancer too (the health call lands on some replica).
"$PYTHON" -m speechsense.server.probe --address "$BALANCER" --wait 60 || fail "balancer not serving"

check_json() {  # check_json FILE: windows then a summary, eight labels each, as a client sees them
    "$PYTHON" - "$1" <<'EOF'
import json, sys
from speechsense.labels import LABELS
lines = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
windows = [x for x in lines if x["type"] == "window"]
assert lines and lines[-1]["type"] == "summary", lines[-1:]
assert windows and all(sorted(w["scores"]) == sorted(LABELS) for w in windows), windows
assert lines[-1]["windows_analyzed"] == sum(w["is_speech"] for w in windows), lines[-1]
print(f"{len(windows)} windows, dominant {lines[-1]['dominant_label']!r}")
EOF
}

streams_on() {  # streams_on CONTAINER: how many streams this container has opened so far
    podman logs "$1" 2>&1 | grep -c 'stream opened' || true
}

# ---------------------------------------------------------------------------------------------------------------
step "stream clips through the balancer"
CLIPS=(examples/*.flac)
for i in 0 1 2 3 4 5; do
    clip=${CLIPS[$((i % ${#CLIPS[@]}))]}
    "${CLIENT[@]}" --server "$BALANCER" --file "$clip" --json --fast --tag "before-$i" >"$WORK/before-$i.jsonl" \
        2>"$WORK/before-$i.err" || { cat "$WORK/before-$i.err"; fail "client through the balancer ($clip)"; }
    echo "$clip: $(check_json "$WORK/before-$i.jsonl")"
done
spread=()
for ctr in "${SERVERS[@]}"; do spread+=("$ctr=$(streams_on "$ctr")"); done
echo "streams per replica: ${spread[*]}"
for s in "${spread[@]}"; do [[ ${s##*=} -ge 1 ]] || fail "streams not spread over every replica: ${spread[*]}"; done

# ---------------------------------------------------------------------------------------------------------------
step "kill a replica mid-run"
# Three clients in real time on a 14 s clip (the examples back to back), one per replica with least_conn; one
# replica is SIGKILLed once they have their first windows. The client on it reconnects and re-sends from its first
# window without a result; whether that works behind nginx depends on how nginx reports the reset, so this step
# reports the in-flight outcome and the next step is the one that must pass.
"$PYTHON" -c "import sys, numpy as np, soundfile as sf
sf.write(sys.argv[1], np.concatenate([sf.read(f, dtype='float32')[0] for f in sys.argv[2:]]), 16000)" \
    "$WORK/long.flac" "${CLIPS[@]}"
for i in 0 1 2; do
    "${CLIENT[@]}" --server "$BALANCER" --file "$WORK/long.flac" --json --tag "inflight-$i" \
        >"$WORK/inflight-$i.jsonl" 2>"$WORK/inflight-$i.err" &
done
sleep 5
VICTIM=${SERVERS[1]}
podman kill --signal KILL "$VICTIM" >/dev/null
echo "killed $VICTIM after 5 s of streaming"
inflight_ok=0 inflight_failed=0
for job in $(jobs -p); do
    if wait "$job"; then inflight_ok=$((inflight_ok + 1)); else inflight_failed=$((inflight_failed + 1)); fi
done
echo "in-flight streams: $inflight_ok completed, $inflight_failed failed"
for i in 0 1 2; do
    if [[ -s "$WORK/inflight-$i.jsonl" ]] && check_json "$WORK/inflight-$i.jsonl" >/dev/null 2>&1; then
        echo "  inflight-$i: $(check_json "$WORK/inflight-$i.jsonl")"
    fi
    if [[ -s "$WORK/inflight-$i.err" ]]; then
        echo "  inflight-$i stderr: $(tr '\n' ' ' <"$WORK/inflight-$i.err" | cut -c1-300)"
    fi
done
[[ $inflight_ok -ge 2 ]] || fail "streams on the replicas left alive did not complete"

step "new streams after the kill"
for i in 0 1 2 3 4 5; do
    clip=${CLIPS[$((i % ${#CLIPS[@]}))]}
    "${CLIENT[@]}" --server "$BALANCER" --file "$clip" --json --fast --tag "after-$i" >"$WORK/after-$i.jsonl" \
        2>"$WORK/after-$i.err" || { cat "$WORK/after-$i.err"; fail "a new stream after the kill failed"; }
    echo "$clip: $(check_json "$WORK/after-$i.jsonl")"
done
podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}: {{.Status}}'
