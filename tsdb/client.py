"""A Python client for MyTSDB's HTTP API (and its Flight port for large exports), whose
results become tidy pandas or polars frames.

    from tsdb.client import Client
    c = Client("http://127.0.0.1:9009", tenant="team-a")
    df = c.query_range('rate(http_requests_total[5m])', start, end, "1m").to_pandas()
    pl = c.export('{job="api"}', start, end).to_polars()
    # Flight for large exports: Client(..., flight_url="grpc+tcp://127.0.0.1:8815")

Tidy means long: one row per sample, `timestamp` (datetime64[ms, UTC]), `value`, and one
column per label (`metric` for `__name__`; a label named like a fixed column is
`__label_<name>`, the Parquet layout's rule). Times are datetimes, unix seconds or RFC 3339.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from promql.engine.source import SeriesSet
from tsdb.query.tidy import Tidy, tidy_table


class ClientError(RuntimeError):
    """The server refused a request: `status`, Prometheus' `error_type`, and its message."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(f"{status} {error_type}: {message}")
        self.status, self.error_type, self.message = status, error_type, message


@dataclass(frozen=True)
class Result:
    """A tidy result: `to_arrow()`, `to_pandas()`, `to_polars()`."""

    table: pa.Table

    def to_arrow(self) -> pa.Table:
        return self.table

    def to_pandas(self):
        return self.table.to_pandas()

    def to_polars(self):
        import polars as pl

        return pl.from_arrow(self.table)

    def __len__(self) -> int:
        return self.table.num_rows


class Client:
    def __init__(self, url: str, tenant: str | None = None, flight_url: str | None = None,
                 timeout_s: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.tenant = tenant
        self.flight_url = flight_url
        self.timeout_s = timeout_s

    # -- the Prometheus API --------------------------------------------------------------

    def query(self, query: str, time: Any = None) -> Result:
        data = self._json("/api/v1/query", {"query": query, **({"time": _time(time)} if time is not None else {})})
        return Result(_prometheus_result(data))

    def query_range(self, query: str, start: Any, end: Any, step: str | float) -> Result:
        data = self._json("/api/v1/query_range", {"query": query, "start": _time(start), "end": _time(end),
                                                  "step": str(step)})
        return Result(_prometheus_result(data))

    def series(self, match: str | list[str], start: Any = None, end: Any = None) -> Result:
        """One row per series: `metric` and a column per label."""
        params = {"match[]": [match] if isinstance(match, str) else match}
        params.update({k: _time(v) for k, v in (("start", start), ("end", end)) if v is not None})
        labels = self._json("/api/v1/series", params)
        empty = np.zeros(0)
        tidy = Tidy.of(SeriesSet(labels, np.zeros(len(labels) + 1, np.int64), empty.astype(np.int64), empty))
        return Result(pa.Table.from_arrays(list(tidy.per_series), schema=pa.schema(list(tidy.schema)[:-2])))

    # -- raw samples -----------------------------------------------------------------------

    def export(self, match: str | list[str], start: Any, end: Any, format: str = "arrow") -> Result:
        """Raw samples of the matching series: over Flight when `flight_url` is set, else
        `GET /api/v1/export` as an Arrow stream (decoded batch by batch as it arrives) or
        as Parquet (`format="parquet"`: smaller on the wire, read once it is whole)."""
        matches = [match] if isinstance(match, str) else list(match)
        if self.flight_url:
            return Result(self._flight_export(matches, _ms(start), _ms(end)))
        if format not in ("arrow", "parquet"):
            raise ValueError(f"format must be 'arrow' or 'parquet', not {format!r}")
        params = {"match[]": matches, "start": _time(start), "end": _time(end), "format": format}
        with self._open("/api/v1/export", params) as body:
            if format == "arrow":
                return Result(ipc.open_stream(body).read_all())
            return Result(pq.read_table(pa.BufferReader(body.read())))

    def _flight_export(self, matches: list[str], start_ms: int, end_ms: int) -> pa.Table:
        import promql
        from flight.client import QueryClient
        from tsdb.query.merge import merge_sets
        from tsdb.tenancy import Tenant

        client = QueryClient(self.flight_url.removeprefix("grpc+tcp://").removeprefix("grpc://"), self.timeout_s)
        try:
            tenant = Tenant.parse(self.tenant or "anonymous")
            sets = [client.select(tenant, promql.parse_series_selector(m).matchers, start_ms, end_ms) for m in matches]
        finally:
            client.close()
        return tidy_table(merge_sets(sets))

    # -- HTTP ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _open(self, path: str, params: dict) -> Iterator[Any]:
        """The response body as a file, or ClientError with the server's Prometheus error."""
        url = f"{self.url}{path}?{urllib.parse.urlencode(params, doseq=True)}"
        headers = {"X-Scope-OrgID": self.tenant} if self.tenant else {}
        try:
            response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=self.timeout_s)
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                doc = json.loads(body)
            except ValueError:
                raise ClientError(e.code, "", body.decode(errors="replace").strip()) from None
            raise ClientError(e.code, doc.get("errorType", ""), doc.get("error", "")) from None
        with response:
            yield response

    def _json(self, path: str, params: dict) -> Any:
        with self._open(path, params) as body:
            return json.loads(body.read())["data"]


def _time(t: Any) -> str:
    if isinstance(t, dt.datetime):
        return f"{t.timestamp():.3f}"
    return str(t)


def _ms(t: Any) -> int:
    if isinstance(t, dt.datetime):
        return int(round(t.timestamp() * 1000))
    try:
        return int(round(float(t) * 1000))
    except ValueError:
        return int(round(dt.datetime.fromisoformat(str(t).replace("Z", "+00:00")).timestamp() * 1000))


def _prometheus_result(data: dict) -> pa.Table:
    """Prometheus' vector, matrix or scalar result as a tidy table."""
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        result = [{"metric": {}, "value": result}]
    elif kind == "string":
        raise ValueError("a string result has no samples")
    points = [np.asarray(s["values"] if kind == "matrix" else [s["value"]], dtype=object).reshape(-1, 2)
              for s in result]
    counts = np.array([len(p) for p in points], np.int64)
    offsets = np.r_[0, np.cumsum(counts)]
    flat = np.concatenate(points) if points else np.zeros((0, 2), dtype=object)
    ts = np.round(flat[:, 0].astype(np.float64) * 1000).astype(np.int64)
    values = flat[:, 1].astype(np.float64)  # Prometheus' strings: "NaN", "+Inf" parse as floats
    return tidy_table(SeriesSet([s["metric"] for s in result], offsets, ts, values))
