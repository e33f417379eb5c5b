"""Deterministic stand-in for three scrapes of the PromLabs demo service.

The compliance query list is written against these metric names; without them most queries
are empty on both sides and compare nothing. Three hours at 15 s, starting 2024-01-01, with
the events a scrape really produces, placed at known scrape indexes so the evaluation times
below can aim at them:

- instance 10000 restarts at 0:50 (counter reset, no gap);
- instance 10002 loses 12 minutes (1:20-1:32) without stale markers (a lookback-long gap);
- instance 10001 goes down at 1:50 (stale markers on all its series) and comes back at 2:00
  with reset counters and a different CPU count;
- `demo_intermittent_metric` comes and goes every 10 minutes, with stale markers;
- the (POST, /api/bar, 500) histogram is born at 0:30; 10002's disk series end at 2:30 with
  stale markers; 10000's `buffers` memory series just stops at 2:20;
- a few real NaN samples in 10002's `cached` memory.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from tests.support import STALE_NAN, bits

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
STEP_MS = 15_000
SCRAPES = 720  # 3 h
JOB = "demo"
INSTANCES = ("demo.promlabs.com:10000", "demo.promlabs.com:10001", "demo.promlabs.com:10002")
SCRAPE_OFFSET_MS = (0, 4_321, 9_876)  # targets are scraped at different phases
LE = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")
METHODS = ("GET", "POST")
PATHS = ("/api/foo", "/api/bar")
STATUSES = ("200", "500")
MEMORY_TYPES = ("buffers", "cached", "free", "used")
CPU_MODES = ("idle", "system", "user")

MINUTE = 60_000
RESTART_10000 = 200            # 0:50
GAP_10002 = range(320, 368)    # 1:20-1:32, no stale markers
DOWN_10001 = range(440, 480)   # 1:50-2:00, stale markers at 440, reset at 480
BORN_HISTOGRAM = 120           # 0:30: (POST, /api/bar, 500) appears
BUFFERS_10000_END = 560        # 2:20: series stops, no marker
DISK_10002_END = 600           # 2:30: stale marker
NAN_10002_CACHED = range(250, 254)

# Where the comparison evaluates: near the edges, just after a reset, inside the gap,
# while 10001 is down, and past the last sample (inside the lookback).
INSTANT_TIMES_MS = (
    T0 + 3 * MINUTE + 7_500,
    T0 + 50 * MINUTE + 40_000,
    T0 + 89 * MINUTE,
    T0 + 112 * MINUTE + 30_000,
    T0 + 179 * MINUTE + 50_000,
    T0 + 183 * MINUTE,
)
# (start, end, step) over 1 h windows: across the gap/outage, from before the data, past the end.
RANGE_WINDOWS: tuple[tuple[int, int, str], ...] = (
    (T0 + 75 * MINUTE, T0 + 135 * MINUTE, "15s"),
    (T0 - 10 * MINUTE + 7_000, T0 + 50 * MINUTE + 7_000, "1m"),
    (T0 + 125 * MINUTE, T0 + 185 * MINUTE, "5m"),
)

# `make test-full`: every 7m13s across the data (odd offsets hit between-sample times), and
# range queries over the whole data at several steps, including one that is not a divisor.
FULL_INSTANT_TIMES_MS = tuple(range(T0 - 5 * MINUTE, T0 + 185 * MINUTE, 7 * MINUTE + 13_000))
FULL_RANGE_WINDOWS: tuple[tuple[int, int, str], ...] = tuple(
    (T0 - 5 * MINUTE, T0 + 185 * MINUTE, step) for step in ("15s", "37s", "1m", "5m", "1h"))

STALE_BITS = bits(STALE_NAN)
Labels = dict[str, str]
Series = tuple[Labels, list[tuple[int, float]]]


@dataclass
class _Builder:
    """Collects samples per label set, keeping labels sorted (remote write expects it)."""

    series: dict[tuple, Series] = field(default_factory=dict)

    def add(self, labels: Labels, ts: int, value: float) -> None:
        key = tuple(sorted(labels.items()))
        self.series.setdefault(key, (dict(key), []))[1].append((ts, value))

    def stale(self, labels: Labels, ts: int) -> None:
        """A stale marker, only for a series that exists and is not already stale."""
        key = tuple(sorted(labels.items()))
        if key in self.series and not _is_stale(self.series[key][1][-1][1]):
            self.series[key][1].append((ts, STALE_NAN))


def _is_stale(v: float) -> bool:
    return bits(v) == STALE_BITS


@dataclass
class _Instance:
    """Per-target state that carries across scrapes (counters, the batch job)."""

    idx: int
    rng: random.Random
    cpus: float
    cpu: dict[str, float] = field(default_factory=dict)
    hist: dict[tuple, list[float]] = field(default_factory=dict)  # buckets..., sum, count
    batch_ts: float = 0.0
    next_batch_ms: int = 0

    def reset_counters(self) -> None:
        self.cpu = {m: 0.0 for m in CPU_MODES}
        self.hist = {}


def generate(seed: int = 42) -> list[Series]:
    """All series, each with samples in time order: 324 series, ~218k samples."""
    b = _Builder()
    insts = [_Instance(k, random.Random(seed * 1000 + k), cpus=(4.0, 8.0, 2.0)[k]) for k in range(3)]
    for inst in insts:
        inst.reset_counters()
        inst.batch_ts = (T0 - 4 * MINUTE) / 1000
        inst.next_batch_ms = T0 + (2 + inst.idx) * MINUTE
    for i in range(SCRAPES):
        for inst in insts:
            k, rng = inst.idx, inst.rng
            ts = T0 + i * STEP_MS + SCRAPE_OFFSET_MS[k] + rng.randint(-30, 30)
            common = {"job": JOB, "instance": INSTANCES[k]}
            if k == 2 and i in GAP_10002:
                continue
            if k == 1 and i in DOWN_10001:
                if i == DOWN_10001.start:
                    for key, (labels, _) in list(b.series.items()):
                        if labels["instance"] == INSTANCES[1]:
                            b.stale(labels, ts)
                continue
            if (k == 0 and i == RESTART_10000) or (k == 1 and i == DOWN_10001.stop):
                inst.reset_counters()
                if k == 1:
                    inst.cpus = 6.0
            _scrape(b, inst, i, ts, common)
    return list(b.series.values())


def _scrape(b: _Builder, inst: _Instance, i: int, ts: int, common: Labels) -> None:
    k, rng = inst.idx, inst.rng
    b.add({"__name__": "demo_num_cpus", **common}, ts, inst.cpus)

    # CPU counters: busy fraction follows a slow wave per instance.
    busy = 0.3 + 0.2 * math.sin(i / 60 + k)
    shares = {"user": busy * 0.7, "system": busy * 0.3, "idle": 1 - busy}
    for mode in CPU_MODES:
        inst.cpu[mode] += inst.cpus * 15 * shares[mode] * rng.uniform(0.9, 1.1)
        b.add({"__name__": "demo_cpu_usage_seconds_total", "mode": mode, **common}, ts, round(inst.cpu[mode], 3))

    # Memory gauges (whole bytes), free is what is left.
    total = float(2 ** 30 * (4, 8, 2)[k])
    used = round(total * (0.45 + 0.15 * math.sin(i / 45 + 2 * k)) + rng.randint(-2 ** 20, 2 ** 20))
    cached = round(total * 0.2 + rng.randint(0, 2 ** 22))
    buffers = round(total * 0.05 + rng.randint(0, 2 ** 18))
    mem = {"used": float(used), "cached": float(cached), "buffers": float(buffers),
           "free": float(total - used - cached - buffers)}
    if k == 2 and i in NAN_10002_CACHED:
        mem["cached"] = math.nan
    for mtype in MEMORY_TYPES:
        if mtype == "buffers" and k == 0 and i >= BUFFERS_10000_END:
            continue
        b.add({"__name__": "demo_memory_usage_bytes", "type": mtype, **common}, ts, mem[mtype])

    # Disk: slow growth with a cleanup every 50 minutes; 10002's disk series end.
    disk_labels = {"__name__": "demo_disk_usage_bytes", **common}
    total_labels = {"__name__": "demo_disk_total_bytes", **common}
    if k == 2 and i >= DISK_10002_END:
        b.stale(disk_labels, ts)
        b.stale(total_labels, ts)
    else:
        usage = 20e9 + 5e9 * k + (i % 200) * 4.5e7 + rng.randint(0, 10 ** 6)
        b.add(disk_labels, ts, float(usage))
        b.add(total_labels, ts, 100e9 * (k + 1))

    # Batch job: succeeds every 4-7 minutes; the gauge holds the last success in unix seconds.
    if ts >= inst.next_batch_ms:
        inst.batch_ts = round(ts / 1000 - rng.uniform(0, 10), 3)
        inst.next_batch_ms = ts + rng.randint(4, 7) * MINUTE
    b.add({"__name__": "demo_batch_last_success_timestamp_seconds", **common}, ts, inst.batch_ts)

    # Intermittent: on for 10 minutes, off for 10, phase-shifted per instance.
    inter = {"__name__": "demo_intermittent_metric", **common}
    if ((i + 13 * k) // 40) % 2 == 0:
        b.add(inter, ts, float(rng.randint(0, 100)))
    else:
        b.stale(inter, ts)

    # Classic histogram per (method, path, status).
    for method in METHODS:
        for path in PATHS:
            for status in STATUSES:
                if (method, path, status) == ("POST", "/api/bar", "500") and i < BORN_HISTOGRAM:
                    continue
                _histogram(b, inst, ts, common, method, path, status)


def _histogram(b: _Builder, inst: _Instance, ts: int, common: Labels, method: str, path: str, status: str) -> None:
    rng = inst.rng
    key = (method, path, status)
    acc = inst.hist.setdefault(key, [0.0] * (len(LE) + 2))
    n = rng.randint(5, 30) if status == "200" else rng.randint(0, 3)
    mu = -3.5 if path == "/api/foo" else -2.0
    bounds = [float(le) for le in LE]
    for _ in range(n):
        d = rng.lognormvariate(mu, 1.0)
        for j, bound in enumerate(bounds):
            if d <= bound:
                acc[j] += 1
        acc[-2] += d
        acc[-1] += 1
    base = {"method": method, "path": path, "status": status, **common}
    for j, le in enumerate(LE):
        b.add({"__name__": "demo_api_request_duration_seconds_bucket", "le": le, **base}, ts, acc[j])
    b.add({"__name__": "demo_api_request_duration_seconds_sum", **base}, ts, round(acc[-2], 6))
    b.add({"__name__": "demo_api_request_duration_seconds_count", **base}, ts, acc[-1])


def chunks(series: list[Series], window_ms: int = 10 * MINUTE) -> list[list[Series]]:
    """Split into requests of `window_ms` of data each, in time order (one request may hold
    ~13k samples), so both servers see history arrive as a scraper would send it."""
    out: dict[int, dict[tuple, Series]] = {}
    for labels, samples in series:
        key = tuple(labels.items())
        for ts, v in samples:
            out.setdefault((ts - T0) // window_ms, {}).setdefault(key, (labels, []))[1].append((ts, v))
    return [list(out[w].values()) for w in sorted(out)]


def summary(series: list[Series]) -> str:
    samples = sum(len(s) for _, s in series)
    stale = sum(1 for _, s in series for _, v in s if _is_stale(v))
    names = len({labels["__name__"] for labels, _ in series})
    return f"{len(series)} series of {names} metrics, {samples} samples ({stale} stale markers)"
