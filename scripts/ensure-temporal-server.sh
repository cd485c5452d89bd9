#!/usr/bin/env bash
# Makes sure a Temporal server (frontend, history, matching and worker services in one binary), its
# SQL schema tool and the Temporal Web UI server are available for `npm run cluster` and its test: the
# production topology runs a real Temporal server on PostgreSQL, not the dev server. No release
# binary can be downloaded here (temporal.download and GitHub releases are out of reach), but the Go
# module proxy serves the source of go.temporal.io/server and of github.com/temporalio/ui-server (whose
# module ships the built UI assets): all three are built with the Go toolchain those modules require
# (GOTOOLCHAIN, itself fetched from the proxy by any Go >= 1.21; Debian's golang-go is installed when
# the machine has no Go). The first build takes about 8 minutes and 2 GB of memory, so it is cached
# outside the clone, in ~/.cache/vllm-batch-server/temporal-server-<version>/ (CI runs in a fresh
# clone on the same machine), and linked to .tools/temporal-server. The cache holds
# bin/temporal-server, bin/temporal-sql-tool, bin/temporal-ui-server and the server module's
# PostgreSQL schema (schema/postgresql/v12).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=1.32.2
# The Web UI release docker-compose.yml's temporal-ui runs.
UI_VERSION=2.54.1
# go.temporal.io/server v1.32.2's go.mod asks for Go >= 1.26.10.
TOOLCHAIN=go1.27.3
cache="${XDG_CACHE_HOME:-$HOME/.cache}/vllm-batch-server/temporal-server-$VERSION"
link=.tools/temporal-server

server_installed() { [ -x "$cache/bin/temporal-server" ] && [ -x "$cache/bin/temporal-sql-tool" ] && [ -d "$cache/schema/postgresql/v12/temporal" ]; }
ui_installed() { [ -x "$cache/bin/temporal-ui-server" ] && [ "$(cat "$cache/ui-version" 2>/dev/null)" = "$UI_VERSION" ]; }

# Builds `package` of `module@version` into $work/out/bin/`name`, in a scratch module that pins the
# version (its go.sum checked against the checksum database).
build() {
  local module=$1 version=$2 package=$3 name=$4
  (
    mkdir -p "$work/$name" && cd "$work/$name"
    go mod init "vbs-$name" >/dev/null 2>&1
    go get "$module@v$version" >&2
    go build -trimpath -o "$work/out/bin/$name" "$package" >&2
  )
}

if ! server_installed || ! ui_installed; then
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
  export GOTOOLCHAIN=$TOOLCHAIN GOFLAGS=-mod=mod
  mkdir -p "$cache/bin"
  # Beside the cache, so that finished files are renamed into place on the same file system: an
  # interrupted build never leaves a half-written binary that looks installed.
  work=$(mktemp -d "$cache/../build.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/out/bin"
  start=$(date +%s)
  if ! server_installed; then
    echo "Temporal server $VERSION not found: building it from the Go module proxy into $cache (about 8 minutes)" >&2
    build go.temporal.io/server "$VERSION" go.temporal.io/server/cmd/server temporal-server
    build go.temporal.io/server "$VERSION" go.temporal.io/server/cmd/tools/sql temporal-sql-tool
    src=$(cd "$work/temporal-server" && go list -m -f '{{.Dir}}' go.temporal.io/server)
    rm -rf "$cache/schema"
    mkdir -p "$work/out/schema"
    cp -R "$src/schema/postgresql" "$work/out/schema/"
    chmod -R u+w "$work/out/schema"
    mv "$work/out/schema" "$cache/schema"
    mv "$work/out/bin/temporal-sql-tool" "$cache/bin/"
    mv "$work/out/bin/temporal-server" "$cache/bin/"
  fi
  if ! ui_installed; then
    echo "Temporal Web UI $UI_VERSION not found: building it from the Go module proxy into $cache" >&2
    build github.com/temporalio/ui-server/v2 "$UI_VERSION" github.com/temporalio/ui-server/v2/cmd/server temporal-ui-server
    mv "$work/out/bin/temporal-ui-server" "$cache/bin/"
    echo "$UI_VERSION" > "$cache/ui-version"
  fi
  echo "built in $(($(date +%s) - start)) s: $("$cache/bin/temporal-server" --version)" >&2
fi

if [ "$(readlink "$link" 2>/dev/null)" != "$cache" ]; then
  mkdir -p .tools
  rm -rf "$link"
  ln -s "$cache" "$link"
fi
