#!/usr/bin/env bash
# Set up the dev environment and run the linters and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
if command -v apt-get >/dev/null && ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "== installing nginx with apt for the gRPC load-balancer test"
  $sudo apt-get install -y -qq nginx >/dev/null || echo "nginx could not be installed; its test will skip"
fi
if command -v apt-get >/dev/null && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; }; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "== installing chromium and chromium-driver with apt for the browser test of the page"
  $sudo apt-get install -y -qq chromium chromium-driver >/dev/null || echo "chromium could not be installed; its test will skip"
fi
if command -v npm >/dev/null && [ ! -x node_modules/.bin/buf ]; then
  echo "== installing buf (npm @bufbuild/buf) for the proto lint test"
  npm install --no-save --silent @bufbuild/buf || echo "buf could not be installed; its test will skip"
fi
echo "== ruff"
.venv/bin/ruff check .
echo "== pytest"
.venv/bin/python -m pytest "$@"
