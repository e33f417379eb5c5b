"""The querier's client of the internal query service."""
from __future__ import annotations

import threading
from typing import Sequence

import orjson
import pyarrow as pa
import pyarrow.flight as fl

from flight.errors import BackendUnavailable, from_flight
from flight.server import TENANT_HEADER
from flight.wire import Request, series_set_from_table
from promql.engine.source import SeriesSet
from promql.matchers import Matcher
from tsdb.head import from_ipc
from tsdb.tenancy import Tenant


# Short reconnect backoff: a peer that died is retried within a second once it is back.
RECONNECT_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.min_reconnect_backoff_ms", 100),
                     ("grpc.max_reconnect_backoff_ms", 1000),
                     # Not gRPC's process-wide subchannel pool: a reset client must dial anew.
                     ("grpc.use_local_subchannel_pool", 1)]


class QueryClient:
    """One Flight connection per server, shared by threads (gRPC channels are)."""

    def __init__(self, addr: str, timeout_s: float = 30.0) -> None:
        self.addr = addr
        self.timeout_s = timeout_s
        self._client: fl.FlightClient | None = None
        self._lock = threading.Lock()

    def _conn(self) -> fl.FlightClient:
        with self._lock:
            if self._client is None:
                self._client = fl.FlightClient(f"grpc+tcp://{self.addr}", generic_options=RECONNECT_OPTIONS)
            return self._client

    def _reset(self) -> None:
        """Forget a channel that could not connect: a restarted server is reached on the next call
        instead of after gRPC's reconnect backoff, which grows to minutes."""
        with self._lock:
            self._client = None  # not closed: other threads may still be using it; GC closes it

    def _failed(self, e: Exception) -> Exception:
        err = from_flight(e)
        if isinstance(err, BackendUnavailable):
            self._reset()
        return err

    def _options(self, tenant: Tenant | None) -> fl.FlightCallOptions:
        headers = [(TENANT_HEADER.encode(), tenant.id.encode())] if tenant is not None and tenant.id else []
        return fl.FlightCallOptions(timeout=self.timeout_s, headers=headers)

    def _action(self, tenant: Tenant | None, kind: str, request: Request | None) -> bytes:
        body = request.encode() if request is not None else b""
        try:
            results = list(self._conn().do_action(fl.Action(kind, body), self._options(tenant)))
        except (fl.FlightError, OSError) as e:
            raise self._failed(e) from None
        return results[0].body.to_pybytes() if results else b""

    def select(self, tenant: Tenant, matchers: Sequence[Matcher], start_ms: int, end_ms: int,
               files: Sequence[str] | None = None, after_seq: int | None = None) -> SeriesSet:
        req = Request("select", (tuple(matchers),), start_ms, end_ms, tuple(files) if files is not None else None,
                      after_seq=after_seq)
        try:
            table = self._conn().do_get(fl.Ticket(req.encode()), self._options(tenant)).read_all()
        except (fl.FlightError, OSError) as e:
            raise self._failed(e) from None
        return series_set_from_table(table)

    def _labels_request(self, kind, matcher_sets, start_ms, end_ms, files, name=None, after_seq=None) -> Request:
        return Request(kind, tuple(tuple(ms) for ms in matcher_sets), start_ms, end_ms,
                       tuple(files) if files is not None else None, name, after_seq)

    def series(self, tenant: Tenant, matcher_sets, start_ms: int, end_ms: int, files=None,
               after_seq: int | None = None) -> pa.Table:
        return from_ipc(self._action(tenant, "series", self._labels_request(
            "series", matcher_sets, start_ms, end_ms, files, after_seq=after_seq)))

    def label_names(self, tenant: Tenant, matcher_sets, start_ms: int, end_ms: int, files=None,
                    after_seq: int | None = None) -> list[str]:
        return orjson.loads(self._action(tenant, "label_names", self._labels_request(
            "label_names", matcher_sets, start_ms, end_ms, files, after_seq=after_seq)))

    def label_values(self, tenant: Tenant, name: str, matcher_sets, start_ms: int, end_ms: int,
                     files=None, after_seq: int | None = None) -> list[str]:
        return orjson.loads(self._action(tenant, "label_values", self._labels_request(
            "label_values", matcher_sets, start_ms, end_ms, files, name, after_seq)))

    def metadata(self, tenant: Tenant) -> dict[str, list[dict]]:
        return orjson.loads(self._action(tenant, "metadata", Request("metadata")))

    def health(self) -> bool:
        try:
            return self._action(None, "health", None) == b"ok"
        except Exception:
            return False

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
