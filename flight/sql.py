"""Arrow Flight SQL on the Flight port: statements, prepared statements and the catalog
commands the ADBC Flight SQL driver uses, over the SQL contract (`tsdb.sql.contract`).

Commands arrive as protobuf `Any` messages (FlightSql.proto); the internal query service's
JSON tickets share the port (`flight.server`). The tenant comes from the call (header or
bearer token, `flight.server`), never from a ticket: a statement handle is bound to the
tenant that planned it, and another tenant presenting it is refused. Every statement is
checked (`tsdb.sql.guard`) and run with DDL, DML and statements disallowed, in a session
that holds only the caller's tables.
"""
from __future__ import annotations

import logging
import re
from typing import Callable

import pyarrow as pa
import pyarrow.flight as fl
from google.protobuf import any_pb2

from flight.sql_handles import Handles, Statement
from schemas.flightsql import FlightSql_pb2 as sql_pb
from tsdb.sql.contract import CATALOG, SCHEMA, TABLES
from tsdb.sql.guard import QUERY_OPTIONS, SqlRefused, check, numbered_placeholders
from tsdb.tenancy import Tenant

log = logging.getLogger(__name__)
TYPE_PREFIX = "type.googleapis.com/arrow.flight.protocol.sql."
MAX_PREPARED = 256  # prepared statements: a query and a schema each
MAX_TICKETS = 64  # planned statements not fetched yet: each holds a session with a copy of the head
TICKET_MAX_AGE_S = 300.0
# Batches go out at most this large (half of gRPC's default 4 MiB receive limit, which some
# Flight SQL clients keep; ADBC's is 16 MiB), whatever batch size DataFusion runs with.
MAX_MESSAGE_BYTES = 2 << 20

# Result schemas of the catalog commands, exactly as FlightSql.proto gives them (the ADBC
# driver checks them down to nullability).
CATALOGS_SCHEMA = pa.schema([pa.field("catalog_name", pa.utf8(), nullable=False)])
DB_SCHEMAS_SCHEMA = pa.schema([pa.field("catalog_name", pa.utf8()),
                               pa.field("db_schema_name", pa.utf8(), nullable=False)])
TABLE_TYPES_SCHEMA = pa.schema([pa.field("table_type", pa.utf8(), nullable=False)])
TABLES_SCHEMA = pa.schema([pa.field("catalog_name", pa.utf8()), pa.field("db_schema_name", pa.utf8()),
                           pa.field("table_name", pa.utf8(), nullable=False),
                           pa.field("table_type", pa.utf8(), nullable=False)])
TABLES_WITH_SCHEMA = TABLES_SCHEMA.append(pa.field("table_schema", pa.binary(), nullable=False))
_SQL_INFO_VALUE = pa.dense_union([
    pa.field("string_value", pa.utf8()), pa.field("bool_value", pa.bool_()), pa.field("bigint_value", pa.int64()),
    pa.field("int32_bitmask", pa.int32()), pa.field("string_list", pa.list_(pa.field("item", pa.utf8()))),
    pa.field("int32_to_int32_list_map", pa.map_(pa.int32(), pa.list_(pa.field("item", pa.int32())))),
])
SQL_INFO_SCHEMA = pa.schema([pa.field("info_name", pa.uint32(), nullable=False),
                             pa.field("value", _SQL_INFO_VALUE, nullable=False)])
# SqlInfo ids: server name, version, Arrow version, read only; then SQL_DDL_CATALOG/SCHEMA/TABLE.
_SQL_INFO = {0: "MyTSDB", 1: "0.1", 2: pa.__version__, 3: True, 4: True, 500: False, 501: False, 502: False}


SessionFactory = Callable[[Tenant], object]  # tenant -> datafusion.SessionContext


class FlightSqlService:
    """The Flight SQL half of a Flight server; `session(tenant)` builds the tenant's context.
    `roots` are the server's own directories, which no string literal may name
    (`tsdb.sql.guard.storage_roots`).

    Every `GetFlightInfo` of a statement plans it on a fresh session (a prepared statement
    too: executed later, it reads the data of then) and hands out a one-use ticket."""

    def __init__(self, session: SessionFactory, roots: tuple[str, ...] = ()) -> None:
        self.session = session
        self.roots = roots
        self.prepared = Handles(MAX_PREPARED)
        self.tickets = Handles(MAX_TICKETS, TICKET_MAX_AGE_S)

    # -- entry points (called by flight.server) ------------------------------------------

    @staticmethod
    def accepts(data: bytes) -> bool:
        return not data.startswith(b"{")

    def get_flight_info(self, tenant: Tenant, descriptor: fl.FlightDescriptor) -> fl.FlightInfo:
        cmd = _unpack(descriptor.command)
        name = cmd.DESCRIPTOR.name
        if name in ("CommandStatementQuery", "CommandPreparedStatementQuery"):
            if name == "CommandStatementQuery":
                stmt = self._plan(tenant, cmd.query)
            else:
                prepared = self.prepared.get(tenant, cmd.prepared_statement_handle)
                stmt = self._plan(tenant, prepared.query, prepared.params)
            ticket = _pack(sql_pb.TicketStatementQuery(statement_handle=self.tickets.add(stmt)))
            return self._info(descriptor, ticket, stmt.schema)
        return self._info(descriptor, descriptor.command, self._catalog_schema(cmd))

    def get_schema(self, tenant: Tenant, descriptor: fl.FlightDescriptor) -> fl.SchemaResult:
        """A statement's result schema, planned but not kept."""
        cmd = _unpack(descriptor.command)
        name = cmd.DESCRIPTOR.name
        if name == "CommandStatementQuery":
            return fl.SchemaResult(self._plan(tenant, cmd.query).schema)
        if name == "CommandPreparedStatementQuery":
            return fl.SchemaResult(self.prepared.get(tenant, cmd.prepared_statement_handle).schema)
        return fl.SchemaResult(self._catalog_schema(cmd))

    def do_get(self, tenant: Tenant, ticket: bytes) -> fl.FlightDataStream:
        cmd = _unpack(ticket)
        name = cmd.DESCRIPTOR.name
        if name == "TicketStatementQuery":
            stmt = self.tickets.get(tenant, cmd.statement_handle, take=True)
            df = stmt.session.sql_with_options(stmt.query, QUERY_OPTIONS, param_values=stmt.param_values())
            reader = pa.RecordBatchReader.from_batches(stmt.schema, _batches(df, stmt.schema))
            return fl.RecordBatchStream(reader)
        return fl.RecordBatchStream(self._catalog_table(tenant, cmd))

    def do_action(self, tenant: Tenant, action: fl.Action) -> list[bytes]:
        if action.type == "CreatePreparedStatement":
            req = _unpack(action.body.to_pybytes(), sql_pb.ActionCreatePreparedStatementRequest)
            planned = self._plan(tenant, req.query)
            handle = self.prepared.add(Statement(tenant, planned.query, planned.schema))
            result = sql_pb.ActionCreatePreparedStatementResult(
                prepared_statement_handle=handle, dataset_schema=planned.schema.serialize().to_pybytes())
            return [_pack(result)]
        if action.type == "ClosePreparedStatement":
            req = _unpack(action.body.to_pybytes(), sql_pb.ActionClosePreparedStatementRequest)
            self.prepared.close(tenant, req.prepared_statement_handle)
            return []
        raise NotImplementedError(f"Flight SQL action {action.type!r} is not supported")

    def do_put(self, tenant: Tenant, descriptor: fl.FlightDescriptor, reader, writer) -> None:
        """Parameters for a prepared statement (`CommandPreparedStatementQuery`): one row,
        its columns in placeholder order (`?` or `$1`, `$2`, …), kept for the statement's
        next executions. The handle stays the same, so the answer repeats it."""
        cmd = _unpack(descriptor.command)
        if cmd.DESCRIPTOR.name != "CommandPreparedStatementQuery":
            raise NotImplementedError(f"Flight SQL {cmd.DESCRIPTOR.name} is not supported: queries only")
        rows = reader.read_all()
        if rows.num_rows > 1:
            raise SqlRefused(f"one row of parameters per execution, not {rows.num_rows}")
        params = {str(i + 1): column[0] for i, column in enumerate(rows.columns)} if rows.num_rows else {}
        self.prepared.bind(tenant, cmd.prepared_statement_handle, params)
        result = sql_pb.DoPutPreparedStatementResult(prepared_statement_handle=cmd.prepared_statement_handle)
        writer.write(pa.py_buffer(result.SerializeToString()))

    # -- statements ----------------------------------------------------------------------

    def _plan(self, tenant: Tenant, query: str, params: dict[str, pa.Scalar] | None = None) -> Statement:
        """Check and plan `query` for `tenant` on a fresh session (`?` parameters numbered
        as DataFusion's `$1`, `$2`, …; a prepared statement is planned before its
        parameters are bound)."""
        check(query, self.roots)
        query = numbered_placeholders(query)
        ctx = self.session(tenant)
        try:
            schema = ctx.sql_with_options(query, QUERY_OPTIONS, param_values=dict(params) if params else None).schema()
        except Exception as e:  # DataFusion's planning errors: the user's SQL is wrong
            raise SqlRefused(error_text(e)) from None
        return Statement(tenant, query, schema, ctx, params)

    @staticmethod
    def _info(descriptor: fl.FlightDescriptor, ticket: bytes, schema: pa.Schema) -> fl.FlightInfo:
        return fl.FlightInfo(schema, descriptor, [fl.FlightEndpoint(ticket, [])], -1, -1)

    # -- catalog commands -----------------------------------------------------------------

    def _catalog_schema(self, cmd) -> pa.Schema:
        name = cmd.DESCRIPTOR.name
        schemas = {"CommandGetCatalogs": CATALOGS_SCHEMA, "CommandGetDbSchemas": DB_SCHEMAS_SCHEMA,
                   "CommandGetTableTypes": TABLE_TYPES_SCHEMA, "CommandGetSqlInfo": SQL_INFO_SCHEMA}
        if name == "CommandGetTables":
            return TABLES_WITH_SCHEMA if cmd.include_schema else TABLES_SCHEMA
        if name not in schemas:
            raise NotImplementedError(f"Flight SQL command {name} is not supported")
        return schemas[name]

    def _catalog_table(self, tenant: Tenant, cmd) -> pa.Table:
        name = cmd.DESCRIPTOR.name
        schema = self._catalog_schema(cmd)
        if name == "CommandGetCatalogs":
            return pa.table([[CATALOG]], schema=schema)
        if name == "CommandGetDbSchemas":
            keep = _matches(cmd, "catalog", CATALOG) and _like(cmd, "db_schema_filter_pattern", SCHEMA)
            return pa.table([[CATALOG] * keep, [SCHEMA] * keep], schema=schema)
        if name == "CommandGetTableTypes":
            return pa.table([["VIEW"]], schema=schema)
        if name == "CommandGetSqlInfo":
            return _sql_info(list(cmd.info))
        tables = [t for t in TABLES if _matches(cmd, "catalog", CATALOG)
                  and _like(cmd, "db_schema_filter_pattern", SCHEMA)
                  and _like(cmd, "table_name_filter_pattern", t) and (not cmd.table_types or "VIEW" in cmd.table_types)]
        columns = [[CATALOG] * len(tables), [SCHEMA] * len(tables), tables, ["VIEW"] * len(tables)]
        if cmd.include_schema:
            ctx = self.session(tenant)
            columns.append([ctx.table(t).schema().serialize().to_pybytes() for t in tables])
        return pa.table(columns, schema=schema)


def _batches(df, schema: pa.Schema):
    """The statement's batches; an error while running it (the stream has started, so no
    handler wraps it any more) is the statement's fault, INVALID_ARGUMENT as when planning."""
    try:
        for batch in df.execute_stream():
            rb = batch.to_pyarrow()
            yield from _sliced(rb if rb.schema == schema else rb.cast(schema))
    except Exception as e:
        log.info("flight sql statement failed while streaming: %s", e)
        raise pa.ArrowInvalid(error_text(e)) from None


def _sliced(batch: pa.RecordBatch):
    """`batch` in zero-copy slices of at most about MAX_MESSAGE_BYTES."""
    size = batch.nbytes
    if size <= MAX_MESSAGE_BYTES or batch.num_rows < 2:
        yield batch
        return
    rows = max(1, batch.num_rows * MAX_MESSAGE_BYTES // size)
    for offset in range(0, batch.num_rows, rows):
        yield batch.slice(offset, rows)


def error_text(e: Exception) -> str:
    """DataFusion's error, first line; a Python error raised inside it (a table function's)
    without the traceback DataFusion wraps around it."""
    text = str(e).strip()
    inner = re.search(r'value: \w+\("((?:[^"\\]|\\.)*)"\)', text)
    if inner:
        return inner.group(1)
    return text.splitlines()[0] if text else type(e).__name__


def _sql_info(ids: list[int]) -> pa.Table:
    wanted = [i for i in (ids or sorted(_SQL_INFO)) if i in _SQL_INFO]
    values = [_SQL_INFO[i] for i in wanted]
    is_bool = [isinstance(v, bool) for v in values]
    strings = pa.array([v for v, b in zip(values, is_bool) if not b], pa.utf8())
    bools = pa.array([v for v, b in zip(values, is_bool) if b], pa.bool_())
    types = pa.array([1 if b else 0 for b in is_bool], pa.int8())
    offsets, counters = [], [0, 0]
    for b in is_bool:
        offsets.append(counters[b])
        counters[b] += 1
    children = [strings, bools, pa.array([], pa.int64()), pa.array([], pa.int32()),
                pa.array([], _SQL_INFO_VALUE[4].type), pa.array([], _SQL_INFO_VALUE[5].type)]
    union = pa.UnionArray.from_dense(types, pa.array(offsets, pa.int32()), children,
                                     [f.name for f in _SQL_INFO_VALUE], list(range(6)))
    return pa.table([pa.array(wanted, pa.uint32()), union], schema=SQL_INFO_SCHEMA)


def _matches(cmd, field: str, value: str) -> bool:
    return not cmd.HasField(field) or getattr(cmd, field) in ("", value)


def _like(cmd, field: str, value: str) -> bool:
    """SQL LIKE of Flight SQL's filter patterns (`%`, `_`)."""
    if not cmd.HasField(field):
        return True
    pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in getattr(cmd, field))
    return re.fullmatch(pattern, value) is not None


def _pack(message) -> bytes:
    a = any_pb2.Any()
    a.Pack(message)
    return a.SerializeToString()


def _unpack(data: bytes, expected=None):
    a = any_pb2.Any()
    try:
        a.ParseFromString(data)
    except Exception:
        raise SqlRefused("not a Flight SQL command") from None
    if not a.type_url.startswith(TYPE_PREFIX):
        raise SqlRefused(f"not a Flight SQL command: {a.type_url or 'empty'}")
    cls = getattr(sql_pb, a.type_url[len(TYPE_PREFIX):], None)
    if cls is None or (expected is not None and cls is not expected):
        raise NotImplementedError(f"Flight SQL message {a.type_url[len(TYPE_PREFIX):]} is not supported")
    msg = cls()
    a.Unpack(msg)
    return msg
