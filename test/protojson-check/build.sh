#!/usr/bin/env bash
# Builds the proto3 JSON checker into bin/protojson-check. Modules come from the Go module proxy as pinned by
# go.mod/go.sum (nothing is vendored). Safe to run again: go build only redoes what changed.
set -euo pipefail
cd "$(dirname "$0")"
export GOFLAGS=-mod=mod
go build -o bin/protojson-check .
echo "built $(pwd)/bin/protojson-check"
