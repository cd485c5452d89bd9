#!/usr/bin/env bash
# Makes sure a Temporal server (frontend, history, matching and worker services in one binary) and its
# SQL schema tool are available for `npm run cluster` and its test: the production topology runs a
# real Temporal server on PostgreSQL, not the dev server. No release binary can be downloaded here
# (temporal.download and GitHub releases are out of reach), but the Go module proxy serves the
# server's source: both binaries are built from go.temporal.io/server with the Go toolchain the
# module requires (GOTOOLCHAIN, itself fetched from the proxy by any Go >= 1.21; Debian's golang-go
# is installed when the machine has no Go). A build takes about 8 minutes and 2 GB of memory, so it
# is cached outside the clone, in ~/.cache/vllm-batch-server/temporal-server-<version>/ (CI runs in
# a fresh clone on the same machine), and linked to .tools/temporal-server. The cache holds
# bin/temporal-server, bin/temporal-sql-tool and the module's PostgreSQL schema (schema/postgresql/v12).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=1.32.2
# go.temporal.io/server v1.32.2's go.mod asks for Go >= 1.26.10; 1.27.3 is the toolchain it was built with here.
TOOLCHAIN=go1.27.3
cache="${XDG_CACHE_HOME:-$HOME/.cache}/vllm-batch-server/temporal-server-$VERSION"
link=.tools/temporal-server

installed() { [ -x "$1/bin/temporal-server" ] && [ -x "$1/bin/temporal-sql-tool" ] && [ -d "$1/schema/postgresql/v12/temporal" ]; }

if ! installed "$cache"; then
  if ! command -v go >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
      echo "installing Go (Debian's golang-go) to build the Temporal server" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >&2
      apt-get install -y -qq --no-install-recommends golang-go ca-certificates git >&2
    else
      echo "building the Temporal server needs Go >= 1.21 ('go' not found, and apt-get as root is not available)" >&2
      exit 1
    fi
  fi
  echo "Temporal server $VERSION not found: building it from the Go module proxy into $cache (about 8 minutes)" >&2
  mkdir -p "$(dirname "$cache")"
  # Beside the cache, so that the finished build is renamed into place on the same file system.
  work=$(mktemp -d "$(dirname "$cache")/build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  export GOTOOLCHAIN=$TOOLCHAIN GOFLAGS=-mod=mod
  # A scratch module pins the server's version; its go.sum is checked against the checksum database.
  (
    cd "$work"
    go mod init vbs-temporal-server >/dev/null 2>&1
    go get "go.temporal.io/server@v$VERSION" >&2
    mkdir -p out/bin out/schema
    start=$(date +%s)
    go build -trimpath -o out/bin/temporal-server go.temporal.io/server/cmd/server >&2
    go build -trimpath -o out/bin/temporal-sql-tool go.temporal.io/server/cmd/tools/sql >&2
    echo "built in $(($(date +%s) - start)) s" >&2
    src=$(go list -m -f '{{.Dir}}' go.temporal.io/server)
    cp -R "$src/schema/postgresql" out/schema/
    chmod -R u+w out
  )
  rm -rf "$cache"
  # Moved into place whole, so an interrupted build never leaves a half-filled cache that looks installed.
  mv "$work/out" "$cache"
fi

if [ "$(readlink "$link" 2>/dev/null)" != "$cache" ]; then
  mkdir -p .tools
  rm -rf "$link"
  ln -s "$cache" "$link"
fi
"$link/bin/temporal-server" --version >&2
