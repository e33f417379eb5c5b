"""The load generator: N client processes, one persistent HTTP connection each.

Like Prometheus' remote-write shards, the clients send concurrently but keep every
series in time order: request `k` is sent only after request `k - slices` (the previous
sample of the same series) was answered, so neither target rejects a reordered sample.
Workers are forked, so the precomputed bodies are shared, not copied or pickled.
"""
from __future__ import annotations

import http.client
import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field

HEADERS = {
    "Content-Encoding": "snappy",
    "Content-Type": "application/x-protobuf",
    "User-Agent": "mytsdb-bench/1",
    "X-Prometheus-Remote-Write-Version": "0.1.0",
}


@dataclass(frozen=True)
class LoadConfig:
    concurrency: int = 4
    samples_per_request: int = 2_000
    slices: int = 5           # a series reappears every `slices` requests
    timeout_s: float = 120.0


@dataclass
class LoadResult:
    requests: int
    samples: int
    seconds: float
    errors: int
    statuses: dict[int, int] = field(default_factory=dict)
    first_error: str = ""
    client_cpu_seconds: float = 0.0

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds > 0 else 0.0


def _worker(wid: int, host: str, port: int, path: str, bodies: list[bytes], cfg: LoadConfig,
            next_k, done, ended, go, results) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=cfg.timeout_s)
    conn.connect()
    statuses: dict[int, int] = {}
    first_error = ""
    n = len(bodies)
    go.wait()
    while True:
        with next_k.get_lock():
            k = next_k.value
            next_k.value += 1
        if k >= n:
            break
        dep = k - cfg.slices
        while dep >= 0 and not done[dep]:
            time.sleep(0.0001)
        try:
            conn.request("POST", path, body=bodies[k], headers=HEADERS)
            resp = conn.getresponse()
            text = resp.read()
            status = resp.status
        except (OSError, http.client.HTTPException) as e:
            status, text = 0, repr(e).encode()
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=cfg.timeout_s)
        statuses[status] = statuses.get(status, 0) + 1
        if status not in (200, 204) and not first_error:
            first_error = f"request {k}: HTTP {status}: {text[:300].decode(errors='replace')}"
        done[k] = 1
        ended[wid] = time.monotonic()
    conn.close()
    t = os.times()
    results.put((statuses, first_error, t.user + t.system))


def send_all(url_host: str, port: int, path: str, bodies: list[bytes], cfg: LoadConfig,
             label: str = "") -> LoadResult:
    """Send every body once; returns throughput over the whole run (first send to last
    answer). Prints progress once a second."""
    ctx = mp.get_context("fork")
    next_k = ctx.Value("q", 0)
    done = ctx.Array("b", len(bodies), lock=False)
    ended = ctx.Array("d", cfg.concurrency, lock=False)
    go = ctx.Event()
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(w, url_host, port, path, bodies, cfg, next_k, done, ended, go, results),
                         daemon=True) for w in range(cfg.concurrency)]
    for p in procs:
        p.start()
    time.sleep(0.5)  # let every worker connect before the clock starts
    start = time.monotonic()
    go.set()
    last_print, last_n = start, 0
    while any(p.is_alive() for p in procs) and results.qsize() < len(procs):
        time.sleep(0.1)
        now = time.monotonic()
        if now - last_print >= 1.0:
            n_done = sum(done)
            rate = (n_done - last_n) * cfg.samples_per_request / (now - last_print)
            print(f"  {label}: {n_done}/{len(bodies)} requests, {rate:,.0f} samples/s", flush=True)
            last_print, last_n = now, n_done
    collected = [results.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=10)
    seconds = max(ended) - start
    statuses: dict[int, int] = {}
    first_error = ""
    for st, err, _ in collected:
        for code, c in st.items():
            statuses[code] = statuses.get(code, 0) + c
        first_error = first_error or err
    errors = sum(c for code, c in statuses.items() if code not in (200, 204))
    ok = len(bodies) - errors
    return LoadResult(len(bodies), ok * cfg.samples_per_request, seconds, errors, statuses, first_error,
                      sum(cpu for _, _, cpu in collected))
