#!/usr/bin/env bash
# Regenerates hub_pb2*.py from hub.proto (needs grpcio-tools, in the dev extra).
set -euo pipefail
cd "$(dirname "$0")"
python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. hub.proto
# protoc writes a top-level import; make it package-relative.
sed -i 's/^import hub_pb2 as hub__pb2/from app.backends.grpc import hub_pb2 as hub__pb2/' hub_pb2_grpc.py
