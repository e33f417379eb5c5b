"""Flight SQL's statement handles: bounded, each bound to the tenant that made it.

Two kinds: a prepared statement keeps its query, result schema and bound parameters until
closed; a ticket
(what `GetFlightInfo` hands out) also keeps the DataFusion session it was planned on, so
the `DoGet` reads the data the plan saw, and is taken by that one `DoGet`. A session holds
a copy of the tenant's recent (head) data, so a ticket nobody fetches expires after
`max_age_s`, and at most `capacity` are kept (enough for as many clients at once).
"""
from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

import pyarrow as pa

from tsdb.sql.guard import SqlRefused
from tsdb.tenancy import Tenant


@dataclass(frozen=True)
class Statement:
    tenant: Tenant
    query: str
    schema: pa.Schema
    session: object | None = None  # a datafusion.SessionContext, for tickets
    params: dict[str, pa.Scalar] | None = None  # bound parameters, `$1` as "1"

    def param_values(self) -> dict[str, pa.Scalar] | None:
        return dict(self.params) if self.params else None


class Handles:
    """At most `capacity` statements, none older than `max_age_s`, the oldest expiring first."""

    def __init__(self, capacity: int, max_age_s: float | None = None) -> None:
        self.capacity = capacity
        self.max_age_s = max_age_s
        self._items: OrderedDict[bytes, tuple[Statement, float]] = OrderedDict()  # with when it was made
        self._lock = threading.Lock()

    def add(self, stmt: Statement) -> bytes:
        handle = uuid.uuid4().bytes
        now = time.monotonic()
        with self._lock:
            self._items[handle] = (stmt, now)
            while len(self._items) > self.capacity or self._expired(now):
                self._items.popitem(last=False)
        return handle

    def _expired(self, now: float) -> bool:
        """Whether the oldest statement is past its age."""
        if self.max_age_s is None or not self._items:
            return False
        return now - next(iter(self._items.values()))[1] > self.max_age_s

    def get(self, tenant: Tenant, handle: bytes, take: bool = False) -> Statement:
        """The statement of `handle`; another tenant's handle is as good as none. `take`
        removes it."""
        with self._lock:
            stmt = self._items.get(handle, (None, 0.0))[0]
            if stmt is None or stmt.tenant != tenant:
                raise SqlRefused("unknown or expired statement handle")
            if take:
                del self._items[handle]
        return stmt

    def bind(self, tenant: Tenant, handle: bytes, params: dict[str, pa.Scalar]) -> None:
        """Bind `params` to the statement of `handle` for its next executions."""
        with self._lock:
            stmt, made = self._items.get(handle, (None, 0.0))
            if stmt is None or stmt.tenant != tenant:
                raise SqlRefused("unknown or expired statement handle")
            self._items[handle] = (dataclasses.replace(stmt, params=params), made)

    def close(self, tenant: Tenant, handle: bytes) -> None:
        with self._lock:
            stmt = self._items.get(handle, (None, 0.0))[0]
            if stmt is not None and stmt.tenant == tenant:
                del self._items[handle]

    def __len__(self) -> int:
        return len(self._items)
