"""`POST /api/v1/push` (Mimir) and `/api/v1/write` (Prometheus): remote write 1.0."""
from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from tsdb.api.common import tenant_error_response, tenant_of
from tsdb.distributor import Distributor
from tsdb.metrics import Metrics
from tsdb.tenancy import TenantError

RW2_MARKER = "io.prometheus.write.v2.request"


def _text(status: int, message: str) -> Response:
    return Response(message + "\n" if message else b"", status_code=status, media_type="text/plain; charset=utf-8")


class BodyTooLarge(Exception):
    pass


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing to buffer more than `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


def make_push_handler(distributor: Distributor, metrics: Metrics, multitenancy_enabled: bool):
    limit = distributor.cfg.distributor.max_recv_msg_size

    async def push(request: Request) -> Response:
        with metrics.push_seconds.time():
            response = await _handle(request)
        metrics.received_requests.labels(str(response.status_code)).inc()
        return response

    async def _handle(request: Request) -> Response:
        try:
            tenant = tenant_of(request, multitenancy_enabled)
        except TenantError as e:
            return tenant_error_response(e)
        content_type = request.headers.get("content-type", "").lower().replace(" ", "")
        if RW2_MARKER in content_type:
            return _text(415, "remote write 2.0 (io.prometheus.write.v2.Request) is not supported yet; "
                              "send prometheus.WriteRequest (remote write 1.0)")
        if content_type and not content_type.startswith("application/x-protobuf"):
            return _text(415, f"unsupported content type {request.headers.get('content-type')!r}; "
                              "expected application/x-protobuf")
        encoding = request.headers.get("content-encoding", "snappy").lower()
        if encoding != "snappy":
            return _text(415, f"unsupported compression: {encoding}. Only snappy is supported")
        try:
            body = await read_limited(request, limit)
        except BodyTooLarge as e:
            return _text(413, f"the incoming push request has been rejected because its message size of "
                              f"{e.args[0]} bytes is larger than the allowed limit of {limit} bytes "
                              f"(err-mimir-distributor-max-write-message-size)")
        outcome = await run_in_threadpool(distributor.push, tenant, body)
        return _text(outcome.status, outcome.message)

    return push
