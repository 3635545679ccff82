#!/usr/bin/env bash
# Installs what ModelOps needs to run locally and to run its tests, on Debian 12 / Ubuntu 22.04+:
#   PostgreSQL and RabbitMQ (Debian packages), s3rver (npm, locked by scripts/package-lock.json),
#   Debian's Python gRPC toolchain, Debian's scipy and numpy (the drift statistics' oracle), scikit-learn and pandas (the fairness metrics' oracle), and Debian's chromium with
#   playwright-core (npm) for the browser test of the Aspire dashboard, the npm MLflow client (mlflow 2.0.7) for the
#   end-to-end test of the MLflow-compatible API, and Debian's Prometheus and Alertmanager (a real
#   client of alerting, and its oracle); then the modelops command line on PATH (scripts/install-cli.sh). Safe to run again: it installs only what is missing.
# Run as root, or as a user that may use sudo.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

say() { printf '[bootstrap] %s\n' "$*"; }

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  say "needs root or sudo to install Debian packages" >&2
  exit 1
fi

# Package -> a file that proves it is installed (dpkg -s is slow and misses alternatives).
declare -A wanted=(
  [postgresql]=/usr/lib/postgresql
  [rabbitmq-server]=/usr/lib/rabbitmq
  [python3-grpcio]=/usr/lib/python3/dist-packages/grpc
  [python3-protobuf]=/usr/lib/python3/dist-packages/google/protobuf
  [protobuf-compiler]=/usr/bin/protoc
  [protobuf-compiler-grpc]=/usr/bin/grpc_python_plugin
  # The drift statistics' reference values (tests/ModelOps.Drift.Tests/Fixtures) and the drift benchmark's baseline.
  [python3-scipy]=/usr/lib/python3/dist-packages/scipy
  [python3-numpy]=/usr/lib/python3/dist-packages/numpy
  # The fairness metrics' oracle (scikit-learn's confusion matrices, tests/ModelOps.Unit.Tests/Fixtures) and the
  # fairness benchmark's pandas group-by baseline.
  [python3-sklearn]=/usr/lib/python3/dist-packages/sklearn
  [python3-pandas]=/usr/lib/python3/dist-packages/pandas
  # XGBoost's own pred_contribs is the oracle of the explainability service's TreeSHAP
  # (tests/ModelOps.Unit.Tests/Fixtures) and its benchmark's baseline.
  [python3-xgboost]=/usr/lib/python3/dist-packages/xgboost
  # Headless Chromium, driven by playwright-core, opens the Aspire dashboard in the stack tests.
  [chromium]=/usr/bin/chromium
  # A real Prometheus sends its rules' alerts to alerting in the alerting tests; Alertmanager is the oracle of
  # alerting's routing and payloads (tests/ModelOps.Unit.Tests/Fixtures) and its benchmark's baseline.
  [prometheus]=/usr/bin/prometheus
  [prometheus-alertmanager]=/usr/bin/prometheus-alertmanager
)
# The README installs the Python package into a venv on Debian's python3: venv needs ensurepip (python3-venv, shipped
# apart), and the offline build setuptools (python3-setuptools; Python 3.12's venvs carry none of their own).
wanted[python3-setuptools]=/usr/lib/python3/dist-packages/setuptools
/usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1 || wanted[python3-venv]=/usr/lib/python3/dist-packages/ensurepip-missing
command -v node >/dev/null 2>&1 || wanted[nodejs]=/usr/bin/node
command -v npm >/dev/null 2>&1 || wanted[npm]=/usr/bin/npm

missing=()
for pkg in "${!wanted[@]}"; do
  [ -e "${wanted[$pkg]}" ] || missing+=("$pkg")
done

if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  # The Debian packages start system-wide servers on install; ModelOps runs its own isolated
  # instances, so keep the package scripts from starting (or failing to start) services.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
    "${SUDO[@]}" chmod +x "$policy"
    created_policy=1
  fi
  trap '[ "$created_policy" = 1 ] && "${SUDO[@]}" rm -f "$policy"' EXIT
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  say "installed: ${missing[*]}"
else
  say "Debian packages already present: ${!wanted[*]}"
fi

# s3rver (the S3-compatible store used when no minio binary is available), playwright-core and the npm MLflow client.
if [ -x "$here/node_modules/.bin/s3rver" ] && [ -e "$here/node_modules/playwright-core/package.json" ] && [ -e "$here/node_modules/mlflow/package.json" ] &&
   [ "$here/node_modules/.package-lock.json" -nt "$here/package-lock.json" ]; then
  say "s3rver, playwright-core and mlflow already installed under scripts/node_modules"
else
  say "installing s3rver, playwright-core and mlflow from scripts/package-lock.json"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  say "installed s3rver $(node -p "require('$here/node_modules/s3rver/package.json').version"), playwright-core $(node -p "require('$here/node_modules/playwright-core/package.json').version"), mlflow $(node -p "require('$here/node_modules/mlflow/package.json').version")"
fi

if command -v minio >/dev/null 2>&1; then
  say "minio found on PATH: it will be used as the object store"
fi

# The modelops command line, on PATH (/usr/local/bin as root, else ~/.local/bin).
"$here/install-cli.sh"

say "PostgreSQL $(ls /usr/lib/postgresql | sort -V | tail -n1), RabbitMQ $(ls /usr/lib/rabbitmq/lib | sed 's/rabbitmq_server-//'), protoc $(protoc --version | cut -d' ' -f2)"
say "done"
