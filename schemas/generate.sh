#!/usr/bin/env sh
# Regenerate the Python protobuf (and gRPC) modules in schemas/ from the .proto files.
# Protos are compiled with the project root as the include path, so the generated
# imports read `from schemas.prompb import types_pb2` and work as a package.
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
cd "$root"
"$python" -m grpc_tools.protoc -I . --python_out=. --pyi_out=. \
    schemas/prompb/types.proto schemas/prompb/remote.proto
"$python" -m grpc_tools.protoc -I . --python_out=. --pyi_out=. --grpc_python_out=. \
    schemas/ingest/ingest.proto
"$python" -m grpc_tools.protoc -I . --python_out=. --pyi_out=. \
    schemas/flightsql/FlightSql.proto
