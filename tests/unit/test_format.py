"""Prometheus' JSON formatting, against outputs of the Go code (jsonutil, encoding/json,
strconv) that were checked by hand or taken from Prometheus' own codec tests."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from promql.engine.results import MatrixSeries, QueryResult, VectorSample
from tsdb.api.format import cap_annotations, format_timestamp, format_value, go_json, go_json_float, json_string, \
    result_json, success_body


@pytest.mark.parametrize("v,expected", [
    (1.0, "1"),
    (0.1, "0.1"),
    (1e21, "1e+21"),
    (1e-7, "1e-07"),
    (123456789.123, "123456789.123"),
    (-0.0, "-0"),
    (0.0, "0"),
    (math.nan, "NaN"),
    (math.inf, "+Inf"),
    (-math.inf, "-Inf"),
    (5e-324, "5e-324"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (1e20, "100000000000000000000"),
    (1e16, "10000000000000000"),
    (1.2345678e6, "1234567.8"),
    (1.2345678e-6, "0.0000012345678"),
    (1e-6, "0.000001"),
    (9.99e-7, "9.99e-07"),
    (1.5e-5, "0.000015"),
    (1.2345678e-67, "1.2345678e-67"),
    (-2.5, "-2.5"),
    (20.0, "20"),
])
def test_marshal_float(v, expected):
    assert format_value(v) == expected


@pytest.mark.parametrize("t,expected", [
    (0, "0"), (1, "0.001"), (10, "0.010"), (100, "0.100"), (1001, "1.001"), (1010, "1.010"), (1100, "1.100"),
    (1_700_000_000_000, "1700000000"), (1_700_000_000_123, "1700000000.123"),
    (12345678123456555, "12345678123456.555"), (-1, "-0.001"), (-1500, "-1.500"),
])
def test_marshal_timestamp(t, expected):
    assert format_timestamp(t) == expected


@pytest.mark.parametrize("x,expected", [
    (0.0, "0"), (0.001, "0.001"), (0.1, "0.1"), (1700000000.123, "1700000000.123"), (1.1, "1.1"),
    (1e-7, "1e-7"), (1e21, "1e+21"), (1e20, "100000000000000000000"), (-1.5, "-1.5"),
])
def test_encoding_json_float(x, expected):
    assert go_json_float(x) == expected


def test_strings_are_escaped_as_go_does():
    assert json_string('a<b>&c"d\\e') == '"a\\u003cb\\u003e\\u0026c\\"d\\\\e"'
    assert json_string("\n\r\t\x01\x1f") == '"\\n\\r\\t\\u0001\\u001f"'
    assert json_string("\u2028\u2029é日本") == '"\\u2028\\u2029é日本"'
    assert json_string("\udcff") == '"\ufffd"'
    assert go_json({"b": [1, "x", None, True], "a": {}}) == '{"b":[1,"x",null,true],"a":{}}'


def _body(result, limit=0):
    data, _ = result_json(result, limit)
    return success_body(data).decode()


def test_vector_and_matrix_bodies_match_prometheus_codec():
    vec = QueryResult("vector", vector=[VectorSample({"__name__": "foo"}, 1000, 1.0), VectorSample({"__name__": "bar"}, 2000, 2.0)])
    assert _body(vec) == ('{"status":"success","data":{"resultType":"vector","result":'
                          '[{"metric":{"__name__":"foo"},"value":[1,"1"]},{"metric":{"__name__":"bar"},"value":[2,"2"]}]}}')
    mat = QueryResult("matrix", matrix=[
        MatrixSeries({"job": "a", "__name__": "foo"}, np.array([1000, 1100], np.int64), np.array([1.0, math.nan])),
        MatrixSeries({}, np.array([], np.int64), np.array([])),
    ])
    assert _body(mat) == ('{"status":"success","data":{"resultType":"matrix","result":'
                          '[{"metric":{"__name__":"foo","job":"a"},"values":[[1,"1"],[1.100,"NaN"]]},'
                          '{"metric":{},"values":[]}]}}')
    json.loads(_body(mat))  # valid JSON


def test_scalar_and_string_use_encoding_json():
    assert _body(QueryResult("scalar", scalar=(1_700_000_000_100, 1e21))) == \
        '{"status":"success","data":{"resultType":"scalar","result":[1700000000.1,"1000000000000000000000"]}}'
    assert _body(QueryResult("scalar", scalar=(0, -math.inf))) == \
        '{"status":"success","data":{"resultType":"scalar","result":[0,"-Inf"]}}'
    assert _body(QueryResult("string", string=(1500, "a<b"))) == \
        '{"status":"success","data":{"resultType":"string","result":[1.5,"a\\u003cb"]}}'


def test_limit_truncates_vectors_and_matrices_only():
    vec = QueryResult("vector", vector=[VectorSample({"i": str(i)}, 0, 0.0) for i in range(3)])
    data, truncated = result_json(vec, 2)
    assert truncated and len(json.loads(data)["result"]) == 2
    assert result_json(vec, 3)[1] is False
    assert result_json(QueryResult("scalar", scalar=(0, 1.0)), 1)[1] is False


def test_warnings_and_infos():
    body = success_body('"x"', ["w"], ["i"]).decode()
    assert body == '{"status":"success","data":"x","warnings":["w"],"infos":["i"]}'
    capped = cap_annotations([f"w{i}" for i in range(13)], "warning")
    assert capped[-1] == "3 more warning annotations omitted" and len(capped) == 11
