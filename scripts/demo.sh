#!/usr/bin/env bash
# Set up, start the server on the bundled model, and analyse the bundled example clips with the client.
#   bash scripts/demo.sh          # example clips, streamed in real time
#   bash scripts/demo.sh --mic    # your microphone instead (Enter or Ctrl-C ends the session)
# Other arguments go to speechsense-client (e.g. --json, --plot out.png). With the example clips,
# --plot out.png saves one plot per clip (out-<clip>.png). Only the client's output goes to stdout
# (so --json gives clean JSON Lines); set-up and banners go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh server,client >&2
port="${SPEECHSENSE_PORT:-50051}"
.venv/bin/speechsense-server --port "$port" --log-level WARNING &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true' EXIT
echo "== waiting for the server on port $port" >&2
.venv/bin/python -m speechsense.server.probe --address "127.0.0.1:$port" --wait 120 >&2
if [ "${1:-}" = "--mic" ]; then
  shift
  .venv/bin/speechsense-client --server "127.0.0.1:$port" "$@"
  exit
fi
plot="" args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --plot) [ $# -ge 2 ] || { echo "--plot needs a file name" >&2; exit 2; }; plot="$2"; shift 2 ;;
    --plot=*) plot="${1#--plot=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
stem="$plot" ext=""
if [[ "$(basename "$plot")" == *.* ]]; then stem="${plot%.*}" ext=".${plot##*.}"; fi
for clip in examples/*.flac; do
  echo "== $clip" >&2
  per_clip=()
  [ -z "$plot" ] || per_clip=(--plot "$stem-$(basename "$clip" .flac)$ext")
  .venv/bin/speechsense-client --server "127.0.0.1:$port" --file "$clip" ${args[@]+"${args[@]}"} \
    ${per_clip[@]+"${per_clip[@]}"}
done
