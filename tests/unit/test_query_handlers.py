"""The query handlers in-process, with a fake engine and source: what reaches the engine,
how its results and errors are answered. (tests/e2e/test_query_api.py runs the real ones.)"""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from promql.engine.results import MatrixSeries, QueryResult, VectorSample
from tsdb.api.common import APIError, parse_duration_ns, parse_time_value
from tsdb.api.query import go_duration, make_query_handlers, parse_range
from tsdb.config import config_from_dict


class _QueryError(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type, self.message = error_type, message


class _FakeEngine:
    """Answers by query text; records every call."""

    def __init__(self, settings, calls: list) -> None:
        self.settings, self.calls = settings, calls

    def instant(self, source, text, t_ms):
        self.calls.append(("instant", self.settings, source, text, t_ms))
        return self._answer(text, t_ms, t_ms, 0)

    def range(self, source, text, start_ms, end_ms, step_ms):
        self.calls.append(("range", self.settings, source, text, start_ms, end_ms, step_ms))
        return self._answer(text, start_ms, end_ms, step_ms)

    def _answer(self, text, start, end, step):
        if text.startswith("fail_"):
            kind = text.removeprefix("fail_")
            if kind == "crash":
                raise RuntimeError("boom")
            raise _QueryError(kind, f"{kind} happened")
        if text == "1":
            return QueryResult("scalar", scalar=(start, 1.0))
        if text == '"s"':
            return QueryResult("string", string=(start, "s"))
        if step:
            ts = np.arange(start, end + 1, step, dtype=np.int64)
            return QueryResult("matrix", matrix=[MatrixSeries({"__name__": "up", "i": str(i)}, ts, np.full(len(ts), 1.0))
                                             for i in range(3)])
        return QueryResult("vector", vector=[VectorSample({"__name__": "up", "i": str(i)}, start, float(i)) for i in range(3)],
                       warnings=["PromQL warning: w"], infos=["PromQL info: i"])


def _client(config: dict | None = None):
    calls: list = []
    services = SimpleNamespace(cfg=config_from_dict(config or {}))
    query, query_range, _, _ = make_query_handlers(
        services,
        source_factory=lambda svc, tenant, max_series, *resolution: ("source", tenant.id, max_series, *resolution),
        engine_factory=lambda settings: _FakeEngine(settings, calls),
    )
    app = FastAPI()
    app.add_api_route("/api/v1/query", query, methods=["GET", "POST"])
    app.add_api_route("/api/v1/query_range", query_range, methods=["GET", "POST"])
    return app, calls


def _get(app, path, params=None, data=None, headers=None) -> httpx.Response:
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            if data is not None:
                return await c.post(path, params=params, data=data, headers=headers or {})
            return await c.get(path, params=params, headers=headers or {})
    return asyncio.run(go())


def test_instant_query_reaches_the_engine_with_config_and_request_bounds():
    app, calls = _client({"querier": {"timeout": "10s", "max_samples": 99}, "promql": {"compat": "v2"},
                          "overrides": {"big": {"max_fetched_series_per_query": 7}}})
    r = _get(app, "/api/v1/query", {"query": "up", "time": "1700000000.5", "timeout": "3s",
                                    "lookback_delta": "1m"}, headers={"X-Scope-OrgID": "big"})
    assert r.status_code == 200, r.text
    assert r.text == ('{"status":"success","data":{"resultType":"vector","result":['
                      '{"metric":{"__name__":"up","i":"0"},"value":[1700000000.500,"0"]},'
                      '{"metric":{"__name__":"up","i":"1"},"value":[1700000000.500,"1"]},'
                      '{"metric":{"__name__":"up","i":"2"},"value":[1700000000.500,"2"]}]},'
                      '"warnings":["PromQL warning: w"],"infos":["PromQL info: i"]}')
    kind, settings, source, text, t = calls[0]
    assert (kind, source, text, t) == ("instant", ("source", "big", 7), "up", 1_700_000_000_500)
    assert settings.timeout_s == 3 and settings.lookback_delta_ms == 60_000
    assert settings.compat == "v2" and settings.max_samples == 99
    # A request timeout can only shorten querier.timeout; no lookback_delta: the config's.
    _get(app, "/api/v1/query", {"query": "up", "timeout": "1h"})
    assert calls[1][1].timeout_s == 10 and calls[1][1].lookback_delta_ms == 300_000
    assert calls[1][2] == ("source", "anonymous", 0)


def test_range_query_and_post_form():
    app, calls = _client()
    r = _get(app, "/api/v1/query_range", data={"query": "up", "start": "0", "end": "60", "step": "15s"},
             params={"query": "ignored"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["data"]["resultType"] == "matrix" and len(body["data"]["result"]) == 3
    assert body["data"]["result"][0]["values"] == [[0, "1"], [15, "1"], [30, "1"], [45, "1"], [60, "1"]]
    assert calls[0][3:] == ("up", 0, 60_000, 15_000)


def test_scalar_string_and_limit():
    app, _ = _client()
    assert _get(app, "/api/v1/query", {"query": "1", "time": "100"}).text == \
        '{"status":"success","data":{"resultType":"scalar","result":[100,"1"]}}'
    assert _get(app, "/api/v1/query", {"query": '"s"', "time": "100.25"}).text == \
        '{"status":"success","data":{"resultType":"string","result":[100.25,"s"]}}'
    r = _get(app, "/api/v1/query", {"query": "up", "limit": "2"}).json()
    assert len(r["data"]["result"]) == 2
    assert r["warnings"] == ["PromQL warning: w", "results truncated due to limit"]
    r = _get(app, "/api/v1/query_range", {"query": "up", "start": "0", "end": "30", "step": "15", "limit": "1"}).json()
    assert len(r["data"]["result"]) == 1 and r["warnings"] == ["results truncated due to limit"]


def test_engine_errors_keep_their_type_and_status():
    app, _ = _client()
    for kind, status in (("execution", 422), ("timeout", 503), ("canceled", 499), ("internal", 500),
                         ("bad_data", 400)):
        r = _get(app, "/api/v1/query", {"query": f"fail_{kind}"})
        assert r.status_code == status
        assert r.json() == {"status": "error", "errorType": kind, "error": f"{kind} happened"}
    r = _get(app, "/api/v1/query", {"query": "fail_crash"})
    assert r.status_code == 500 and r.json() == {"status": "error", "errorType": "internal", "error": "boom"}


def test_bad_parameters_never_reach_the_engine():
    app, calls = _client({"limits": {"max_total_query_length": "1h"}})
    r = _get(app, "/api/v1/query_range", {"query": "up", "start": "0", "end": "3601", "step": "15"})
    assert r.status_code == 400
    assert r.json()["error"].startswith(
        "the total query time range exceeds the limit (query length: 1h0m1s, limit: 1h0m0s) "
        "(err-mimir-max-total-query-length)")
    assert _get(app, "/api/v1/query", {"query": "up{"}).status_code == 400
    assert _get(app, "/api/v1/query", {"query": "up", "time": "nope"}).status_code == 400
    assert calls == []
    assert _get(app, "/api/v1/query_range", {"query": "up", "start": "0", "end": "3600", "step": "15"}).status_code == 200
    assert len(calls) == 1


def test_parameter_parsing_follows_prometheus():
    assert parse_time_value("1700000000.1234") == 1_700_000_000_123
    assert parse_time_value("-1.5") == -1500
    assert parse_time_value("2023-11-14T22:13:20.9999Z") == 1_700_000_000_999  # truncated, as Go's FromTime
    assert parse_time_value("2023-11-14T23:13:20+01:00") == 1_700_000_000_000
    for bad in ("2023-11-14", "1_000", " 1", "1e400", ""):
        with pytest.raises(ValueError, match="to a valid timestamp"):
            parse_time_value(bad)
    assert parse_duration_ns("15s") == parse_duration_ns("15") == 15 * 10**9
    assert parse_duration_ns("1h30m") == 5400 * 10**9 and parse_duration_ns("0.0005") == 500_000
    with pytest.raises(ValueError, match='cannot parse "1e20" to a valid duration. It overflows int64'):
        parse_duration_ns("1e20")
    # 11,000 steps are allowed, 11,001 are not; a sub-ms step is stepped as 1 ms.
    assert parse_range({"query": ["up"], "start": ["0"], "end": ["11000"], "step": ["1"]}, 0).step_ms == 1000
    with pytest.raises(APIError, match="exceeded maximum resolution"):
        parse_range({"query": ["up"], "start": ["0"], "end": ["11001"], "step": ["1"]}, 0)
    assert parse_range({"query": ["up"], "start": ["0"], "end": ["0"], "step": ["0.0001"]}, 0).step_ms == 1
    assert [go_duration(ms) for ms in (0, 250, 1500, 60_000, 90_500, 2_595_600_000)] == \
        ["0s", "250ms", "1.5s", "1m0s", "1m30.5s", "721h0m0s"]


def test_max_source_resolution_reaches_the_source_and_bad_values_are_400():
    app, calls = _client()
    r = _get(app, "/api/v1/query_range", {"query": "up", "start": "0", "end": "3600", "step": "1h",
                                          "max_source_resolution": "5m"})
    assert r.status_code == 200, r.text
    assert calls[-1][2] == ("source", "anonymous", 0, 300_000)
    _get(app, "/api/v1/query_range", {"query": "up", "start": "0", "end": "36000", "step": "5h",
                                      "max_source_resolution": "auto"})
    assert calls[-1][2] == ("source", "anonymous", 0, 3_600_000)  # auto: step / 5 = 1h
    _get(app, "/api/v1/query", {"query": "up", "max_source_resolution": "0s"})
    assert calls[-1][2] == ("source", "anonymous", 0)  # raw: the default source
    r = _get(app, "/api/v1/query", {"query": "up", "max_source_resolution": "7m"})
    assert r.status_code == 400
    assert r.json() == {"status": "error", "errorType": "bad_data", "error":
                        'invalid parameter "max_source_resolution": unknown max_source_resolution "7m": '
                        'use 0s, 5m, 1h or auto'}
