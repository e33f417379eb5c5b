"""Functions of a range vector: rate family, `*_over_time`, changes/resets, deriv, smoothing."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from promql.ast import Call, MatrixSelector, ParenExpr
from promql.engine.errors import execution_error
from promql.engine.kernels import fold_windows, kahan_inc, sorted_quantile, window_reduce
from promql.engine.rate import extrapolated_rate, instant_rate
from promql.engine.values import InstantVector, RangeVector, Value

if TYPE_CHECKING:
    from promql.engine.evaluator import Evaluator

Kernel = Callable[["Evaluator", Call, RangeVector, np.ndarray], tuple[np.ndarray, np.ndarray]]
KEEPS_NAME = frozenset({"last_over_time", "first_over_time"})


def _range_arg_index(call: Call) -> int:
    return [i for i, a in enumerate(call.func.arg_types) if a == "matrix"][0]


def range_function(kernel: Kernel) -> Callable[["Evaluator", Call, np.ndarray], Value]:
    def run(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
        rv = ev.eval_range(call.args[_range_arg_index(call)], ts)
        values, present = kernel(ev, call, rv, ts)
        keep = call.func.name in KEEPS_NAME and not (ev.v2 and call.func.name == "first_over_time")
        return ev.series_result(rv.labels, values, present, rv.drops(), drop=not keep)
    return run


# --- rate family ---------------------------------------------------------------------------

def _rate(ev, call, rv, ts):
    return extrapolated_rate(rv, True, True, ev.v2)


def _increase(ev, call, rv, ts):
    return extrapolated_rate(rv, True, False, ev.v2)


def _delta(ev, call, rv, ts):
    return extrapolated_rate(rv, False, False, ev.v2)


def _irate(ev, call, rv, ts):
    return instant_rate(rv, True)


def _idelta(ev, call, rv, ts):
    return instant_rate(rv, False)


# --- simple window statistics ---------------------------------------------------------------

def _count(ev, call, rv, ts):
    lo, hi = rv.windows()
    if rv.counts:  # downsampled windows: each row stands for `value` samples
        cum = np.r_[0.0, np.cumsum(rv.values)]
        return cum[hi] - cum[lo], hi > lo
    return (hi - lo).astype(np.float64), hi > lo


def _present(ev, call, rv, ts):
    lo, hi = rv.windows()
    return np.ones(lo.shape), hi > lo


def _pick(which: str, what: str) -> Kernel:
    def kernel(ev, call, rv, ts):
        lo, hi = rv.windows()
        ok = hi > lo
        if len(rv.values) == 0:
            return np.full(lo.shape, np.nan), ok
        idx = np.where(ok, hi - 1 if which == "last" else lo, 0)
        vals = rv.values[idx] if what == "value" else rv.timestamps[idx] / 1000.0
        return np.where(ok, vals, np.nan), ok
    return kernel


def _extreme(ufunc: np.ufunc) -> Kernel:
    def kernel(ev, call, rv, ts):
        lo, hi = rv.windows()
        return window_reduce(ufunc, rv.values, lo, hi), hi > lo
    return kernel


def _ts_of_extreme(is_max: bool) -> Kernel:
    def fold(V, TS, mask, cnt, steps):
        best = V[:, 0].copy()
        best_t = TS[:, 0].astype(np.float64)
        for j in range(1, V.shape[1]):
            v = V[:, j]
            better = (v > best) if is_max else (v < best)
            take = mask[:, j] & ((better | np.isnan(best)) | (v == best))
            best = np.where(take, v, best)
            best_t = np.where(take, TS[:, j], best_t)
        return best_t / 1000.0, np.ones(len(V), bool)

    def kernel(ev, call, rv, ts):
        lo, hi = rv.windows()
        return fold_windows(rv.values, rv.timestamps, lo, hi, 1, fold)
    return kernel


def _pair_count(compare: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Kernel:
    """changes/resets: count adjacent sample pairs inside each window that satisfy `compare`."""
    def kernel(ev, call, rv, ts):
        lo, hi = rv.windows()
        v = rv.values
        ind = np.zeros(len(v))
        if len(v) > 1:
            ind[1:] = compare(v[1:], v[:-1])
        ok = hi > lo
        counts = window_reduce(np.add, ind, np.where(ok, lo + 1, 0), np.where(ok, hi, 0), 0.0)
        return np.where(ok, counts, np.nan), ok
    return kernel


def _changed(cur: np.ndarray, prev: np.ndarray) -> np.ndarray:
    return (cur != prev) & ~(np.isnan(cur) & np.isnan(prev))


def _reset(cur: np.ndarray, prev: np.ndarray) -> np.ndarray:
    return cur < prev


# --- folds over padded windows -------------------------------------------------------------

def _fold(fold, min_count: int = 1) -> Kernel:
    def kernel(ev, call, rv, ts):
        lo, hi = rv.windows()
        return fold_windows(rv.values, rv.timestamps, lo, hi, min_count, fold)
    return kernel


def _sum_fold(V, TS, mask, cnt, steps):
    s = np.zeros(len(V))
    c = np.zeros(len(V))
    for j in range(V.shape[1]):
        t, c2 = kahan_inc(V[:, j], s, c)
        m = mask[:, j]
        s, c = np.where(m, t, s), np.where(m, c2, c)
    with np.errstate(invalid="ignore"):
        return np.where(np.isinf(s), s, s + c), np.ones(len(V), bool)


def avg_fold_v3(V: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Prometheus 3's mean: Kahan sum while it does not overflow, then incremental mean."""
    total = V[:, 0].copy()
    comp = np.zeros(len(V))
    mean = np.zeros(len(V))
    incremental = np.zeros(len(V), bool)
    count = np.ones(len(V))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for j in range(1, V.shape[1]):
            m = mask[:, j]
            f = V[:, j]
            n = count + m
            ns, nc = kahan_inc(f, total, comp)
            switch = m & ~incremental & np.isinf(ns)
            direct = m & ~incremental & ~np.isinf(ns)
            total = np.where(direct, ns, total)
            comp = np.where(direct, nc, comp)
            mean = np.where(switch, total / (n - 1), mean)
            comp = np.where(switch, comp / (n - 1), comp)
            incremental = incremental | switch
            inc_now = m & incremental
            skip = inc_now & np.isinf(mean) & ((np.isinf(f) & ((mean > 0) == (f > 0))) | (~np.isinf(f) & ~np.isnan(f)))
            upd = inc_now & ~skip
            q = (n - 1) / n
            nm, nc2 = kahan_inc(f / n, q * mean, q * comp)
            mean = np.where(upd, nm, mean)
            comp = np.where(upd, nc2, comp)
            count = n
        return np.where(incremental, mean + comp, total / count + comp / count)


def avg_fold_v2(V: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Prometheus 2's incremental, Kahan-compensated mean."""
    mean = np.zeros(len(V))
    comp = np.zeros(len(V))
    count = np.zeros(len(V))
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for j in range(V.shape[1]):
            m = mask[:, j]
            f = V[:, j]
            count = count + m
            skip = np.isinf(mean) & ((np.isinf(f) & ((mean > 0) == (f > 0))) | (~np.isinf(f) & ~np.isnan(f)))
            upd = m & ~skip
            nm, nc = kahan_inc(f / count - mean / count, mean, comp)
            mean = np.where(upd, nm, mean)
            comp = np.where(upd, nc, comp)
        return np.where(np.isinf(mean), mean, mean + comp)


def _avg_kernel(ev, call, rv, ts):
    fold = avg_fold_v2 if ev.v2 else avg_fold_v3
    return _fold(lambda V, TS, mask, cnt, steps: (fold(V, mask), np.ones(len(V), bool)))(ev, call, rv, ts)


def _variance_fold(V, mask):
    n = len(V)
    count = np.zeros(n)
    mean, cmean = np.zeros(n), np.zeros(n)
    aux, caux = np.zeros(n), np.zeros(n)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for j in range(V.shape[1]):
            m = mask[:, j]
            f = V[:, j]
            cnt = count + 1
            delta = f - (mean + cmean)
            nm, ncm = kahan_inc(delta / cnt, mean, cmean)
            na, nca = kahan_inc(delta * (f - (nm + ncm)), aux, caux)
            count = np.where(m, cnt, count)
            mean, cmean = np.where(m, nm, mean), np.where(m, ncm, cmean)
            aux, caux = np.where(m, na, aux), np.where(m, nca, caux)
        return (aux + caux) / count


def _stdvar(V, TS, mask, cnt, steps):
    return _variance_fold(V, mask), np.ones(len(V), bool)


def _stddev(V, TS, mask, cnt, steps):
    return np.sqrt(_variance_fold(V, mask)), np.ones(len(V), bool)


def _quantile_over_time(ev, call, rv, ts):
    q = ev.eval_scalar(call.args[0], ts)
    lo, hi = rv.windows()
    return fold_windows(rv.values, rv.timestamps, lo, hi, 1,
                        lambda V, TS, mask, cnt, steps: (sorted_quantile(V, mask, q[steps]), np.ones(len(V), bool)))


def _mad(V, TS, mask, cnt, steps):
    half = np.full(len(V), 0.5)
    med = sorted_quantile(V, mask, half)
    dev = np.abs(V - med[:, None])
    return sorted_quantile(dev, mask, half), np.ones(len(V), bool)


def linear_regression(V, TS, mask, intercept_t):
    """Prometheus' linearRegression (Kahan sums); returns (slope, intercept)."""
    n = len(V)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        x = (TS - intercept_t[:, None]) / 1e3
        sums = {k: [np.zeros(n), np.zeros(n)] for k in ("x", "y", "xy", "x2")}
        init_y = V[:, 0]
        const_y = np.ones(n, bool)
        count = mask.sum(axis=1).astype(np.float64)
        for j in range(V.shape[1]):
            m = mask[:, j]
            f, xj = V[:, j], x[:, j]
            const_y &= ~m | (f == init_y)
            for k, inc in (("x", xj), ("y", f), ("xy", xj * f), ("x2", xj * xj)):
                t, c = kahan_inc(inc, sums[k][0], sums[k][1])
                sums[k] = [np.where(m, t, sums[k][0]), np.where(m, c, sums[k][1])]
        sx, sy, sxy, sx2 = (sums[k][0] + sums[k][1] for k in ("x", "y", "xy", "x2"))
        cov = sxy - sx * sy / count
        var = sx2 - sx * sx / count
        slope = cov / var
        intercept = sy / count - slope * sx / count
        inf_y = np.isinf(init_y)
        slope = np.where(const_y, np.where(inf_y, np.nan, 0.0), slope)
        intercept = np.where(const_y, np.where(inf_y, np.nan, init_y), intercept)
    return slope, intercept


def _deriv(ev, call, rv, ts):
    def fold(V, TS, mask, cnt, steps):
        slope, _ = linear_regression(V, TS, mask, TS[:, 0])
        return slope, np.ones(len(V), bool)
    return _fold(fold, 2)(ev, call, rv, ts)


def _predict_linear(ev, call, rv, ts):
    duration = ev.eval_scalar(call.args[1], ts)

    def fold(V, TS, mask, cnt, steps):
        slope, intercept = linear_regression(V, TS, mask, ts[steps])
        return slope * duration[steps] + intercept, np.ones(len(V), bool)
    return _fold(fold, 2)(ev, call, rv, ts)


def _smoothing(ev, call, rv, ts):
    sf = ev.eval_scalar(call.args[1], ts)
    tf = ev.eval_scalar(call.args[2], ts)
    lo, hi = rv.windows()
    used = (hi - lo) >= 2
    steps_used = used.any(axis=0)
    if steps_used.any():
        bad_sf = steps_used & ~((sf > 0) & (sf < 1))
        if bad_sf.any():
            raise execution_error(f"invalid smoothing factor. Expected: 0 < sf < 1, got: {_go_f(sf[bad_sf][0])}")
        bad_tf = steps_used & ~((tf > 0) & (tf < 1))
        if bad_tf.any():
            raise execution_error(f"invalid trend factor. Expected: 0 < tf < 1, got: {_go_f(tf[bad_tf][0])}")

    def fold(V, TS, mask, cnt, steps):
        s_f, t_f = sf[steps], tf[steps]
        s0 = np.zeros(len(V))
        s1 = V[:, 0].copy()
        b = V[:, 1] - V[:, 0]
        for i in range(1, V.shape[1]):
            m = mask[:, i]
            x = s_f * V[:, i]
            nb = b if i == 1 else t_f * (s1 - s0) + (1 - t_f) * b
            y = (1 - s_f) * (s1 + nb)
            b = np.where(m, nb, b)
            s0, s1 = np.where(m, s1, s0), np.where(m, x + y, s1)
        return s1, np.ones(len(V), bool)
    with np.errstate(invalid="ignore", over="ignore"):
        return fold_windows(rv.values, rv.timestamps, lo, hi, 2, fold)


def _go_f(v: float) -> str:
    """Go's %f."""
    if np.isnan(v):
        return "NaN"
    if np.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return f"{v:f}"


def absent_over_time(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    rv = ev.eval_range(call.args[0], ts)
    lo, hi = rv.windows()
    any_present = (hi > lo).any(axis=0)
    arg = call.args[0]
    while isinstance(arg, ParenExpr):
        arg = arg.expr
    labels = absent_labels(arg.vector.matchers) if isinstance(arg, MatrixSelector) else {}
    return InstantVector([labels], np.ones((1, len(ts))), ~any_present[None, :])


def absent_labels(matchers) -> dict[str, str]:
    """Labels of absent()'s output: equality matchers, minus names matched more than once."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    for m in matchers:
        if m.name == "__name__":
            continue
        if m.op == "=" and m.name not in seen:
            out[m.name] = m.value
            seen.add(m.name)
        else:
            out.pop(m.name, None)
    return out


RANGE_KERNELS: dict[str, Kernel] = {
    "rate": _rate, "increase": _increase, "delta": _delta, "irate": _irate, "idelta": _idelta,
    "count_over_time": _count, "present_over_time": _present,
    "last_over_time": _pick("last", "value"), "first_over_time": _pick("first", "value"),
    "ts_of_last_over_time": _pick("last", "ts"), "ts_of_first_over_time": _pick("first", "ts"),
    "ts_of_max_over_time": _ts_of_extreme(True), "ts_of_min_over_time": _ts_of_extreme(False),
    "max_over_time": _extreme(np.fmax), "min_over_time": _extreme(np.fmin),
    "sum_over_time": _fold(_sum_fold), "avg_over_time": _avg_kernel,
    "stddev_over_time": _fold(_stddev), "stdvar_over_time": _fold(_stdvar),
    "quantile_over_time": _quantile_over_time, "mad_over_time": _fold(_mad),
    "changes": _pair_count(_changed), "resets": _pair_count(_reset),
    "deriv": _deriv, "predict_linear": _predict_linear,
    "holt_winters": _smoothing, "double_exponential_smoothing": _smoothing,
}
