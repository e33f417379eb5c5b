"""Decode throughput, printed for the record (run with -s to see it); the only
assertions are sanity checks, timing depends on the machine."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from schemas.prompb import remote_pb2
from tsdb.remote_write import SeriesLimits, decode_write_request


def build(n_series: int, n_samples: int) -> bytes:
    """A node-exporter-like request: 8 labels per series."""
    req = remote_pb2.WriteRequest()
    for i in range(n_series):
        ts = req.timeseries.add()
        for name, value in (
            ("__name__", f"node_metric_{i % 50}_total"), ("cluster", "prod-eu-1"), ("env", "production"),
            ("instance", f"10.0.{i % 256}.{i // 256}:9100"), ("job", "node_exporter"),
            ("namespace", "monitoring"), ("pod", f"node-exporter-{i:05d}"), ("region", "eu-west-1"),
        ):
            ts.labels.add(name=name, value=value)
        for k in range(n_samples):
            ts.samples.add(value=k * 0.5, timestamp=1_700_000_000_000 + 15_000 * k)
    return req.SerializeToString()


def samples_per_second(raw: bytes, n_samples: int, reps: int) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(reps):
            decode_write_request(raw, SeriesLimits())
        best = min(best, (time.perf_counter() - start) / reps)
    return n_samples / best


def test_decode_throughput() -> None:
    for n_series, n_samples, reps in ((2000, 1, 20), (100, 1000, 10)):
        raw = build(n_series, n_samples)
        d = decode_write_request(raw, SeriesLimits())
        assert d.n_samples == n_series * n_samples and not d.error_code.any()
        rate = samples_per_second(raw, d.n_samples, reps)
        print(f"\nremote-write decode, {n_series} series x {n_samples} samples "
              f"({len(raw) / 1e6:.2f} MB): {rate / 1e6:.2f}M samples/s")


def test_concurrent_decodes_agree() -> None:
    """The GIL is released while parsing; threads must not disturb each other."""
    requests = [build(50 + k, 1 + k % 3) for k in range(8)]
    expected = [decode_write_request(r, SeriesLimits()) for r in requests]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda r: decode_write_request(r, SeriesLimits()), requests * 4))
    for k, d in enumerate(got):
        e = expected[k % len(requests)]
        assert np.array_equal(d.series_id, e.series_id) and np.array_equal(d.timestamps, e.timestamps)
