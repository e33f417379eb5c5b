"""Aggregation operators over a (series x steps) matrix, grouped by label signature.

Group folds run once per member rank (see kernels.group_ranks) so sums, means and
variances use exactly Prometheus' sequential arithmetic (Kahan in v3, plain in v2).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from promql.ast import AggregateExpr
from promql.engine.errors import execution_error
from promql.engine.kernels import group_ranks, kahan_inc, sorted_quantile
from promql.engine.labels import group_ids, grouping_labels, label_key
from promql.engine.values import InstantVector, Value
from promql.numbers import format_float, format_float_v

if TYPE_CHECKING:
    from promql.engine.evaluator import Evaluator

_LABEL_NAME_V2 = __import__("re").compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def aggregate(ev: "Evaluator", node: AggregateExpr, ts: np.ndarray) -> Value:
    vec = ev.eval_vector(node.expr, ts)
    op = node.op
    param = None
    if op in ("topk", "bottomk", "quantile", "limitk", "limit_ratio"):
        param = ev.eval_scalar(node.param, ts)
    elif op == "count_values":
        param = ev.eval_string(node.param)
    # v2 has already dropped names; v3 groups on the not-yet-dropped name (as Prometheus 3 does).
    names = vec.labels
    keys = [grouping_labels(lb, node.grouping, node.without) for lb in names]
    gid, uniq = group_ids(label_key(k) for k in keys)
    n_groups, n_steps = len(uniq), len(ts)
    out_labels = [dict(k) for k in uniq]
    if op in ("topk", "bottomk", "limitk", "limit_ratio"):
        return _select_series(ev, op, vec, gid, n_groups, param)
    if op == "count_values":
        return _count_values(ev, vec, names, node, param)
    vals, pres = vec.values, vec.present
    any_p = np.zeros((n_groups, n_steps), bool)
    np.logical_or.at(any_p, gid, pres) if len(gid) else None
    if op == "quantile":
        out = _grouped_quantile(vals, pres, gid, n_groups, param)
    else:
        out = _FOLDS[op](ev, vals, pres, gid, n_groups)
    pending = None
    if not ev.v2 and len(gid):
        pending = np.zeros(n_groups, bool)
        np.logical_or.at(pending, gid, vec.drops())
    return InstantVector(out_labels, out, any_p, pending).compact()


def _sum(ev, vals, pres, gid, G):
    T = vals.shape[1]
    s, c = np.zeros((G, T)), np.zeros((G, T))
    seen = np.zeros((G, T), bool)
    with np.errstate(invalid="ignore", over="ignore"):
        for rows, g in group_ranks(gid):
            f, m = vals[rows], pres[rows]
            cur_s, cur_c, cur_seen = s[g], c[g], seen[g]
            if ev.v2:
                new_s, new_c = cur_s + f, cur_c
            else:
                new_s, new_c = kahan_inc(f, cur_s, cur_c)
            new_s = np.where(cur_seen, new_s, f)
            new_c = np.where(cur_seen, new_c, 0.0)
            s[g], c[g], seen[g] = np.where(m, new_s, cur_s), np.where(m, new_c, cur_c), cur_seen | m
        return s if ev.v2 else s + c


def _avg(ev, vals, pres, gid, G):
    T = vals.shape[1]
    total, comp, mean = np.zeros((G, T)), np.zeros((G, T)), np.zeros((G, T))
    count = np.zeros((G, T))
    incremental = np.zeros((G, T), bool)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for rows, g in group_ranks(gid):
            f, m = vals[rows], pres[rows]
            n = count[g] + m
            first = m & (count[g] == 0)
            if ev.v2:
                mu = mean[g]
                skip = np.isinf(mu) & ((np.isinf(f) & ((mu > 0) == (f > 0))) | (~np.isinf(f) & ~np.isnan(f)))
                upd = mu + (f / n - mu / n)
                mu = np.where(first, f, np.where(m & ~skip, upd, mu))
                mean[g], count[g] = mu, n
                continue
            tot, cp, mu, inc = total[g], comp[g], mean[g], incremental[g]
            ns, nc = kahan_inc(f, tot, cp)
            rest = m & ~first
            switch = rest & ~inc & np.isinf(ns)
            direct = rest & ~inc & ~np.isinf(ns)
            tot = np.where(first, f, np.where(direct, ns, tot))
            cp = np.where(direct, nc, cp)
            mu = np.where(switch, tot / (n - 1), mu)
            cp = np.where(switch, cp / (n - 1), cp)
            inc = inc | switch
            inc_now = rest & inc
            skip = np.isinf(mu) & ((np.isinf(f) & ((mu > 0) == (f > 0))) | (~np.isinf(f) & ~np.isnan(f)))
            q = (n - 1) / n
            nm, nc2 = kahan_inc(f / n, q * mu, q * cp)
            upd = inc_now & ~skip
            mu, cp = np.where(upd, nm, mu), np.where(upd, nc2, cp)
            total[g], comp[g], mean[g], incremental[g], count[g] = tot, cp, mu, inc, n
        if ev.v2:
            return mean
        return np.where(incremental, mean + comp, (total + comp) / count)


def _count(ev, vals, pres, gid, G):
    out = np.zeros((G, vals.shape[1]))
    np.add.at(out, gid, pres.astype(np.float64))
    return out


def _group(ev, vals, pres, gid, G):
    return np.ones((G, vals.shape[1]))


def _extreme(is_max: bool):
    def run(ev, vals, pres, gid, G):
        T = vals.shape[1]
        out = np.full((G, T), np.nan)
        for rows, g in group_ranks(gid):
            f, m = vals[rows], pres[rows]
            cur = out[g]
            better = (cur < f) if is_max else (cur > f)
            out[g] = np.where(m & (better | np.isnan(cur)), f, cur)
        return out
    return run


def _variance(sqrt: bool):
    def run(ev, vals, pres, gid, G):
        T = vals.shape[1]
        mean, acc, count = np.zeros((G, T)), np.zeros((G, T)), np.zeros((G, T))
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            for rows, g in group_ranks(gid):
                f, m = vals[rows], pres[rows]
                n = count[g] + 1
                delta = f - mean[g]
                nm = mean[g] + delta / n
                na = acc[g] + delta * (f - nm)
                if ev.v2:  # 2.x starts every group at 0, so a lone NaN or Inf member gives 0
                    na = np.where(count[g] == 0, 0.0, na)
                mean[g] = np.where(m, nm, mean[g])
                acc[g] = np.where(m, na, acc[g])
                count[g] = np.where(m, n, count[g])
            var = acc / count
        return np.sqrt(var) if sqrt else var
    return run


_FOLDS = {
    "sum": _sum, "avg": _avg, "count": _count, "group": _group,
    "max": _extreme(True), "min": _extreme(False),
    "stddev": _variance(True), "stdvar": _variance(False),
}


def _grouped_quantile(vals, pres, gid, G, q):
    T = vals.shape[1]
    out = np.full((G, T), np.nan)
    for g in range(G):
        rows = np.flatnonzero(gid == g)
        out[g] = sorted_quantile(vals[rows].T, pres[rows].T, q)
    return out


# Prometheus' maxInt64/minInt64: the float64 bounds its int64 conversion checks use.
_MAX_INT64 = 9223372036854774784.0
_MIN_INT64 = -9223372036854775808.0


def _check_k(ev: "Evaluator", k: np.ndarray) -> None:
    """The k of topk/bottomk/limitk must convert to int64 at every step of the range, whether
    or not the step has input (an execution error otherwise), as each Prometheus checks it:

    - 2.x checks k step by step (aggregation() runs at every step, even with no input):
      the first step with `!(k <= maxInt64 && k >= minInt64)` (NaN included) fails with
      "Scalar value <k> overflows int64";
    - 3.x checks all steps up front: nothing when max(k) < 1 (no NaN), else any NaN fails with
      "Parameter value is NaN", then min(k) <= minInt64 "underflows", max(k) >= maxInt64
      "overflows".
    """
    if len(k) == 0:
        return
    with np.errstate(invalid="ignore"):
        if ev.v2:
            bad = ~((k <= _MAX_INT64) & (k >= _MIN_INT64))
            if bad.any():
                raise execution_error(f"Scalar value {format_float_v(float(k[bad][0]))} overflows int64")
            return
        if np.isnan(k).any():
            raise execution_error("Parameter value is NaN")
        hi, lo = float(k.max()), float(k.min())
    if hi < 1:
        return
    if lo <= _MIN_INT64:
        raise execution_error(f"Scalar value {format_float_v(lo)} underflows int64")
    if hi >= _MAX_INT64:
        raise execution_error(f"Scalar value {format_float_v(hi)} overflows int64")


def _select_series(ev: "Evaluator", op: str, vec: InstantVector, gid: np.ndarray, G: int,
                   param: np.ndarray) -> InstantVector:
    """topk/bottomk/limitk/limit_ratio keep input series (and labels) at the selected steps."""
    n, T = vec.values.shape
    used = vec.present.any(axis=0)
    if op == "limit_ratio":
        if np.isnan(param[used]).any():
            raise execution_error("Ratio value is NaN")
        raise execution_error("limit_ratio is not supported (experimental)")
    _check_k(ev, param)
    with np.errstate(invalid="ignore"):
        k = np.where(np.isnan(param), 0, np.clip(param, -2**62, 2**62)).astype(np.int64)
    keep = np.zeros((n, T), bool)
    order = np.zeros((n, T))
    vals = vec.values
    nan = np.isnan(vals)
    pos = np.arange(n)
    for g in range(G):
        rows = np.flatnonzero(gid == g)
        p = vec.present[rows]
        if op == "limitk":
            rank = np.cumsum(p, axis=0) - 1
        else:
            v = vals[rows]
            key = np.where(nan[rows], 0.0, -v if op == "topk" else v)
            tie = np.broadcast_to(pos[rows][:, None], v.shape)
            srt = np.lexsort((tie, key, nan[rows], ~p), axis=0)
            rank = np.empty_like(srt)
            np.put_along_axis(rank, srt, np.arange(len(rows))[:, None].repeat(T, axis=1), axis=0)
        sel = p & (rank < k[None, :])
        keep[rows] = sel
        order[rows] = g * (n + 1) + rank
    out = InstantVector(vec.labels, vec.values, keep, vec.drop_name, order)
    return out.compact()


def _count_values(ev: "Evaluator", vec: InstantVector, names: list[dict[str, str]], node: AggregateExpr,
                  label: str) -> InstantVector:
    if (ev.v2 and not _LABEL_NAME_V2.match(label)) or not _valid_utf8(label):
        raise execution_error(f"invalid label name {_go_quote(label)}")
    n, T = vec.values.shape
    rows, cols = np.nonzero(vec.present)
    vals = vec.values[rows, cols]
    bits = vals.view(np.int64)
    uniq_bits, inv = np.unique(bits, return_inverse=True)
    texts = [format_float(float(b)) for b in uniq_bits.view(np.float64)]
    base = [grouping_labels(lb, node.grouping, node.without) for lb in names]
    base_id, base_keys = group_ids(label_key(b) for b in base)
    pair = base_id[rows] * len(uniq_bits) + inv
    uniq_pairs, pair_inv = np.unique(pair, return_inverse=True)
    out_keys: dict[tuple, int] = {}
    out_labels: list[dict[str, str]] = []
    pair_out = np.empty(len(uniq_pairs), np.int64)
    for j, p in enumerate(uniq_pairs):  # one iteration per output series
        lb = dict(base_keys[int(p) // len(uniq_bits)])
        lb[label] = texts[int(p) % len(uniq_bits)]
        pair_out[j] = out_keys.setdefault(label_key(lb), len(out_labels))
        if pair_out[j] == len(out_labels):
            out_labels.append(lb)
    pair_ids = pair_out[pair_inv]
    counts = np.zeros((len(out_labels), T))
    np.add.at(counts, (pair_ids, cols), 1.0)
    return InstantVector(out_labels, counts, counts > 0)


def _valid_utf8(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return bool(s)


def _go_quote(s: str) -> str:
    from promql.strings import go_quote

    return go_quote(s)
