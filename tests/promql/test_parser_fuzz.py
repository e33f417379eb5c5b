"""Any input gives an AST or a ParseError (bad_data over HTTP), never another exception."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import promql
from tsdb.api.app import create_app
from tsdb.config import config_from_dict
from tsdb.services import Services

TOKENS = ["sum", "rate", "by", "without", "on", "ignoring", "group_left", "offset", "@", "bool", "and", "or",
          "unless", "topk", "(", ")", "{", "}", "[", "]", ",", "=", "!=", "=~", "!~", "+", "-", "*", "/", "%",
          "^", "==", "<=", ">", "5m", "1h30m", ":", "up", "http_requests_total", '"a"', "'b'", "`c`", "0x1f",
          "1e3", "NaN", "Inf", "start()", "end()", " ", "\n", "#", "job", "le", "histogram_quantile", "label_replace",
          "\\", '"\\x"', "\u00e9", "__name__"]
queries = st.one_of(
    st.lists(st.sampled_from(TOKENS), max_size=14).map("".join),
    st.lists(st.sampled_from(TOKENS), max_size=14).map(" ".join),
    st.text(max_size=40),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries)
def test_parse_never_crashes(text):
    try:
        expr = promql.parse(text)
    except promql.ParseError as e:
        assert str(e)
        return
    assert promql.parse(promql.format_expr(expr)) == expr


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    services = Services.build(config_from_dict({"data_dir": str(tmp_path_factory.mktemp("fuzz"))}))
    services.start()
    yield TestClient(create_app(services, manage_lifecycle=False))
    services.stop()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(queries)
def test_http_never_answers_500(client, text):
    for path in ("/api/v1/format_query", "/api/v1/query"):
        r = client.get(path, params={"query": text, "time": "1700000000"})
        assert r.status_code in (200, 400, 422), (path, text, r.status_code, r.text)
        if r.status_code != 200:
            assert r.json()["status"] == "error"

