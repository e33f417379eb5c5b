"""The PromQL HTTP API against a real server: parameters, errors and statuses, each result
type, POST forms, the /prometheus prefix, format_query, buildinfo, metadata, exemplars,
query limits and tenant isolation.

Tests that need the engine to compute results skip while `promql.engine` or
`tsdb.query.source` is not there yet; their expected values are worked out by hand.
"""
from __future__ import annotations

import math

import pytest

from tests.support import BASE_TS
from tsdb.remote_write.encode import encode_series

HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"}
T = BASE_TS + 300_000          # evaluation time of the instant queries: 1700000300
T_S = str(T // 1000)
STEP = 15_000


def _push(c, series, metadata=()):
    r = c.post("/api/v1/push", content=encode_series(series, metadata), headers=HEADERS)
    assert r.status_code == 204, r.text


def _needs_engine():
    engine = pytest.importorskip("promql.engine")
    if not hasattr(engine, "Engine"):
        pytest.skip("promql.engine is not ready yet")
    pytest.importorskip("tsdb.query.source")


def _error(r, status: int, error_type: str, message: str | None = None):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["status"] == "error" and body["errorType"] == error_type, body
    if message is not None:
        assert body["error"] == message
    return body["error"]


def _clean_data():
    """up = 1 and a counter c rising by 1/s, every 15 s for 10 min; x{i=1} = 2, x{i=2} = 3."""
    ts = [BASE_TS + i * STEP for i in range(41)]
    return [
        ({"__name__": "up", "job": "a", "instance": "i1"}, [(t, 1.0) for t in ts]),
        ({"__name__": "c", "job": "a"}, [(t, (t - BASE_TS) / 1000) for t in ts]),
        ({"__name__": "x", "i": "1"}, [(t, 2.0) for t in ts]),
        ({"__name__": "x", "i": "2"}, [(t, 3.0) for t in ts]),
    ]


# ---------------------------------------------------------------------------------------
# Parameters and errors: no engine needed; they fail before it runs.


def test_query_parameter_errors(mytsdb):
    with mytsdb.client("errs") as c:
        q = "/api/v1/query"
        _error(c.get(q), 400, "bad_data",
               'invalid parameter "query": unknown position: parse error: no expression found in input')
        _error(c.get(q, params={"query": "up{"}), 400, "bad_data",
               'invalid parameter "query": 1:4: parse error: unexpected end of input inside braces')
        _error(c.post(q, data={"query": "sum("}), 400, "bad_data",
               'invalid parameter "query": 1:5: parse error: unclosed left parenthesis')
        _error(c.get(q, params={"query": "up", "time": "yesterday"}), 400, "bad_data",
               'invalid parameter "time": invalid time value for \'time\': cannot parse "yesterday" to a valid timestamp')
        _error(c.get(q, params={"query": "up", "timeout": "soon"}), 400, "bad_data",
               'invalid parameter "timeout": cannot parse "soon" to a valid duration')
        _error(c.get(q, params={"query": "up", "limit": "ten"}), 400, "bad_data",
               'invalid parameter "limit": strconv.Atoi: parsing "ten": invalid syntax')
        _error(c.get(q, params={"query": "up", "limit": "-1"}), 400, "bad_data",
               'invalid parameter "limit": limit must be non-negative')
        _error(c.get(q, params={"query": "up", "lookback_delta": "far"}), 400, "bad_data",
               'error parsing lookback delta duration: cannot parse "far" to a valid duration')
        # The order is Prometheus': limit before time before query.
        _error(c.get(q, params={"query": "up{", "time": "x", "limit": "y"}), 400, "bad_data",
               'invalid parameter "limit": strconv.Atoi: parsing "y": invalid syntax')
        _error(c.get("/prometheus" + q, params={"query": "1 +"}), 400, "bad_data")


def test_query_range_parameter_errors(mytsdb):
    with mytsdb.client("errs") as c:
        q = "/api/v1/query_range"
        ok = {"query": "up", "start": "1700000000", "end": "1700003600", "step": "15s"}
        _error(c.get(q, params={**ok, "start": ""}), 400, "bad_data",
               'invalid parameter "start": cannot parse "" to a valid timestamp')
        _error(c.get(q, params={**ok, "end": "later"}), 400, "bad_data",
               'invalid parameter "end": cannot parse "later" to a valid timestamp')
        _error(c.get(q, params={**ok, "end": "1699999999"}), 400, "bad_data",
               'invalid parameter "end": end timestamp must not be before start time')
        _error(c.get(q, params={k: v for k, v in ok.items() if k != "step"}), 400, "bad_data",
               'invalid parameter "step": cannot parse "" to a valid duration')
        for step in ("0", "-15", "0s"):
            _error(c.get(q, params={**ok, "step": step}), 400, "bad_data",
                   'invalid parameter "step": zero or negative query resolution step widths are not accepted. '
                   'Try a positive integer')
        _error(c.get(q, params={**ok, "end": "1700011001", "step": "1"}), 400, "bad_data",
               "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution "
               "(?step=XX)")
        _error(c.post(q, data={**ok, "query": ""}), 400, "bad_data",
               'invalid parameter "query": unknown position: parse error: no expression found in input')
        # RFC 3339 times are accepted: the error is the query's, not the times'.
        _error(c.post("/prometheus" + q, data={**ok, "start": "2023-11-14T22:13:20Z", "end": "2023-11-14T23:13:20.5Z",
                                               "query": "up{"}), 400, "bad_data",
               'invalid parameter "query": 1:4: parse error: unexpected end of input inside braces')
    with mytsdb.client("bad/tenant") as c:
        r = c.get(q, params=ok)
        assert r.status_code == 400 and "unsupported character '/'" in r.text


def test_max_total_query_length(mytsdb_factory):
    server = mytsdb_factory(config={"limits": {"max_total_query_length": "1h"},
                                    "overrides": {"small": {"max_total_query_length": "10m"}}}).start()
    with server.client("t") as c:
        msg = _error(c.get("/api/v1/query_range", params={"query": "up", "start": "0", "end": "7200", "step": "60"}),
                     400, "bad_data")
        assert msg.startswith("the total query time range exceeds the limit (query length: 2h0m0s, limit: 1h0m0s) "
                              "(err-mimir-max-total-query-length)")
    with server.client("small") as c:
        msg = _error(c.post("/api/v1/query_range", data={"query": "up", "start": "0", "end": "1800", "step": "60"}),
                     400, "bad_data")
        assert "(query length: 30m0s, limit: 10m0s)" in msg


# ---------------------------------------------------------------------------------------
# Routes that need no engine


def test_format_query(mytsdb):
    with mytsdb.client() as c:
        r = c.get("/api/v1/format_query", params={"query": "sum  by(job)(rate(http_requests_total{b='2',a=\"1\"}[5m]))"})
        assert r.status_code == 200
        assert r.json() == {"status": "success",
                            "data": 'sum by (job) (rate(http_requests_total{a="1",b="2"}[5m]))'}
        r = c.post("/prometheus/api/v1/format_query", data={"query": "a<b"})
        assert r.text == '{"status":"success","data":"a \\u003c b"}'
        _error(c.get("/api/v1/format_query", params={"query": "up{"}), 400, "bad_data",
               'invalid parameter "query": 1:4: parse error: unexpected end of input inside braces')


def test_buildinfo(mytsdb):
    with mytsdb.client() as c:
        for path in ("/api/v1/status/buildinfo", "/prometheus/api/v1/status/buildinfo"):
            r = c.get(path)
            assert r.status_code == 200
            data = r.json()["data"]
            assert list(data) == ["version", "revision", "branch", "buildUser", "buildDate", "goVersion"]
            assert data["version"] == "3.0.0" and data["revision"].startswith("mytsdb-")
            assert "features" not in data  # Grafana would take the server for Mimir


def test_metadata(mytsdb):
    with mytsdb.client("meta") as c, mytsdb.client("other") as o:
        _push(c, [({"__name__": "c_total", "job": "a"}, [(BASE_TS, 1.0)])],
              metadata=[("counter", "c_total", "Requests <served>.", ""),
                        ("gauge", "temp_celsius", "Temperature.", "celsius")])
        r = c.get("/api/v1/metadata")
        assert r.status_code == 200
        assert r.text == ('{"status":"success","data":{'
                          '"c_total":[{"type":"counter","help":"Requests \\u003cserved\\u003e.","unit":""}],'
                          '"temp_celsius":[{"type":"gauge","help":"Temperature.","unit":"celsius"}]}}')
        assert c.get("/prometheus/api/v1/metadata", params={"metric": "temp_celsius"}).json()["data"] == {
            "temp_celsius": [{"type": "gauge", "help": "Temperature.", "unit": "celsius"}]}
        assert c.get("/api/v1/metadata", params={"metric": "nope"}).json()["data"] == {}
        assert list(c.get("/api/v1/metadata", params={"limit": "1"}).json()["data"]) == ["c_total"]
        assert c.get("/api/v1/metadata", params={"limit": "0"}).json()["data"] == {}
        assert len(c.get("/api/v1/metadata", params={"limit_per_metric": "1"}).json()["data"]) == 2
        _error(c.get("/api/v1/metadata", params={"limit": "x"}), 400, "bad_data", "limit must be a number")
        _error(c.get("/api/v1/metadata", params={"limit_per_metric": "x"}), 400, "bad_data",
               "limit_per_metric must be a number")
        assert o.get("/api/v1/metadata").json() == {"status": "success", "data": {}}


def test_query_exemplars(mytsdb):
    with mytsdb.client() as c:
        r = c.get("/api/v1/query_exemplars", params={"query": "up", "start": "0", "end": "100"})
        assert r.status_code == 200 and r.text == '{"status":"success","data":[]}'
        r = c.post("/prometheus/api/v1/query_exemplars", data={"query": "rate(x[5m]) + 1"})
        assert r.text == '{"status":"success","data":[]}'
        assert c.get("/api/v1/query_exemplars", params={"query": "1 + 1"}).text == '{"status":"success"}'
        _error(c.get("/api/v1/query_exemplars", params={"query": "up{"}), 400, "bad_data",
               "1:4: parse error: unexpected end of input inside braces")
        _error(c.get("/api/v1/query_exemplars", params={"query": "up", "start": "10", "end": "5"}), 400, "bad_data",
               "end timestamp must not be before start timestamp")
        _error(c.get("/api/v1/query_exemplars", params={"query": "up", "start": "x"}), 400, "bad_data",
               'invalid parameter "start": invalid time value for \'start\': cannot parse "x" to a valid timestamp')


# ---------------------------------------------------------------------------------------
# Results: need the engine and the storage source


def _results_are_right(c):
    q = "/api/v1/query"
    r = c.get(q, params={"query": "up", "time": T_S})
    assert r.status_code == 200, r.text
    assert r.text == ('{"status":"success","data":{"resultType":"vector","result":['
                      '{"metric":{"__name__":"up","instance":"i1","job":"a"},"value":[1700000300,"1"]}]}}')
    assert c.post(q, data={"query": "sum(x)", "time": T_S}).text == \
        '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000300,"5"]}]}}'
    # c rises by 1/s: rate over any clean window is 1 (up to float rounding in the extrapolation).
    body = c.get("/prometheus" + q, params={"query": "rate(c[1m])", "time": T_S}).json()
    [sample] = body["data"]["result"]
    assert sample["metric"] == {"job": "a"} and sample["value"][0] == 1700000300
    assert math.isclose(float(sample["value"][1]), 1.0, rel_tol=1e-12)
    # Prometheus 3: the range (T-1m, T] is left-open, so 4 samples.
    assert c.get(q, params={"query": "c[1m]", "time": T_S}).text == (
        '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"__name__":"c","job":"a"},'
        '"values":[[1700000255,"255"],[1700000270,"270"],[1700000285,"285"],[1700000300,"300"]]}]}}')
    assert c.get(q, params={"query": "1 + 1", "time": "1700000300.5"}).text == \
        '{"status":"success","data":{"resultType":"scalar","result":[1700000300.5,"2"]}}'
    assert c.get(q, params={"query": '"hello"', "time": T_S}).text == \
        '{"status":"success","data":{"resultType":"string","result":[1700000300,"hello"]}}'
    r = c.get("/api/v1/query_range", params={"query": "up", "start": "1700000000", "end": "2023-11-14T22:14:20Z",
                                              "step": "15s"})
    assert r.status_code == 200, r.text
    assert r.text == ('{"status":"success","data":{"resultType":"matrix","result":['
                      '{"metric":{"__name__":"up","instance":"i1","job":"a"},"values":[[1700000000,"1"],'
                      '[1700000015,"1"],[1700000030,"1"],[1700000045,"1"],[1700000060,"1"]]}]}}')
    body = c.post("/prometheus/api/v1/query_range", data={"query": "sum(x)", "start": "1700000000",
                                                          "end": "1700000030", "step": "15"}).json()
    assert body["data"]["result"] == [{"metric": {}, "values": [[1700000000, "5"], [1700000015, "5"],
                                                                [1700000030, "5"]]}]
    body = c.get(q, params={"query": "x", "time": T_S, "limit": "1"}).json()
    assert len(body["data"]["result"]) == 1 and body["warnings"] == ["results truncated due to limit"]


def test_each_result_type_from_head_and_bucket(mytsdb):
    _needs_engine()
    with mytsdb.client("res") as c:
        _push(c, _clean_data())
        _results_are_right(c)      # from the head
        mytsdb.flush()
        _results_are_right(c)      # from Parquet


def test_tenant_isolation(mytsdb):
    _needs_engine()
    with mytsdb.client("a") as a, mytsdb.client("b") as b:
        _push(a, [({"__name__": "secret", "job": "a"}, [(BASE_TS, 42.0)])])
        _push(b, [({"__name__": "public", "job": "b"}, [(BASE_TS, 1.0)])])
        t = str(BASE_TS // 1000 + 10)
        for flushed in (False, True):
            if flushed:
                mytsdb.flush()
            assert a.get("/api/v1/query", params={"query": "secret", "time": t}).json()["data"]["result"] != []
            for query in ("secret", '{__name__=~".+"}', "count({job=~\".*a.*\"})"):
                result = b.get("/api/v1/query", params={"query": query, "time": t}).json()["data"]["result"]
                assert all(s["metric"].get("__name__") != "secret" and s["metric"].get("job") != "a" for s in result)
                assert query == '{__name__=~".+"}' or result == []
            r = b.get("/api/v1/query_range", params={"query": "secret", "start": str(BASE_TS // 1000),
                                                     "end": t, "step": "1"}).json()
            assert r["data"]["result"] == []


def test_series_and_samples_limits(mytsdb_factory):
    _needs_engine()
    server = mytsdb_factory(config={"limits": {"out_of_order_time_window": "100y", "max_fetched_series_per_query": 2},
                                    "querier": {"max_samples": 100}}).start()
    with server.client("lim") as c:
        _push(c, [({"__name__": "many", "i": str(i)}, [(BASE_TS + k * 1000, float(k)) for k in range(100)])
                  for i in range(3)])
        t = str(BASE_TS // 1000 + 99)
        msg = _error(c.get("/api/v1/query", params={"query": "many", "time": t}), 422, "execution")
        assert "the query exceeded the maximum number of series (limit: 2 series) " \
               "(err-mimir-max-series-per-query)" in msg
        assert c.get("/api/v1/query", params={"query": 'many{i!="0"}', "time": t}).status_code == 200
        _error(c.get("/api/v1/query", params={"query": 'many{i!="0"}[2m]', "time": t}), 422, "execution",
               "query processing would load too many samples into memory in query execution")
