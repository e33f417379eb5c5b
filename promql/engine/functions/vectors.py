"""Functions that build or reshape vectors: scalar, vector, time, absent, timestamp, sort*."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from promql.ast import Call, ParenExpr, VectorSelector
from promql.engine.functions.range_functions import absent_labels
from promql.engine.labels import label_key
from promql.engine.values import InstantVector, Scalar, Value

if TYPE_CHECKING:
    from promql.engine.evaluator import Evaluator


def _unwrap(expr):
    while isinstance(expr, ParenExpr):
        expr = expr.expr
    return expr


def scalar(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    vec = ev.eval_vector(call.args[0], ts)
    T = len(ts)
    if vec.n == 0:
        return Scalar(np.full(T, np.nan))
    cnt = vec.present.sum(axis=0)
    first = vec.present.argmax(axis=0)
    vals = vec.values[first, np.arange(T)]
    return Scalar(np.where(cnt == 1, vals, np.nan))


def vector(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    s = ev.eval_scalar(call.args[0], ts)
    return InstantVector([{}], s[None, :].copy(), np.ones((1, len(ts)), bool))


def time_(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    return Scalar(ts / 1000.0)


def pi(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    return Scalar(np.full(len(ts), np.pi))


def query_bound(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    name = call.func.name
    value = {"start": ev.query_start / 1000, "end": ev.query_end / 1000,
             "step": ev.query_step / 1000, "range": (ev.query_end - ev.query_start) / 1000}[name]
    return Scalar(np.full(len(ts), float(value)))


def absent(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    vec = ev.eval_vector(call.args[0], ts)
    arg = call.args[0]
    labels = absent_labels(arg.matchers) if isinstance(arg, VectorSelector) else {}
    missing = ~vec.present.any(axis=0) if vec.n else np.ones(len(ts), bool)
    return InstantVector([labels], np.ones((1, len(ts))), missing[None, :])


def timestamp(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    arg = _unwrap(call.args[0])
    if isinstance(arg, VectorSelector):
        vec, sample_ts = ev.eval_selector(arg, ts, with_timestamps=True)
        vals = sample_ts / 1000.0
    else:
        vec = ev.eval_vector(arg, ts)
        vals = np.broadcast_to(ts / 1000.0, vec.values.shape).copy()
    return ev.map_values(vec, vals, vec.present, drop=True)


def sort(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    vec = ev.eval_vector(call.args[0], ts)
    desc = call.func.name == "sort_desc"
    nan = np.isnan(vec.values)
    key = np.where(nan, 0.0, -vec.values if desc else vec.values)
    tie = np.broadcast_to(np.arange(vec.n)[:, None], vec.values.shape)
    order = np.lexsort((tie, key, nan), axis=0)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(vec.n)[:, None], order.shape).copy(), axis=0)
    return InstantVector(vec.labels, vec.values, vec.present, vec.drop_name, rank.astype(np.float64))


def _natural_key(s: str) -> tuple:
    return tuple((0, int(c), "") if c.isdigit() else (1, 0, c) for c in re.findall(r"\d+|\D+", s))


def sort_by_label(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    vec = ev.eval_vector(call.args[0], ts)
    names = [ev.eval_string(a) for a in call.args[1:]]
    desc = call.func.name == "sort_by_label_desc"
    keys = [(tuple(_natural_key(lb.get(n, "")) for n in names), label_key(lb)) for lb in vec.labels]
    order = sorted(range(vec.n), key=lambda i: keys[i], reverse=desc)
    rank = np.empty(vec.n)
    rank[order] = np.arange(vec.n)
    return InstantVector(vec.labels, vec.values, vec.present, vec.drop_name,
                         np.broadcast_to(rank[:, None], vec.values.shape).copy())
