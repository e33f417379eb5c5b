"""The comparator and the query expansion, on hand-made answers (fast; no servers)."""
from __future__ import annotations

from tests.differential.compare import Difference, Report, compare_answers, values_equal
from tests.differential.queries import expand, load_queries
from tests.fixtures.prometheus import QueryAnswer

NAN, INF = float("nan"), float("inf")


def vector(*series: tuple[dict, float, str]) -> QueryAnswer:
    return QueryAnswer(200, "success", "vector", [{"metric": m, "value": [t, v]} for m, t, v in series])


def matrix(*series: tuple[dict, list]) -> QueryAnswer:
    return QueryAnswer(200, "success", "matrix", [{"metric": m, "values": pts} for m, pts in series])


def error(kind: str, msg: str = "boom") -> QueryAnswer:
    return QueryAnswer(400, "error", error_type=kind, error=msg)


A, B = {"__name__": "m", "i": "a"}, {"__name__": "m", "i": "b"}


def test_values_equal():
    assert values_equal(NAN, NAN) and values_equal(INF, INF) and values_equal(-INF, -INF)
    assert not values_equal(INF, -INF) and not values_equal(NAN, 0.0) and not values_equal(INF, 1e308)
    assert values_equal(1e9, 1e9 * (1 + 1e-7)) and not values_equal(1e9, 1e9 * (1 + 1e-5))
    assert values_equal(0.0, -0.0) and not values_equal(0.0, 1e-9)


def test_same_answers_match_in_any_order():
    assert compare_answers(vector((A, 1.5, "1"), (B, 1.5, "NaN")), vector((B, 1.5, "NaN"), (A, 1.5, "1"))) == []
    m1 = matrix((A, [[1, "1"], [2, "+Inf"]]), (B, [[1, "2"]]))
    m2 = matrix((B, [[1, "2.0000000001"]]), (A, [[1, "1"], [2, "+Inf"]]))
    assert compare_answers(m1, m2) == []


def test_series_and_value_differences():
    assert compare_answers(vector((A, 1, "1")), vector((A, 1, "1"), (B, 1, "2"))) == ['extra series {__name__="m", i="b"}']
    assert compare_answers(vector((A, 1, "1"), (B, 1, "2")), vector((A, 1, "1"))) == ['missing series {__name__="m", i="b"}']
    assert "expected 1, got 1.1" in compare_answers(vector((A, 1, "1")), vector((A, 1, "1.1")))[0]
    assert "timestamps differ" in compare_answers(vector((A, 1, "1")), vector((A, 1.001, "1")))[0]
    assert "timestamps differ" in compare_answers(matrix((A, [[1, "1"], [2, "1"]])), matrix((A, [[1, "1"]])))[0]
    assert compare_answers(vector(), matrix())[0] == "result type: expected vector, got matrix"


def test_scalars_and_strings():
    s = lambda t, v: QueryAnswer(200, "success", "scalar", [t, v])
    assert compare_answers(s(1, "NaN"), s(1, "NaN")) == []
    assert compare_answers(s(1, "1"), s(2, "1")) == ["timestamp: expected 1, got 2"]
    assert compare_answers(QueryAnswer(200, "success", "string", [1, "a"]),
                           QueryAnswer(200, "success", "string", [1, "b"])) == ["value: expected a, got b"]


def test_errors_compare_by_type_only():
    assert compare_answers(error("bad_data", "x"), error("bad_data", "y")) == []
    assert "got execution" in compare_answers(error("bad_data"), error("execution"))[0]
    assert "got success" in compare_answers(error("execution"), vector())[0]
    assert compare_answers(vector(), error("http_404"))[0].startswith("unexpected error http_404")


def test_order_counts_only_when_asked():
    a, b = vector((A, 1, "1"), (B, 1, "2")), vector((B, 1, "2"), (A, 1, "1"))
    assert compare_answers(a, b) == []
    assert compare_answers(a, b, ordered=True)[0].startswith("order:")


def test_report_groups_by_query():
    r = Report(2, 3, [Difference("q1", f"e{i}", ("unexpected error http_404: x",)) for i in range(3)]
               + [Difference("q2", "e0", ('{a="1"} @1.000: expected 1, got 2',))])
    text = r.format()
    assert text.splitlines()[0] == "differential: 2 queries × 3 evaluations, 4 differences in 2 queries"
    assert "3 evaluations: unexpected error http_404" in text and "most common: 3× unexpected error http_404; 1× value" in text


def test_expand_first_variant_outermost():
    got = expand("{{.a}}-{{ .b }}", ["a", "b"], {"a": ["1", "2"], "b": ["x", "y"]})
    assert got == ["1-x", "1-y", "2-x", "2-y"]


def test_queries_are_unique_and_should_fail_is_kept():
    queries = load_queries()
    assert len({q.text for q in queries}) == len(queries)
    assert any(q.should_fail for q in queries)
    assert not any("{{" in q.text for q in queries)
