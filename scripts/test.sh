#!/usr/bin/env bash
# `npm test`: every layer. The `apart` project (jest.config.js: end-to-end tests that mostly wait — the
# 90 s outages, a cluster's start-up, a terminal, crash loops) runs in a jest of its own beside the unit
# and stack projects, each on a stack of its own, its lines prefixed with [apart]. The run fails if
# either fails. Arguments (a test path, -t) go to both.
set -uo pipefail
cd "$(dirname "$0")/.."

npx jest --runInBand --passWithNoTests "$@" --selectProjects apart > >(sed -u 's/^/[apart] /') 2>&1 &
apart=$!
npx jest --runInBand --passWithNoTests "$@" --selectProjects unit stack
main=$?
wait "$apart"
apartStatus=$?
if [ "$apartStatus" -ne 0 ]; then echo "npm test: the apart project failed (exit $apartStatus): see the [apart] lines above" >&2; fi
exit $((main != 0 ? main : apartStatus))
