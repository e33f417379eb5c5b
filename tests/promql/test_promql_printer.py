"""Canonical printing (Prometheus' Expr.String()) and parse/print round trips."""
import pytest

from promql import format_expr, parse

CANONICAL = [
    ("sum by(job) (rate(http_requests_total{job=\"api\"}[5m]))",
     'sum by (job) (rate(http_requests_total{job="api"}[5m]))'),
    ("sum(rate(x[5m])) by (job)", "sum by (job) (rate(x[5m]))"),
    ("sum by() (x)", "sum(x)"),
    ("sum without() (x)", "sum without () (x)"),
    ('sum by("foo.bar", job) (x)', 'sum by ("foo.bar", job) (x)'),
    ("topk(5, x)", "topk(5, x)"),
    ('count_values("value", x)', 'count_values("value", x)'),
    ("a - on() c", "a - on () c"),
    ("a - on(b) group_left c", "a - on (b) group_left () c"),
    ("a - on(b) group_left(x, y) c", "a - on (b) group_left (x, y) c"),
    ("a - ignoring() c", "a - c"),
    ("a - ignoring() group_left c", "a - ignoring () group_left () c"),
    ('foo / on("äää") bar', 'foo / on ("äää") bar'),
    ("a + fill(-23) b", "a + fill (-23) b"),
    ("a + fill_left(5) fill_right(5) b", "a + fill (5) b"),
    ("a + fill_left(-23) fill_right(42) b", "a + fill_left (-23) fill_right (42) b"),
    ("a + on(b) group_left fill(-23) c", "a + on (b) group_left () fill (-23) c"),
    ("a + fill(1000000) b", "a + fill (1e+06) b"),
    ("up > bool 0", "up > bool 0"),
    ("1+2*3", "1 + 2 * 3"),
    ("-2^2", "-2 ^ 2"),
    ("(1 + 2) * 3", "(1 + 2) * 3"),
    ("a offset 1m", "a offset 1m"),
    ("a offset -7m", "a offset -7m"),
    ("a offset 90s", "a offset 1m30s"),
    ("a offset 3600", "a offset 1h"),
    ('a{c="d"}[5m] offset 1m', 'a{c="d"}[5m] offset 1m'),
    ("a[1h:5m] offset 1m", "a[1h:5m] offset 1m"),
    ("a[1h:] @ start()", "a[1h:] @ start()"),
    ("a @ 10", "a @ 10.000"),
    ("a[1m] @ 10", "a[1m] @ 10.000"),
    ("a @ end() offset 1m", "a @ end() offset 1m"),
    ("a offset 1m @ 1.5", "a @ 1.500 offset 1m"),
    ("a{b=\"c\"}[5m] anchored @ start() offset 1m", 'a{b="c"}[5m] anchored @ start() offset 1m'),
    ("a smoothed", "a smoothed"),
    ('{__name__="a"}', '{__name__="a"}'),
    ('{__name__="",a="x"}', '{__name__="",a="x"}'),
    ('{"a.b"="c"}', '{"a.b"="c"}'),
    ('{"_0"="1"}', '{_0="1"}'),
    ("{``=\"0\"}", '{""="0"}'),
    ('{"my.metric"}', '{__name__="my.metric"}'),
    ('foo{z="1", a=~"x", m!~"y", b!="2"}', 'foo{a=~"x",b!="2",m!~"y",z="1"}'),
    ("1048576", "1048576"),
    ("1e22", "10000000000000000000000"),
    ("0x1F", "31"),
    ("1_000", "1000"),
    ("1.5e-7", "0.00000015"),
    ("Inf", "+Inf"),
    ("-Inf", "-Inf"),
    ("nan", "NaN"),
    ("1h", "1h"),
    ("-90m", "-1h30m"),
    ("'single'", '"single"'),
    ("`raw\\n`", '"raw\\\\n"'),
    ('"tab\\there"', '"tab\\there"'),
    ('"\\u00e9\\x01"', '"é\\x01"'),
    ("foo[step()]", "foo[step()]"),
    ("foo[-(step())]", "foo[-(step())]"),
    ("foo offset +(5)", "foo offset (5)"),
    ("foo offset -min_of(10s, +max_of(step() ^ 2, 2))", "foo offset -min_of(10s, max_of(step() ^ 2, 2))"),
    ("foo[200-min_of(-step()^+step(),1)]", "foo[200 - min_of(-step() ^ step(), 1)]"),
    ("foo[1800]", "foo[30m]"),
    ("foo[2d]", "foo[2d]"),
    ("foo[14d]", "foo[2w]"),
    ("foo[90d]", "foo[90d]"),
    ("predict_linear(foo[1h], 3000)", "predict_linear(foo[1h], 3000)"),
    ("-foo", "-foo"),
    ("- - foo", "--foo"),
    ("a and b unless c or d", "a and b unless c or d"),
    ("SUM(x) BY (job) - COUNT(x) BY (job)", "sum by (job) (x) - count by (job) (x)"),
    ("rate(x[5m])[30m:1m]", "rate(x[5m])[30m:1m]"),
    ("label_replace(up, 'a', \"b\", `c`, \"(.*)\")", 'label_replace(up, "a", "b", "c", "(.*)")'),
]


@pytest.mark.parametrize("text,expected", CANONICAL)
def test_canonical_format(text, expected):
    expr = parse(text)
    assert format_expr(expr) == expected
    assert parse(format_expr(expr)) == expr


@pytest.mark.parametrize("text", [
    "a ^ b ^ c", "(a ^ b) ^ c", "-a ^ b", "(-a) ^ b", "a * -b", "a - -1", "2 ^ -1", "--1",
    "a / on(x) group_right(y) b", "a == bool on(x) b", "a % ignoring(x) b", "a atan2 b",
    "x{a=\"\\n\\\"\"}", "foo offset (1m) + 1", "foo offset 100 + 2", "foo[26m + 4m]",
    "sum_over_time(m[29s+1s:20*500ms] offset -(20*(((((8 - 2) / 3) * 7s) % 4) + 8000ms)))",
    "histogram_quantile(0.9, sum by (le) (rate(b[5m])))", "quantile(0.5, x)", "limit_ratio(0.5, x)",
    "sort_by_label(x, \"a\", \"b\")", "info(x, {k=~\".+\"})", "a + fill(NaN) b", "a @ -5",
    "Inf ^ 2", "Inf * 2", ":", "foo offset 5m[1m:]", "-x offset 1m",
])
def test_round_trip(text):
    expr = parse(text)
    printed = format_expr(expr)
    assert parse(printed) == expr
    assert format_expr(parse(printed)) == printed
