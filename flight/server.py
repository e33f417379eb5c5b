"""The internal query service over Arrow Flight (DESIGN §6's `StorageQueryService`).

`DoGet` takes a select ticket and streams the matching series, one row per series with
its samples as lists; actions answer series, label names and values, and metadata. The
tenant comes only from the `x-scope-orgid` call header. Tickets are JSON objects; Flight
SQL (`flight.sql`, protobuf `Any` commands and tickets) shares the port when given.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time

import orjson
import pyarrow as pa
import pyarrow.flight as fl
from prometheus_client import CollectorRegistry, Counter, Histogram

from flight.backend import BadRequest, QueryBackend
from flight.errors import to_flight
from flight.sql import FlightSqlService, error_text
from tsdb.sql.guard import SqlRefused
from flight.wire import SERIES_DATA_SCHEMA, Request, series_set_batches
from tsdb.head import to_ipc
from tsdb.tenancy import Tenant, TenantError

log = logging.getLogger(__name__)
TENANT_HEADER = "x-scope-orgid"
SQL_ACTIONS = ("CreatePreparedStatement", "ClosePreparedStatement")


class _TenantMiddleware(fl.ServerMiddleware):
    def __init__(self, tenant: Tenant | None, error: str | None, token: str | None = None) -> None:
        self.tenant, self.error, self.token = tenant, error, token


class _TenantMiddlewareFactory(fl.ServerMiddlewareFactory):
    def start_call(self, info, headers):
        auth = headers.get("authorization", [])
        token = auth[0][len("Bearer "):].strip() if len(auth) == 1 and auth[0].startswith("Bearer ") else None
        values = headers.get(TENANT_HEADER, [])
        if len(values) != 1:
            return _TenantMiddleware(None, "no org id" if not values else "more than one org id", token)
        try:
            return _TenantMiddleware(Tenant.parse(values[0]), None, token)
        except TenantError as e:
            return _TenantMiddleware(None, str(e), token)


class QueryFlightServer(fl.FlightServerBase):
    def __init__(self, location: str, backend: QueryBackend, registry: CollectorRegistry | None = None,
                 max_samples_per_batch: int = 1 << 20, sql: FlightSqlService | None = None,
                 sql_tokens: dict[str, str] | None = None) -> None:
        super().__init__(location, middleware={"tenant": _TenantMiddlewareFactory()})
        self.backend = backend
        self.sql = sql
        self.sql_tokens = sql_tokens or {}
        self.max_samples_per_batch = max_samples_per_batch
        self._thread: threading.Thread | None = None
        self.requests = Counter("mytsdb_flight_requests_total", "Internal Flight requests by kind and outcome.",
                                ["kind", "outcome"], registry=registry) if registry is not None else None
        self.seconds = Histogram("mytsdb_flight_request_duration_seconds", "Internal Flight request time.",
                                 ["kind"], registry=registry) if registry is not None else None

    def serve_in_thread(self) -> None:
        self._thread = threading.Thread(target=self.serve, name="flight", daemon=True)
        self._thread.start()

    def _tenant(self, context) -> Tenant:
        mw = context.get_middleware("tenant")
        if mw is None or mw.tenant is None:
            raise to_flight("unauthenticated", mw.error if mw else "no org id", unauthenticated=True)
        return mw.tenant

    @contextlib.contextmanager
    def _measured(self, kind: str):
        """Count the call by kind and outcome, and time it."""
        t0 = time.perf_counter()
        outcome = ["error"]
        try:
            yield outcome
        finally:
            if self.requests is not None:
                self.requests.labels(kind, outcome[0]).inc()
                self.seconds.labels(kind).observe(time.perf_counter() - t0)

    def _run(self, kind: str, work):
        """The internal service's errors carry Prometheus' error type (`flight.errors`)."""
        with self._measured(kind) as outcome:
            try:
                result = work()
                outcome[0] = "success"
                return result
            except fl.FlightError:
                raise
            except (BadRequest, ValueError) as e:
                raise to_flight("bad_data", str(e)) from None
            except Exception as e:
                error_type = getattr(e, "error_type", None)
                if isinstance(error_type, str):
                    raise to_flight(error_type, getattr(e, "message", None) or str(e)) from None
                log.exception("flight %s failed", kind)
                raise to_flight("internal", str(e) or type(e).__name__) from None

    def _sql_tenant(self, context) -> Tenant:
        """Flight SQL's caller: from a bearer token when tokens are configured, else the header."""
        if not self.sql_tokens:
            return self._tenant(context)
        mw = context.get_middleware("tenant")
        tenant = self.sql_tokens.get(mw.token) if mw is not None and mw.token else None
        if tenant is None:
            raise fl.FlightUnauthenticatedError("Flight SQL needs `authorization: Bearer <token>` with a known token")
        return Tenant.parse(tenant)

    def _run_sql(self, kind: str, work):
        """Flight SQL's errors are gRPC statuses with plain messages: INVALID_ARGUMENT for bad or
        refused SQL, UNIMPLEMENTED for what is not supported."""
        with self._measured(kind) as outcome:
            try:
                result = work()
                outcome[0] = "success"
                return result
            except (fl.FlightError, NotImplementedError):
                raise
            except SqlRefused as e:
                raise pa.ArrowInvalid(str(e)) from None
            except Exception as e:  # DataFusion's execution errors: the statement's fault
                log.info("flight sql %s failed: %s", kind, e)
                raise pa.ArrowInvalid(error_text(e)) from None

    def get_flight_info(self, context, descriptor):
        if self.sql is None:
            raise NotImplementedError("Flight SQL is not served here")
        tenant = self._sql_tenant(context)
        return self._run_sql("sql_flight_info", lambda: self.sql.get_flight_info(tenant, descriptor))

    def get_schema(self, context, descriptor):
        if self.sql is None:
            raise NotImplementedError("Flight SQL is not served here")
        tenant = self._sql_tenant(context)
        return self._run_sql("sql_schema", lambda: self.sql.get_schema(tenant, descriptor))

    def do_get(self, context, ticket):
        if self.sql is not None and self.sql.accepts(ticket.ticket):
            tenant = self._sql_tenant(context)
            return self._run_sql("sql_get", lambda: self.sql.do_get(tenant, ticket.ticket))
        tenant = self._tenant(context)

        def work():
            req = Request.decode(ticket.ticket)
            if req.kind != "select" or len(req.matcher_sets) != 1:
                raise ValueError("a ticket must be a select with one matcher set")
            result = self.backend.select(tenant, list(req.matcher_sets[0]), req.start_ms, req.end_ms,
                                         list(req.files) if req.files is not None else None, req.after_seq)
            batches = list(series_set_batches(result, self.max_samples_per_batch))
            return fl.RecordBatchStream(pa.Table.from_batches(batches, SERIES_DATA_SCHEMA))
        return self._run("select", work)

    def do_put(self, context, descriptor, reader, writer):
        if self.sql is None:
            raise NotImplementedError("Flight SQL is not served here")
        tenant = self._sql_tenant(context)
        return self._run_sql("sql_put", lambda: self.sql.do_put(tenant, descriptor, reader, writer))

    def do_action(self, context, action):
        if action.type == "health":
            return [b"ok"]
        if self.sql is not None and action.type in SQL_ACTIONS:
            sql_tenant = self._sql_tenant(context)
            return self._run_sql("sql_action", lambda: self.sql.do_action(sql_tenant, action))
        tenant = self._tenant(context)

        def work():
            req = Request.decode(action.body.to_pybytes())
            files = list(req.files) if req.files is not None else None
            sets = [list(s) for s in req.matcher_sets]
            if action.type == "series":
                return [to_ipc(self.backend.series(tenant, sets, req.start_ms, req.end_ms, files, req.after_seq))]
            if action.type == "label_names":
                return [orjson.dumps(self.backend.label_names(tenant, sets, req.start_ms, req.end_ms, files,
                                                              req.after_seq))]
            if action.type == "label_values":
                if req.name is None:
                    raise ValueError("label_values needs a name")
                return [orjson.dumps(self.backend.label_values(tenant, req.name, sets, req.start_ms, req.end_ms,
                                                               files, req.after_seq))]
            if action.type == "metadata":
                return [orjson.dumps(self.backend.metadata(tenant))]
            raise ValueError(f"unknown action {action.type!r}")
        return self._run(action.type, work)

    def list_actions(self, context):
        sql = [(a, "Flight SQL") for a in SQL_ACTIONS] if self.sql is not None else []
        return [("health", "liveness"), ("series", "series (IPC)"), ("label_names", "JSON list"),
                ("label_values", "JSON list"), ("metadata", "metric metadata (JSON)")] + sql
