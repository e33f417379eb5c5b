"""Where the distributed write path spends its CPU: one process, cProfile.

The distributor's library objects (`Distributor` over `ReplicatedIngesters`, a ring of three
ingesters, replication factor 3) and three ingesters (WAL fsync `always`), in this process,
push the feed two ways:
- over gRPC: three real `IngestService` servers on loopback, as in the cluster;
- in-line: each push serialised, parsed and handed to the ingester's gRPC servicer in the
  calling thread: the same work minus gRPC's transport, all in one thread, which cProfile
  (timed by thread CPU time, so waiting is not counted) can split by function.

The CPU split, as shares of the gRPC run's CPU:
- decode: snappy and the remote-write protobuf (in C), validation;
- hashing: series to ring tokens, and their owners on the ring;
- arrow: building Arrow for the wire (the per-ingester batch, its IPC streams, decoding them
  in the ingester) and for the head and WAL records (`tsdb/head.py`, pyarrow);
- protobuf: the internal `PushRequest`/`PushResponse`, serialised and parsed;
- wal: the WAL's writes and fsyncs (`tsdb/wal.py`), CPU only: the time a push waits for the
  disk is given apart;
- head: the ingester's append rules (out-of-order, duplicates) and per-series state;
- grpc: gRPC's own cost, the gRPC run's CPU minus the in-line run's, both sides. Split by
  thread: the distributor's (starting calls, waiting for answers), the servers' handler
  threads (less the ingester's work they did), and the rest (gRPC's pollers and core threads,
  client and server);
- other: the rest of the in-line run.
cProfile's own overhead inflates Python-heavy functions a little against C ones.
"""
from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path

from bench.feed import Feed
from bench.targets import free_port
from schemas.ingest import ingest_pb2
from tsdb.config import RingConfig, config_from_dict
from tsdb.distributor import Distributor
from tsdb.ingest_rpc.client import IngesterClients
from tsdb.ingest_rpc.server import TENANT_KEY, IngestServicer, serve_ingest
from tsdb.metrics import Metrics
from tsdb.replication import ReplicatedIngesters
from tsdb.ring import Lifecycler, MemoryKV, RingWatcher
from tsdb.services import Services
from tsdb.tenancy import Tenant

TENANT = Tenant("anonymous")
RING = RingConfig(heartbeat_period=1000, heartbeat_timeout=60_000, poll_period=1000)  # poll: the default
CATEGORIES = ("decode", "hashing", "arrow", "protobuf", "wal", "head", "grpc", "other")

# Whole calls (cumulative time) by category: (path fragment, function name).
CUMULATIVE = (
    ("decode", ("remote_write/decode.py", "decode_write_request")),
    ("decode", ("", "<built-in method snappy.decompress_raw>")),
    ("hashing", ("ring/tokens.py", "series_tokens")),
    ("hashing", ("ring/ring.py", "owners")),
    ("arrow", ("ingest_rpc/codec.py", "encode_push")),
    ("arrow", ("ingest_rpc/codec.py", "decode_push")),
    ("arrow", ("replication.py", "subset")),
    ("arrow", ("distributor.py", "_valid_batch")),
)
PROTOBUF = ("SerializeToString", "FromString", "ParseFromString")
HEAD_ARROW = ("to_ipc", "add_series", "add_samples")  # tsdb/head.py functions called by TenantDB.append


class _Context:
    def __init__(self, tenant: Tenant) -> None:
        self._md = ((TENANT_KEY, tenant.id),)

    def invocation_metadata(self):
        return self._md

    def abort(self, code, details):
        raise RuntimeError(f"{code}: {details}")


class InlineClients(IngesterClients):
    """Hands each push to the ingester's servicer in the calling thread, through the bytes
    gRPC would carry, instead of over the network."""

    def __init__(self, servicers: dict[str, IngestServicer]) -> None:
        super().__init__()
        self.servicers = servicers
        self.pushes = self.bytes = 0

    def push_async(self, addr, tenant, request, timeout_s) -> Future:
        wire = request if isinstance(request, bytes) else request.SerializeToString()
        self.pushes, self.bytes = self.pushes + 1, self.bytes + len(wire)
        response = self.servicers[addr].Push(ingest_pb2.PushRequest.FromString(wire), _Context(tenant))
        f: Future = Future()
        f.set_result(ingest_pb2.PushResponse.FromString(response.SerializeToString()))
        return f

    def forget(self, addr: str, linger_s: float) -> None:
        pass


class _Setup:
    """A distributor and three ingesters (WAL fsync always) in this process."""

    def __init__(self, root: Path, network: bool) -> None:
        self.kv = MemoryKV()
        self.services, self.servers, self.lifecycles, servicers = [], [], [], {}
        for i in range(3):
            cfg = config_from_dict({"data_dir": str(root / f"ing-{i}"),
                                    "storage": {"filesystem": {"directory": str(root / "bucket")}},
                                    "ingester": {"flush_check_period": "1h"},
                                    "limits": {"out_of_order_time_window": "100y"}})
            s = Services.build(cfg, f"ingester-{i}")
            s.start()
            self.services.append(s)
            addr = f"127.0.0.1:{free_port()}"
            servicer = IngestServicer(s.ingester, s.metrics, lambda: True)
            servicers[addr] = servicer
            if network:
                self.servers.append(serve_ingest(servicer, addr))
            lc = Lifecycler(self.kv, "ingester", RING, f"ingester-{i}", addr, "h", "h")
            lc.start()
            self.lifecycles.append(lc)
        self.watcher = RingWatcher(self.kv, "ingester", RING)
        self.watcher.start()
        self.watcher.wait_until(lambda r: len(r.healthy_instances()) == 3, 10)
        self.clients = IngesterClients() if network else InlineClients(servicers)
        cfg = config_from_dict({"data_dir": str(root / "dist"), "limits": {"ingestion_rate": 1e9,
                                                                           "ingestion_burst_size": 10**9}})
        self.distributor = Distributor(cfg, ReplicatedIngesters(self.watcher, self.clients, 3, 30.0), Metrics())

    def push_all(self, feed: Feed) -> None:
        for body in feed.bodies:
            outcome = self.distributor.push(TENANT, body)
            if outcome.status != 204:
                raise RuntimeError(f"push failed: {outcome}")

    def fsync(self) -> tuple[float, float]:
        """WAL fsyncs of the three ingesters so far: count, seconds waited."""
        get = [s.metrics.registry.get_sample_value for s in self.services]
        name = "mytsdb_ingester_wal_fsync_duration_seconds"
        return sum(g(name + "_count") or 0 for g in get), sum(g(name + "_sum") or 0 for g in get)

    def close(self) -> None:
        self.watcher.stop()
        self.clients.close()
        for srv in self.servers:
            srv.stop(None)
        for lc in self.lifecycles:
            lc.stop()
        for s in self.services:
            s.ingester.stop(flush=False)


def _handler_cpu() -> float:
    """CPU-seconds of the gRPC servers' handler threads (`serve_ingest`'s pool) so far."""
    total = 0
    for t in threading.enumerate():
        if t.name.startswith("grpc-push") and t.native_id is not None:
            try:
                fields = Path(f"/proc/self/task/{t.native_id}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _run(root: Path, feed: Feed, network: bool, profiler: cProfile.Profile | None = None) -> dict:
    """Push the feed through a fresh setup: CPU-seconds of the process (every thread), of
    this (the distributor's) thread and of the gRPC handler threads, wall seconds, WAL fsyncs."""
    setup = _Setup(root, network)
    try:
        c0, t0, w0, h0 = time.process_time(), time.thread_time(), time.monotonic(), _handler_cpu()
        if profiler is not None:
            profiler.enable()
        setup.push_all(feed)
        if profiler is not None:
            profiler.disable()
        out = {"cpu": time.process_time() - c0, "thread_cpu": time.thread_time() - t0, "wall": time.monotonic() - w0,
               "handler_cpu": _handler_cpu() - h0}
        out["fsyncs"], out["fsync_seconds"] = setup.fsync()
        if isinstance(setup.clients, InlineClients):
            out["push_kb"] = setup.clients.bytes / max(setup.clients.pushes, 1) / 1e3
        return out
    finally:
        setup.close()


def _callees(stats: dict, caller: tuple) -> dict[tuple, float]:
    """Cumulative time of each function when called from `caller`."""
    return {k: v[4][caller][3] for k, v in stats.items() if caller in v[4]}


def categorise(stats: dict) -> tuple[dict[str, float], float, float]:
    """Profile seconds by category (grpc aside), the profile's total, and the part spent in
    the ingesters' servicer (the server side of a push)."""
    total = sum(v[2] for v in stats.values())
    split = dict.fromkeys(CATEGORIES[:6], 0.0)
    server = 0.0
    for (path, _line, func), (_cc, _nc, tt, ct, _callers) in stats.items():
        for category, (fragment, name) in CUMULATIVE:
            if func == name and fragment in path:
                split[category] += ct
        if path == "~" and any(p in func for p in PROTOBUF):
            split["protobuf"] += tt
        if path.endswith("ingest_rpc/server.py") and func == "Push":
            server += ct
    wal_append = next(k for k in stats if k[0].endswith("tsdb/wal.py") and k[2] == "append")
    tenant_append = next(c for c in stats[wal_append][4] if c[0].endswith("tsdb/ingester.py"))  # TenantDB.append
    head = stats[tenant_append][3]
    for (path, _line, func), ct in _callees(stats, tenant_append).items():
        if path.endswith("tsdb/wal.py"):
            split["wal"] += ct
            head -= ct
        elif "pyarrow" in path or (path.endswith("tsdb/head.py") and func in HEAD_ARROW):
            split["arrow"] += ct
            head -= ct
    split["head"] = max(0.0, head)
    split["other"] = max(0.0, total - sum(split.values()))
    return split, total, server


def run(feed: Feed, pairs: int = 2) -> dict:
    """The CPU split of the write path; `pairs` unprofiled in-line and gRPC runs alternate
    (medians), then one profiled in-line run."""
    inline, grpc_runs = [], []
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        root = Path(tmp)
        print(f"[cluster] write-path profile in one process: {feed.cfg.n_samples:,} samples, "
              f"{pairs} x (in-line, gRPC) + 1 profiled", flush=True)
        for i in range(pairs):
            inline.append(_run(root / f"inline-{i}", feed, network=False))
            grpc_runs.append(_run(root / f"grpc-{i}", feed, network=True))
        profiler = cProfile.Profile(time.thread_time)
        _run(root / "profiled", feed, network=False, profiler=profiler)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    split, total, server = categorise(stats)
    med = lambda runs, key: statistics.median(r[key] for r in runs)  # noqa: E731
    inline_cpu, grpc_cpu, grpc_thread = med(inline, "cpu"), med(grpc_runs, "cpu"), med(grpc_runs, "thread_cpu")
    seconds = {k: v / total * inline_cpu for k, v in split.items()}  # profile shares of the in-line CPU
    server_cpu = server / total * inline_cpu
    handlers = med(grpc_runs, "handler_cpu")
    threads = {"distributor thread": grpc_thread - (inline_cpu - server_cpu), "handler threads": handlers - server_cpu,
               "other threads": grpc_cpu - grpc_thread - handlers}
    seconds["grpc"] = max(0.0, grpc_cpu - inline_cpu)
    whole = sum(seconds.values())
    n = feed.cfg.n_samples
    out = {"samples": n, "requests": len(feed.bodies), "pushes": 3 * len(feed.bodies),
           "inline_cpu_seconds": round(inline_cpu, 2), "grpc_cpu_seconds": round(grpc_cpu, 2),
           "grpc_by_thread": {k: round(v, 2) for k, v in threads.items()},
           "samples_per_cpu_second_inline": round(n / inline_cpu), "samples_per_cpu_second_grpc": round(n / grpc_cpu),
           "runs": {"inline": inline, "grpc": grpc_runs},
           "fsyncs": int(med(inline, "fsyncs")), "fsync_wait_seconds": round(med(inline, "fsync_seconds"), 2),
           "inline_wall_seconds": round(med(inline, "wall"), 2), "push_kb": round(inline[0]["push_kb"]),
           "cpu_seconds": {k: round(seconds[k], 3) for k in CATEGORIES},
           "share": {k: round(seconds[k] / whole, 3) for k in CATEGORIES}}
    print(f"[cluster] write-path CPU split ({n:,} samples; distributor + 3 ingesters, RF=3; "
          f"{out['grpc_cpu_seconds']} CPU-s over gRPC, {out['inline_cpu_seconds']} in-line):", flush=True)
    for k in sorted(CATEGORIES, key=lambda c: -seconds[c]):
        print(f"  {k:12s} {seconds[k]:6.2f} CPU-s {out['share'][k]:6.1%}", flush=True)
    print(f"  (gRPC by thread, CPU-s: {out['grpc_by_thread']}; {1e6 * seconds['grpc'] / out['pushes']:.0f} us per push)",
          flush=True)
    print(f"  (WAL: {out['fsyncs']:,} fsyncs, {out['fsync_wait_seconds']} s waited of the in-line run's "
          f"{out['inline_wall_seconds']} s)", flush=True)
    return out
