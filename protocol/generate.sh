#!/usr/bin/env bash
# Regenerates vem.pb.go and vem_grpc.pb.go from vem.proto into OUT (default:
# this directory) with Debian's protoc and the generators pinned as tools in
# go.mod. `go generate ./protocol/` and TestGeneratedUpToDate run it.
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-.}"
command -v protoc >/dev/null || { echo "protoc is needed: scripts/deps.sh generate" >&2; exit 1; }
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
go build -o "$tools/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$tools/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc
protoc --plugin=protoc-gen-go="$tools/protoc-gen-go" --plugin=protoc-gen-go-grpc="$tools/protoc-gen-go-grpc" \
	--go_out="$out" --go_opt=paths=source_relative \
	--go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
	vem.proto
