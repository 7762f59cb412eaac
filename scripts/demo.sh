#!/usr/bin/env bash
# Set up, start the server on the bundled model, and analyse the bundled example clips with the client.
#   bash scripts/demo.sh          # example clips, streamed in real time
#   bash scripts/demo.sh --mic    # your microphone instead (Enter or Ctrl-C ends the session)
# Other arguments go to speechsense-client (e.g. --json, --plot out.png).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh server,client
port="${SPEECHSENSE_PORT:-50051}"
.venv/bin/speechsense-server --port "$port" --log-level WARNING &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true' EXIT
echo "== waiting for the server on port $port"
.venv/bin/python -m speechsense.server.probe --address "127.0.0.1:$port" --wait 120
if [ "${1:-}" = "--mic" ]; then
  shift
  .venv/bin/speechsense-client --server "127.0.0.1:$port" "$@"
else
  for clip in examples/*.flac; do
    echo "== $clip"
    .venv/bin/speechsense-client --server "127.0.0.1:$port" --file "$clip" "$@"
  done
fi
