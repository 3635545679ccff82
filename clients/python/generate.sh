#!/usr/bin/env bash
# Generates the Python gRPC stubs of the ModelOps protos into clients/python/modelops/ with Debian's protoc
# (protobuf-compiler) and grpc_python_plugin (protobuf-compiler-grpc), so that they match Debian's python3-grpcio
# and python3-protobuf. The well-known types (google/protobuf/*.proto) come from the Grpc.Tools package that
# `dotnet restore` put in the NuGet cache. Safe to run again.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

packages="${NUGET_PACKAGES:-$(dotnet nuget locals global-packages --list | sed 's/^global-packages: //')}"
include="$(find "$packages/grpc.tools" -path '*/build/native/include' -type d 2>/dev/null | sort -V | tail -n1)"
if [ -z "$include" ] || [ ! -f "$include/google/protobuf/timestamp.proto" ]; then
  echo "generate.sh: google/protobuf/timestamp.proto not found under $packages/grpc.tools: run 'dotnet restore' first" >&2
  exit 1
fi

out="$here"
rm -rf "$out/modelops/tracking" "$out/modelops/registry" "$out/modelops/fairness" "$out/modelops/explainability" "$out/modelops/drift" "$out/modelops/alerting" "$out/modelops/_rpc_pb2.py"
protoc -I "$root/protos" -I "$include" --python_out="$out" --grpc_out="$out" \
  --plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin \
  "$root/protos/modelops/tracking/v1/tracking.proto" "$root/protos/modelops/registry/v1/registry.proto" \
  "$root/protos/modelops/fairness/v1/fairness.proto" "$root/protos/modelops/explainability/v1/explainability.proto" \
  "$root/protos/modelops/drift/v1/drift.proto" "$root/protos/modelops/alerting/v1/alerting.proto"
protoc -I "$here/protos" -I "$include" --python_out="$out/modelops" "$here/protos/_rpc.proto"
echo "generate.sh: stubs written under $out/modelops"
