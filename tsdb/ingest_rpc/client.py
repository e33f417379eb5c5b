"""The distributor's side of `IngestService.Push`: one channel per ingester, reused."""
from __future__ import annotations

import threading

import grpc

from schemas.ingest import ingest_pb2, ingest_pb2_grpc
from tsdb.ingest_rpc.server import MAX_MESSAGE_BYTES, TENANT_KEY
from tsdb.tenancy import Tenant

PUSH_METHOD = "/mytsdb.ingest.IngestService/Push"  # as generated in schemas/ingest/ingest_pb2_grpc.py


class _Channel:
    """A channel to one ingester, its generated stub, and `Push` taking the request already
    serialised: the distributor serialises a push once and sends the same bytes to every
    replica that owns the same series."""

    def __init__(self, addr: str) -> None:
        self.channel = grpc.insecure_channel(addr, options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # Fail fast while an ingester is down instead of queueing behind reconnects.
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2000),
            # Our own subchannel, so that `forget` really dials anew (the global pool
            # would hand back the old one, still backing off).
            ("grpc.use_local_subchannel_pool", 1),
        ])
        self.stub = ingest_pb2_grpc.IngestServiceStub(self.channel)
        self.push = self.channel.unary_unary(PUSH_METHOD, request_serializer=None,
                                             response_deserializer=ingest_pb2.PushResponse.FromString)


class IngesterClients:
    """gRPC stubs by address. Channels reconnect on their own, so a restarted ingester
    at the same address is reached again without any bookkeeping here."""

    def __init__(self) -> None:
        self._channels: dict[str, _Channel] = {}
        self._lock = threading.Lock()

    def _channel(self, addr: str) -> _Channel:
        with self._lock:
            entry = self._channels.get(addr)
            if entry is None:
                entry = self._channels[addr] = _Channel(addr)
            return entry

    def stub(self, addr: str) -> ingest_pb2_grpc.IngestServiceStub:
        """The generated stub for `addr` (`.Push` takes a PushRequest)."""
        return self._channel(addr).stub

    def forget(self, addr: str, linger_s: float) -> None:
        """Drop the channel to an ingester that could not be reached, so that the next push
        dials again at once instead of waiting out gRPC's reconnect backoff. It is closed
        after `linger_s`, once pushes still using it have finished."""
        with self._lock:
            entry = self._channels.pop(addr, None)
        if entry is not None:
            timer = threading.Timer(linger_s, entry.channel.close)
            timer.daemon = True
            timer.start()

    def push_async(self, addr: str, tenant: Tenant, request: ingest_pb2.PushRequest | bytes,
                   timeout_s: float) -> grpc.Future:
        """Start a push (a PushRequest, or one serialised); the future's `result()` is a
        PushResponse or raises grpc.RpcError."""
        payload = request if isinstance(request, bytes) else request.SerializeToString()
        return self._channel(addr).push.future(payload, timeout=timeout_s, metadata=((TENANT_KEY, tenant.id),))

    def close(self) -> None:
        with self._lock:
            for entry in self._channels.values():
                entry.channel.close()
            self._channels.clear()
