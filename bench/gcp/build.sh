#!/usr/bin/env bash
# Builds the go-control-plane comparison server into bin/gcp-server. Modules come from the Go module proxy as
# pinned by go.mod/go.sum (nothing vendored). Safe to run again: go build only redoes what changed.
set -euo pipefail
cd "$(dirname "$0")"
export GOFLAGS=-mod=mod
go build -o bin/gcp-server .
echo "built $(pwd)/bin/gcp-server"
