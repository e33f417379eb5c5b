"""Backfill-shaped remote-write bodies: `samples_per_series` consecutive samples of each
series per request, for the benchmarks that need hours of data loaded, not live-shaped
ingest timed.

Storage does not depend on the request shape (MyTSDB flushes by head size, Prometheus cuts
chunks by sample count), and 40 samples per series per request load several times faster
than one, which keeps a day of 10,000 series within the bench's time budget. Bodies are
built with NumPy from a per-slice byte template, as `bench.feed` does; `check_body` proves
one decodes to what `tsdb.remote_write.encode.write_request` builds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import cramjam
import httpx
import numpy as np

from bench.client import LoadConfig, send_all
from bench.feed import Feed, FeedConfig, _label_bytes, _ts_varint, _varint
from bench.targets import HOST, Target

_SAMPLE = 18  # 0x12 0x10, then 0x09 + double + 0x10 + 6-byte varint timestamp


@dataclass(frozen=True)
class BackfillShape:
    series_per_request: int = 2_000
    samples_per_series: int = 40  # 10 min at 15 s


def _template(labels: list[dict[str, str]], k: int) -> tuple[np.ndarray, np.ndarray]:
    """A WriteRequest over `labels` with `k` zeroed samples per series, and the offset of
    each series' first sample message (tag 0x12)."""
    chunks, offsets, pos = [], [], 0
    samples = (b"\x12\x10\x09" + bytes(8) + b"\x10" + bytes(6)) * k
    for lab in labels:
        body = _label_bytes(lab)
        head = b"\x0a" + _varint(len(body) + len(samples)) + body
        chunks.append(head + samples)
        offsets.append(pos + len(head))
        pos += len(head) + len(samples)
    return np.frombuffer(b"".join(chunks), np.uint8).copy(), np.array(offsets, np.int64)


def build(labels: list[dict[str, str]], timestamps: np.ndarray, values: np.ndarray, shape: BackfillShape,
          kinds: np.ndarray | None = None) -> Feed:
    """Bodies for `values` (n_steps x n_series) at `timestamps`, in send order: for each
    group of `samples_per_series` steps, one request per slice of `series_per_request`
    series. The Feed's `slices` keeps the client's per-series ordering rule valid."""
    n_steps, n_series = values.shape
    spr, k = shape.series_per_request, shape.samples_per_series
    if n_series % spr or n_steps % k:
        raise ValueError(f"{n_series} series x {n_steps} steps do not divide into {spr} series x {k} samples")
    t0 = time.monotonic()
    cfg = FeedConfig(n_series, n_steps, int(timestamps[1] - timestamps[0]) if n_steps > 1 else 15_000, spr,
                     end_ms=int(timestamps[-1]))
    feed = Feed(cfg, labels, kinds if kinds is not None else np.zeros(n_series, np.int8), timestamps, values)
    templates = [_template(labels[j * spr:(j + 1) * spr], k) for j in range(n_series // spr)]
    samples = np.arange(k) * _SAMPLE
    vpos, tpos = np.arange(8) + 3, np.arange(6) + 12
    for g in range(n_steps // k):
        ts = np.stack([_ts_varint(int(t)) for t in timestamps[g * k:(g + 1) * k]])        # (k, 6)
        for j, (tmpl, offs) in enumerate(templates):
            buf = tmpl.copy()
            at = offs[:, None] + samples[None, :]                                          # (spr, k)
            block = values[g * k:(g + 1) * k, j * spr:(j + 1) * spr].T                      # (spr, k)
            buf[at[:, :, None] + vpos] = np.ascontiguousarray(block).view(np.uint8).reshape(spr, k, 8)
            buf[at[:, :, None] + tpos] = ts[None, :, :]
            feed.bodies.append(bytes(cramjam.snappy.compress_raw(buf)))
    print(f"  backfill: {len(feed.bodies):,} requests of {spr:,} series x {k} samples, {cfg.n_samples:,} samples, "
          f"{feed.raw_bytes / 1e6:.0f} MB compressed, built in {time.monotonic() - t0:.1f}s", flush=True)
    return feed


def samples_per_request(feed: Feed) -> int:
    return len(feed.labels) * feed.cfg.n_steps // len(feed.bodies)


def check_body(feed: Feed, shape: BackfillShape, r: int) -> None:
    """Assert body `r` decodes to the WriteRequest the project's encoder builds."""
    from schemas.prompb import remote_pb2
    from tsdb.remote_write.encode import write_request

    slices = feed.cfg.n_series // shape.series_per_request
    g, j = divmod(r, slices)
    k, spr = shape.samples_per_series, shape.series_per_request
    steps = range(g * k, (g + 1) * k)
    want = write_request((feed.labels[i], [(int(feed.timestamps[s]), float(feed.values[s, i])) for s in steps])
                         for i in range(j * spr, (j + 1) * spr))
    got = remote_pb2.WriteRequest.FromString(bytes(cramjam.snappy.decompress_raw(feed.bodies[r])))
    if got != want:
        raise AssertionError(f"backfill body {r} differs from encode.write_request")


def load(t: Target, bodies: list[bytes], per_request: int, slices: int, concurrency: int) -> dict:
    """Send `bodies` to target `t` with the bench's client processes; fails on any error."""
    res = send_all(HOST, t.port, t.push_path, bodies, LoadConfig(concurrency, per_request, slices), label=t.name)
    if res.errors:
        raise RuntimeError(f"{t.name}: {res.errors} failed requests: {res.first_error}")
    return {"samples": res.samples, "seconds": round(res.seconds, 2), "samples_per_second": round(res.samples_per_second)}


def load_flushed(t: Target, feed: Feed, steps: int, steps_per_file: int, concurrency: int) -> dict:
    """Send the first `steps` steps of `feed` to a MyTSDB, flushing (and waiting) after every
    `steps_per_file` steps: one L0 file per that much data, as a live ingester leaves a day
    (left to itself during a fast backfill, the head outgrows its flush trigger instead)."""
    k, slices = feed.cfg.n_steps // (len(feed.bodies) // feed.cfg.slices), feed.cfg.slices
    if steps % k or steps_per_file % k:
        raise ValueError(f"steps must be multiples of {k}")
    per_request = samples_per_request(feed)
    pushed = flushed = 0.0
    samples = 0
    for lo in range(0, steps, steps_per_file):
        hi = min(steps, lo + steps_per_file)
        res = load(t, feed.bodies[lo // k * slices:hi // k * slices], per_request, slices, concurrency)
        pushed += res["seconds"]
        samples += res["samples"]
        t0 = time.monotonic()
        httpx.post(t.url + "/ingester/flush?wait=true", timeout=900).raise_for_status()
        flushed += time.monotonic() - t0
    return {"samples": samples, "push_seconds": round(pushed, 2), "flush_seconds": round(flushed, 2),
            "samples_per_second": round(samples / pushed) if pushed else 0}
