"""Instant-vector functions applied value by value: math, trig, clamp, round."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from promql.ast import Call
from promql.engine.values import Value

if TYPE_CHECKING:
    from promql.engine.evaluator import Evaluator


def _sgn(v: np.ndarray) -> np.ndarray:
    return np.sign(v)


MATH: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "abs": np.abs, "ceil": np.ceil, "floor": np.floor, "exp": np.exp, "sqrt": np.sqrt,
    "ln": np.log, "log2": np.log2, "log10": np.log10,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh,
    "deg": lambda v: v * (180 / np.pi), "rad": lambda v: v * (np.pi / 180), "sgn": _sgn,
}


def math_function(fn: Callable[[np.ndarray], np.ndarray]):
    def run(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
        vec = ev.eval_vector(call.args[0], ts)
        with np.errstate(all="ignore"):
            vals = fn(vec.values)
        return ev.map_values(vec, vals, vec.present, drop=True)
    return run


def clamp(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    vec = ev.eval_vector(call.args[0], ts)
    name = call.func.name
    lo = ev.eval_scalar(call.args[1], ts) if name in ("clamp", "clamp_min") else None
    hi = ev.eval_scalar(call.args[2 if name == "clamp" else 1], ts) if name in ("clamp", "clamp_max") else None
    vals, present = vec.values, vec.present
    with np.errstate(all="ignore"):
        if hi is not None:
            vals = _go_min(vals, hi[None, :])
        if lo is not None:
            vals = _go_max(vals, lo[None, :])
        if name == "clamp":
            present = present & ~(hi < lo)[None, :]
    return ev.map_values(vec, vals, present, drop=True)


def _go_max(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """math.Max: NaN wins, +0 beats -0."""
    return np.maximum(a, b)


def _go_min(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.minimum(a, b)


def round_(ev: "Evaluator", call: Call, ts: np.ndarray) -> Value:
    vec = ev.eval_vector(call.args[0], ts)
    to = ev.eval_scalar(call.args[1], ts) if len(call.args) > 1 else np.ones(len(ts))
    with np.errstate(all="ignore"):
        inv = 1.0 / to
        vals = np.floor(vec.values * inv[None, :] + 0.5) / inv[None, :]
    return ev.map_values(vec, vals, vec.present, drop=True)
