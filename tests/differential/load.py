"""Push the generated series to a server by remote write, in time order, one request per chunk.

Both sides receive byte-identical requests, so any difference in answers comes from storage
or the engine, not from loading.
"""
from __future__ import annotations

import httpx

from tests.differential.data import Series
from tsdb.remote_write.encode import encode_series

PROMETHEUS_WRITE = "/api/v1/write"
MYTSDB_PUSH = "/api/v1/push"
HEADERS = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}


def encode_chunks(chunks: list[list[Series]]) -> list[bytes]:
    return [encode_series(chunk) for chunk in chunks]


def push(url: str, bodies: list[bytes], headers: dict | None = None) -> None:
    """POST every body; raises AssertionError with the server's answer on a non-2xx."""
    with httpx.Client(timeout=120) as client:
        for i, body in enumerate(bodies):
            r = client.post(url, content=body, headers=HEADERS | (headers or {}))
            assert 200 <= r.status_code < 300, f"push {i + 1}/{len(bodies)} to {url}: {r.status_code} {r.text[:500]}"
