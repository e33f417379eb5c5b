"""The ingester's side of `IngestService.Push`: a thin gRPC wrapper of `Ingester.append`."""
from __future__ import annotations

import logging
from concurrent import futures
from typing import Callable

import grpc

from schemas.ingest import ingest_pb2, ingest_pb2_grpc
from tsdb.ingest_rpc.codec import decode_metadata, decode_push, encode_result
from tsdb.ingester import Ingester
from tsdb.metrics import Metrics
from tsdb.tenancy import Tenant, TenantError

log = logging.getLogger(__name__)

TENANT_KEY = "x-scope-orgid"
MAX_MESSAGE_BYTES = 512 * 1024 * 1024  # a push never exceeds the distributor's body limit by much


def tenant_from_metadata(context: grpc.ServicerContext) -> Tenant:
    """The call's tenant; aborts the call with UNAUTHENTICATED when it is missing or invalid."""
    values = [v for k, v in context.invocation_metadata() if k == TENANT_KEY]
    if len(values) != 1:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "no org id" if not values else "more than one org id")
    try:
        return Tenant.parse(values[0])
    except TenantError as e:
        context.abort(grpc.StatusCode.UNAUTHENTICATED, str(e))
        raise  # unreachable: abort raises


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self, ingester: Ingester, metrics: Metrics, accepting: Callable[[], bool]) -> None:
        self.ingester = ingester
        self.metrics = metrics
        self.accepting = accepting

    def Push(self, request: ingest_pb2.PushRequest, context: grpc.ServicerContext) -> ingest_pb2.PushResponse:
        tenant = tenant_from_metadata(context)
        if not self.accepting():
            context.abort(grpc.StatusCode.UNAVAILABLE, "ingester is not accepting writes (starting or leaving)")
        try:
            batch = decode_push(request)
        except ValueError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        self.ingester.record_metadata(tenant, decode_metadata(request))
        result = self.ingester.append(tenant, batch)
        self.metrics.ingested_samples.labels(tenant.id).inc(result.accepted)
        return encode_result(result)


def serve_ingest(servicer: IngestServicer, address: str, max_workers: int = 16) -> grpc.Server:
    """Start a gRPC server for `servicer` on `address` (host:port); the caller stops it."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers, thread_name_prefix="grpc-push"), options=[
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ])
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)
    if server.add_insecure_port(address) == 0:
        raise OSError(f"cannot listen for gRPC on {address}")
    server.start()
    log.info("gRPC IngestService on %s", address)
    return server
