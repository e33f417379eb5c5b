"""Parsing of every PromQL construct into the expected AST."""
import math

import pytest

from promql import (
    AggregateExpr, BinaryExpr, Call, DurationExpr, MatrixSelector, Matcher, NumberLiteral,
    ParenExpr, StringLiteral, SubqueryExpr, UnaryExpr, VectorMatching, VectorSelector, parse,
    parse_series_selector, FUNCTIONS,
)


def num(v: float) -> NumberLiteral:
    return NumberLiteral(v)


def vs(name: str, *matchers: Matcher, **kw) -> VectorSelector:
    return VectorSelector(name, (Matcher("__name__", "=", name), *matchers), **kw)


@pytest.mark.parametrize("text,value", [
    ("1", 1.0), ("1.5", 1.5), (".5", 0.5), ("5.", 5.0), ("1e3", 1000.0), ("1E-3", 0.001),
    ("0x1F", 31.0), ("0X1f", 31.0), ("0x_1F", 31.0), ("010", 8.0), ("08", 8.0), ("1_000", 1000.0),
    ("1_000.5", 1000.5), ("Inf", math.inf), ("inf", math.inf), ("+Inf", math.inf), ("-inf", -math.inf),
    ("-1", -1.0), ("+1", 1.0), ("- 1", -1.0), ("--1", 1.0), ("1h", 3600.0), ("5m", 300.0),
])
def test_number_literals(text, value):
    node = parse(text)
    assert isinstance(node, NumberLiteral)
    assert node.value == value
    assert node.type == "scalar"


@pytest.mark.parametrize("text", ["NaN", "nan", "NAN", "-NaN"])
def test_nan_literals(text):
    node = parse(text)
    assert isinstance(node, NumberLiteral) and math.isnan(node.value)
    assert parse(text) == node  # NaN literals compare equal to each other


def test_duration_literal_remembers_spelling():
    assert parse("1h") == NumberLiteral(3600.0, duration=True)
    assert parse("1h") != parse("3600")


@pytest.mark.parametrize("text,value", [
    ('"abc"', "abc"), ("'abc'", "abc"), ("`a\\nb`", "a\\nb"),
    (r'"a\nb\tc"', "a\nb\tc"), (r'"q\"q"', 'q"q'), (r"'q\'q'", "q'q"), (r'"\\"', "\\"),
    (r'"\x41\u00e9\U0001F600"', "Aé\U0001F600"), (r'"\101"', "A"), (r'"\a\b\f\v\r"', "\a\b\f\v\r"),
    ('"ünïcödé"', "ünïcödé"), ("`\"'`", "\"'"),
])
def test_string_literals(text, value):
    node = parse(text)
    assert node == StringLiteral(value)
    assert node.type == "string"


def test_invalid_utf8_escape_is_kept_as_byte():
    node = parse(r'"\xff"')
    assert node.value.encode("utf-8", "surrogateescape") == b"\xff"


def test_vector_selector_matchers():
    node = parse('metric{a="b", c!="d", e=~"f", g!~"h",}')
    assert node == vs("metric", Matcher("a", "=", "b"), Matcher("c", "!=", "d"),
                      Matcher("e", "=~", "f"), Matcher("g", "!~", "h"))
    assert node.type == "vector"
    assert node.matchers[0] == Matcher("__name__", "=", "metric")


def test_selector_variants():
    assert parse('{__name__="x"}') == VectorSelector(None, (Matcher("__name__", "=", "x"),))
    assert parse('{"my.metric", "label.name"="v"}') == VectorSelector(
        None, (Matcher("label.name", "=", "v"), Matcher("__name__", "=", "my.metric")))
    assert parse("foo{}") == vs("foo")
    assert parse("job:rate5m:sum") == vs("job:rate5m:sum")
    assert parse("{a=`b`}").matchers == (Matcher("a", "=", "b"),)


def test_matcher_order_is_canonical():
    assert parse('foo{b="1",a="2"}') == parse('foo{a="2",b="1"}')


@pytest.mark.parametrize("name", ["sum", "by", "offset", "and", "start", "end", "step", "range",
                                  "without", "anchored", "limitk", "fill", "min_of"])
def test_keywords_as_metric_names(name):
    assert parse(name) == vs(name)
    assert parse(f"{name} + 1").lhs == vs(name)


def test_keywords_as_label_names():
    node = parse('foo{on="1", by="2", sum="3", offset="4"}')
    assert {m.name for m in node.matchers} == {"__name__", "on", "by", "sum", "offset"}
    agg = parse("sum by (on, by, offset, bool, group_left, sum) (foo)")
    assert agg.grouping == ("on", "by", "offset", "bool", "group_left", "sum")
    assert parse('sum by ("foo.bar") (x)').grouping == ("foo.bar",)


def test_fill_is_a_keyword_only_before_paren():
    node = parse("fill + fill(0) other")
    assert node.lhs == vs("fill") and node.matching.fill_lhs == 0.0


def test_range_selector():
    node = parse("foo[5m]")
    assert node == MatrixSelector(vs("foo"), 300_000)
    assert node.type == "matrix"
    assert parse("foo[1h30m]").range_ms == 5_400_000
    assert parse("foo[90]").range_ms == 90_000
    assert parse("foo[1.5]").range_ms == 1500


def test_offset_and_at():
    assert parse("foo offset 5m") == vs("foo", offset_ms=300_000)
    assert parse("foo offset -5m") == vs("foo", offset_ms=-300_000)
    assert parse("foo @ 100") == vs("foo", at=100.0)
    assert parse("foo @ -1.5") == vs("foo", at=-1.5)
    assert parse("foo @ start()") == vs("foo", at_modifier="start")
    assert parse("foo @ end()") == vs("foo", at_modifier="end")
    assert parse("foo offset 1m @ 10") == parse("foo @ 10 offset 1m") == vs("foo", offset_ms=60_000, at=10.0)
    m = parse("foo[5m] offset 1m @ end()")
    assert m == MatrixSelector(vs("foo", offset_ms=60_000, at_modifier="end"), 300_000)


def test_subqueries():
    assert parse("foo[1h:5m]") == SubqueryExpr(vs("foo"), 3_600_000, 300_000)
    assert parse("foo[1h:]") == SubqueryExpr(vs("foo"), 3_600_000, 0)
    node = parse("rate(foo[5m])[30m:1m] offset 1h @ start()")
    assert isinstance(node, SubqueryExpr)
    assert (node.offset_ms, node.at_modifier, node.step_ms) == (3_600_000, "start", 60_000)
    assert node.type == "matrix"
    assert isinstance(parse("(a + b)[5m:]").expr, ParenExpr)


def test_duration_expressions():
    node = parse("foo[26m+4m]")
    assert node.range_expr == DurationExpr("+", NumberLiteral(1560, True), NumberLiteral(240, True))
    assert parse("foo[step()]").range_expr == DurationExpr("step")
    assert parse("foo offset (1m)").offset_expr == DurationExpr("+", None, NumberLiteral(60, True), wrapped=True)
    assert parse("foo[5m:step()*2]").step_expr.op == "*"
    assert parse("foo offset min_of(step(), 1s)").offset_expr.op == "min_of"


def test_offset_binds_to_literal_only():
    node = parse("foo offset 100 + 2")
    assert isinstance(node, BinaryExpr) and node.lhs == vs("foo", offset_ms=100_000)
    assert isinstance(parse("foo offset -2 ^ 2"), BinaryExpr)


def test_anchored_smoothed():
    assert parse("foo[5m] anchored").vector.anchored
    assert parse("foo smoothed").smoothed


def binop(op, lhs, rhs, **kw):
    """A checked BinaryExpr: vector/vector operations carry default vector matching."""
    if lhs.type == "vector" and rhs.type == "vector":
        card = "many-to-many" if op in ("and", "or", "unless") else "one-to-one"
        kw.setdefault("matching", VectorMatching(card))
    return BinaryExpr(op, lhs, rhs, **kw)


def test_precedence_and_associativity():
    assert parse("1 + 2 * 3") == binop("+", num(1), binop("*", num(2), num(3)))
    assert parse("1 * 2 + 3") == binop("+", binop("*", num(1), num(2)), num(3))
    assert parse("2 ^ 3 ^ 2") == binop("^", num(2), binop("^", num(3), num(2)))
    assert parse("1 - 2 - 3") == binop("-", binop("-", num(1), num(2)), num(3))
    assert parse("-2 ^ 2") == UnaryExpr("-", binop("^", num(2), num(2)))
    assert parse("2 ^ -1") == binop("^", num(2), num(-1))
    assert parse("-a * b") == binop("*", UnaryExpr("-", vs("a")), vs("b"))
    assert parse("a or b and c") == binop("or", vs("a"), binop("and", vs("b"), vs("c")))
    assert parse("a > b + c").rhs == binop("+", vs("b"), vs("c"))
    assert parse("a unless b or c").op == "or"
    assert parse("a atan2 b * c").op == "*"
    assert parse("(1 + 2) * 3").lhs == ParenExpr(binop("+", num(1), num(2)))


@pytest.mark.parametrize("op", ["+", "-", "*", "/", "%", "^", "atan2", "==", "!=", "<=", "<", ">=", ">"])
def test_all_arithmetic_and_comparison_ops(op):
    node = parse(f"a {op} b")
    assert node.op == op and node.matching == VectorMatching()


def test_bool_and_types():
    assert parse("1 == bool 2") == binop("==", num(1), num(2), return_bool=True)
    assert parse("1 + 2").type == "scalar"
    assert parse("a > bool 1").type == "vector"
    assert parse("a > bool 1").matching is None


def test_vector_matching():
    node = parse("a + on(x, y) group_left(z) b")
    assert node.matching == VectorMatching("many-to-one", ("x", "y"), True, ("z",))
    assert parse("a / ignoring(x) group_right b").matching == VectorMatching("one-to-many", ("x",), False, ())
    assert parse("a and on() b").matching == VectorMatching("many-to-many", (), True, ())
    assert parse("a + fill_left(1) fill_right(-2) b").matching == VectorMatching(fill_lhs=1.0, fill_rhs=-2.0)
    assert parse("a + on(x) group_left fill(0) b").matching.card == "many-to-one"


def test_aggregations():
    expected = AggregateExpr("sum", vs("foo"), None, ("job",), False)
    assert parse("sum by (job) (foo)") == expected
    assert parse("sum(foo) by (job)") == expected
    assert parse("SUM(foo) BY (job)") == expected
    assert parse("avg without (a, b,) (foo)") == AggregateExpr("avg", vs("foo"), None, ("a", "b"), True)
    assert parse("topk(3, foo)") == AggregateExpr("topk", vs("foo"), num(3))
    assert parse('count_values("v", foo)').param == StringLiteral("v")
    for op in ["min", "max", "group", "stddev", "stdvar", "count"]:
        assert parse(f"{op}(foo)").op == op
    for op in ["bottomk", "quantile", "limitk", "limit_ratio"]:
        assert parse(f"{op}(0.5, foo)").op == op


def test_function_calls():
    node = parse("rate(foo[5m])")
    assert node == Call(FUNCTIONS["rate"], (MatrixSelector(vs("foo"), 300_000),))
    assert node.type == "vector"
    assert parse("time()").type == "scalar"
    assert len(parse('label_join(foo, "a", ",", "b", "c", "d")').args) == 6
    assert len(parse("round(foo)").args) == 1
    assert parse("holt_winters(foo[5m], 0.5, 0.5)").func.name == "holt_winters"
    assert parse('info(foo, {k=~".+"})').func.name == "info"


def test_function_table_signatures():
    assert FUNCTIONS["histogram_quantile"].arg_types == ("scalar", "vector")
    assert FUNCTIONS["label_join"].variadic == -1
    assert FUNCTIONS["scalar"].return_type == "scalar"


def test_comments_and_whitespace():
    assert parse("foo # a comment\n + # another\n bar") == binop("+", vs("foo"), vs("bar"))
    assert parse("sum(\n  foo\n)\n") == AggregateExpr("sum", vs("foo"))


def test_unary_on_vector_and_paren():
    assert parse("-foo") == UnaryExpr("-", vs("foo"))
    assert parse("-(1)") == UnaryExpr("-", ParenExpr(num(1)))


def test_series_selector():
    assert parse_series_selector('up{job="api"}') == vs("up", Matcher("job", "=", "api"))
    assert parse_series_selector('{__name__=~"up|down"}').name is None

