#!/usr/bin/env bash
# Builds the Envoy validation checker into bin/envoy-validate. Modules come from the Go module proxy as pinned
# by go.mod/go.sum (nothing is vendored). Safe to run again: go build only redoes what changed.
set -euo pipefail
cd "$(dirname "$0")"
export GOFLAGS=-mod=mod
go build -o bin/envoy-validate .
echo "built $(pwd)/bin/envoy-validate"
