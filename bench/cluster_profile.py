"""Where the distributed write path spends its time: one process, one thread, cProfile.

A distributor (ring, replication factor 3) pushes the feed to three ingesters; each push
goes through protobuf serialisation and parsing as on the wire, then straight into the
ingester's gRPC servicer in the same thread, so cProfile sees every step. The split:

- decode: snappy and the remote-write protobuf (C), validation;
- hashing: series IDs to ring tokens and owners;
- arrow: building the per-ingester batches and their Arrow IPC streams, and decoding them;
- protobuf: the internal `PushRequest`/`PushResponse` (serialise and parse);
- wal: the WAL's writes and fsyncs (`wal_fsync: always`);
- head: admission rules and appending to the head;
- other: the rest (HTTP is not in this run).

gRPC itself (the transport, its threads and loopback TCP) is measured apart: the process's
CPU time for the same feed through three real gRPC servers in this process, against the
in-line run's (unprofiled); the split is given as shares of the gRPC run's CPU time.
"""
from __future__ import annotations

import cProfile
import io
import pstats
import tempfile
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
RING = RingConfig(heartbeat_period=1000, heartbeat_timeout=60_000, poll_period=100)

# (category, how a profile entry is recognised: a path fragment or a function name)
CUMULATIVE = (
    ("decode", ("remote_write/decode.py", "decode_write_request")),
    ("decode", ("", "decompress_raw")),
    ("hashing", ("ring/tokens.py", "series_tokens")),
    ("hashing", ("ring/ring.py", "owners")),
    ("arrow", ("ingest_rpc/codec.py", "encode_push")),
    ("arrow", ("ingest_rpc/codec.py", "decode_push")),
    ("arrow", ("replication.py", "subset")),
    ("arrow", ("distributor.py", "_valid_batch")),
    ("wal", ("wal.py", "append")),
    ("wal", ("wal.py", "sync")),
)
PROTOBUF = ("SerializeToString", "FromString", "ParseFromString")


class _Context:
    def __init__(self, tenant: Tenant) -> None:
        self._md = ((TENANT_KEY, tenant.id),)

    def invocation_metadata(self):
        return self._md

    def abort(self, code, details):
        raise RuntimeError(f"{code}: {details}")


class InlineClients(IngesterClients):
    """Hands each push to the ingester's servicer in the calling thread, through the bytes
    gRPC would send, instead of over the network."""

    def __init__(self, servicers: dict[str, IngestServicer]) -> None:
        super().__init__()
        self.servicers = servicers

    def push_async(self, addr, tenant, request, timeout_s) -> Future:
        wire = request if isinstance(request, bytes) else request.SerializeToString()
        parsed = ingest_pb2.PushRequest.FromString(wire)
        response = self.servicers[addr].Push(parsed, _Context(tenant))
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

    def close(self) -> None:
        self.watcher.stop()
        self.clients.close()
        for srv in self.servers:
            srv.stop(None)
        for lc in self.lifecycles:
            lc.stop()
        for s in self.services:
            s.ingester.stop(flush=False)


def _categorise(stats: pstats.Stats, total: float) -> dict[str, float]:
    split: dict[str, float] = {}
    for (path, _line, func), (_cc, _nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        for category, (fragment, name) in CUMULATIVE:
            if func == name and fragment in path:
                split[category] = split.get(category, 0.0) + ct
        if any(p in func for p in PROTOBUF):
            split["protobuf"] = split.get("protobuf", 0.0) + tt
    head = 0.0
    for (path, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if path.endswith("tsdb/ingester.py") and func == "append" and ct > head:
            head = ct  # TenantDB.append (the outermost `append` in ingester.py holds the other)
    split["head"] = max(0.0, head - split.get("wal", 0.0))
    split["other"] = max(0.0, total - sum(split.values()))
    return split


def _timed(root: Path, feed: Feed, network: bool, profiler: cProfile.Profile | None = None) -> float:
    """CPU-seconds of this process (every thread) to push the feed through a fresh setup."""
    setup = _Setup(root, network)
    try:
        c0 = time.process_time()
        if profiler is not None:
            profiler.enable()
        setup.push_all(feed)
        if profiler is not None:
            profiler.disable()
        return time.process_time() - c0
    finally:
        setup.close()


def run(feed: Feed) -> dict:
    """The CPU split of the write path, as shares of the gRPC run's CPU time."""
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        root = Path(tmp)
        print("[cluster] profiling the write path in one process", flush=True)
        inline_cpu = _timed(root / "inline", feed, network=False)
        grpc_cpu = _timed(root / "grpc", feed, network=True)
        profiler = cProfile.Profile()
        _timed(root / "profiled", feed, network=False, profiler=profiler)
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    split = _categorise(stats, total)
    scale = min(1.0, inline_cpu / grpc_cpu)
    shares = {k: round(v / total * scale, 3) for k, v in split.items()}
    shares["grpc"] = round(1 - scale, 3)
    n = feed.cfg.n_samples
    out = {"samples": n, "inline_cpu_seconds": round(inline_cpu, 2), "grpc_cpu_seconds": round(grpc_cpu, 2),
           "samples_per_cpu_second_grpc": round(n / grpc_cpu),
           "share": dict(sorted(shares.items(), key=lambda kv: -kv[1]))}
    print("[cluster] write-path CPU split (one distributor + three ingesters, RF=3):", flush=True)
    for k, v in out["share"].items():
        print(f"  {k:10s} {v:6.1%}", flush=True)
    return out
