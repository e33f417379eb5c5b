"""Test data: realistic series (counters with resets, gauges, classic histograms, NaN,
stale markers) with their expected samples, and helpers to compare stored Parquet."""
from __future__ import annotations

import math
import random
import struct

import numpy as np
import pyarrow as pa

STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
BASE_TS = 1_700_000_000_000  # 2023-11-14, in the past: needs the out-of-order window


def bits(v: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def make_series(n_instances: int = 3, n_points: int = 120, step_ms: int = 15_000, seed: int = 1,
                base_ts: int = BASE_TS) -> list[tuple[dict, list[tuple[int, float]]]]:
    """Counters with resets, gauges with NaN, a classic histogram, and a series ended by
    a stale marker; `n_points` samples each."""
    rng = random.Random(seed)
    ts = [base_ts + i * step_ms for i in range(n_points)]
    out = []
    for inst in range(n_instances):
        common = {"job": "api", "instance": f"10.0.0.{inst}:9100"}
        value, counter = 0.0, []
        for i, t in enumerate(ts):
            value = 0.0 if i % 50 == 49 else value + rng.randint(0, 10)  # a reset every 50 samples
            counter.append((t, value))
        out.append(({"__name__": "http_requests_total", **common, "code": "200"}, counter))
        gauge = [(t, math.nan if i % 17 == 3 else rng.uniform(-1e6, 1e6)) for i, t in enumerate(ts)]
        out.append(({"__name__": "temperature_celsius", **common}, gauge))
        cum = 0
        for le in ("0.1", "0.5", "1", "+Inf"):
            cum += 1
            out.append(({"__name__": "rpc_duration_seconds_bucket", **common, "le": le},
                        [(t, float(cum * (i + 1))) for i, t in enumerate(ts)]))
        out.append(({"__name__": "rpc_duration_seconds_sum", **common}, [(t, 0.37 * i) for i, t in enumerate(ts)]))
        out.append(({"__name__": "rpc_duration_seconds_count", **common}, [(t, float(4 * i)) for i, t in enumerate(ts)]))
        ended = [(t, 1.0) for t in ts[: n_points // 2]] + [(ts[n_points // 2], STALE_NAN)]
        out.append(({"__name__": "up", **common}, ended))
    return out


def expected_rows(series) -> set[tuple]:
    """{(sorted label tuple, ts, value bits)} for bit-exact comparison."""
    return {(tuple(sorted(labels.items())), t, bits(v)) for labels, samples in series for t, v in samples}


def rows_from_table(table) -> set[tuple]:
    """Same shape as `expected_rows`, from a table with `labels`, `timestamp`, `value`."""
    labels = table.column("labels").to_pylist()
    ts = table.column("timestamp").cast(pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_numpy()
    vb = table.column("value").to_numpy().view(np.uint64)
    return {(tuple(sorted(l)), int(t), int(b)) for l, t, b in zip(labels, ts, vb)}


def batches(series, per_request: int):
    """Split series into requests of about `per_request` samples, in time order."""
    flat = [(labels, t, v) for labels, samples in series for t, v in samples]
    flat.sort(key=lambda r: r[1])
    for i in range(0, len(flat), per_request):
        chunk: dict[tuple, tuple[dict, list]] = {}
        for labels, t, v in flat[i:i + per_request]:
            key = tuple(sorted(labels.items()))
            chunk.setdefault(key, (labels, []))[1].append((t, v))
        yield list(chunk.values())
