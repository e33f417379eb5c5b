"""Replicated writes: a distributor pushing over gRPC to three real ingesters on a ring."""
from __future__ import annotations

import socket
import time

import pytest

from tests.support import bits, make_series
from tsdb.config import RingConfig, config_from_dict
from tsdb.distributor import Distributor
from tsdb.ingest_rpc.client import IngesterClients
from tsdb.ingest_rpc.server import IngestServicer, serve_ingest
from tsdb.metrics import Metrics
from tsdb.remote_write.encode import encode_series
from tsdb.replication import ReplicatedIngesters
from tsdb.ring import InstanceState, Lifecycler, MemoryKV, RingWatcher
from tsdb.services import Services
from tsdb.tenancy import Tenant

RING = RingConfig(heartbeat_period=200, heartbeat_timeout=2000, poll_period=50)
TENANT = Tenant("team-a")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One ingester: its own WAL and head, behind its own gRPC server, in the ring."""

    def __init__(self, root, i: int, kv: MemoryKV) -> None:
        cfg = config_from_dict({"data_dir": str(root / f"ing-{i}"), "ingester": {"wal_fsync": "never"},
                                "storage": {"filesystem": {"directory": str(root / "bucket")}},
                                "limits": {"out_of_order_time_window": "100y"}})
        self.services = Services.build(cfg, f"ing-{i}")
        self.services.start()
        self.addr = f"127.0.0.1:{_free_port()}"
        self.server = serve_ingest(IngestServicer(self.services.ingester, self.services.metrics, lambda: True),
                                   self.addr)
        self.lifecycler = Lifecycler(kv, "ingester", RING, f"ing-{i}", self.addr, "h", "h")
        self.lifecycler.start()

    def samples(self) -> set[tuple]:
        snap = self.services.ingester.snapshot(TENANT)
        if snap is None:
            return set()
        return set(zip(snap.samples.column("series_id").to_pylist(), snap.samples.column("timestamp").to_pylist(),
                       [bits(v) for v in snap.samples.column("value").to_pylist()]))

    def kill(self) -> None:
        """The process is gone: its port refuses, its ring entry stays (until it ages)."""
        self.server.stop(None)

    def close(self) -> None:
        self.server.stop(None)
        self.lifecycler.stop()
        self.services.stop()


@pytest.fixture
def cluster(tmp_path):
    kv = MemoryKV()
    nodes = [Node(tmp_path, i, kv) for i in range(3)]
    watcher = RingWatcher(kv, "ingester", RING)
    watcher.start()
    assert watcher.wait_until(lambda r: len(r.healthy_instances()) == 3, 5)
    cfg = config_from_dict({"data_dir": str(tmp_path / "dist"),
                            "limits": {"out_of_order_time_window": "100y", "ingestion_rate": 1e9,
                                       "ingestion_burst_size": 10**9}})
    clients = IngesterClients()
    distributor = Distributor(cfg, ReplicatedIngesters(watcher, clients, 3, 2.0), Metrics())
    yield distributor, nodes, watcher
    watcher.stop()
    clients.close()
    for n in nodes:
        n.close()


def eventually(condition, timeout_s: float = 10.0) -> bool:
    """The distributor answers once a quorum (2 of 3) acknowledged: the third replica's push
    may still be landing when the test looks."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _body(series) -> bytes:
    return encode_series(series)


def _sent(nodes) -> set[tuple]:
    return set().union(*(n.samples() for n in nodes))


def test_every_series_reaches_all_three_replicas(cluster):
    distributor, nodes, _ = cluster
    series = make_series(n_instances=3, n_points=40)
    outcome = distributor.push(TENANT, _body(series))
    assert outcome.status == 204, outcome.message
    n = sum(len(s) for _, s in series)
    assert outcome.accepted == n
    assert eventually(lambda: all(len(n_.samples()) == n for n_ in nodes))
    copies = [n_.samples() for n_ in nodes]
    assert copies[0] == copies[1] == copies[2]


def test_one_ingester_down_keeps_writes_succeeding(cluster):
    distributor, nodes, _ = cluster
    first, second = make_series(n_instances=2, n_points=20), make_series(n_instances=2, n_points=20, seed=2,
                                                                         base_ts=1_700_100_000_000)
    assert distributor.push(TENANT, _body(first)).status == 204
    nodes[1].kill()
    outcome = distributor.push(TENANT, _body(second))
    assert outcome.status == 204, outcome.message
    want = sum(len(s) for _, s in first + second)
    assert eventually(lambda: len(nodes[0].samples()) == want and len(nodes[2].samples()) == want)


def test_two_ingesters_down_is_a_clear_5xx(cluster):
    distributor, nodes, watcher = cluster
    nodes[0].kill()
    nodes[2].kill()
    outcome = distributor.push(TENANT, _body(make_series(n_instances=1, n_points=5)))
    assert outcome.status == 500
    assert "failed pushing to ingesters" in outcome.message and "ing-0" in outcome.message
    # Known unhealthy before sending: refused without a push, with Mimir's wording.
    for n in (nodes[0], nodes[2]):
        n.lifecycler.set_state(InstanceState.LEAVING)
    assert watcher.wait_until(lambda r: len(r.healthy_instances()) == 1, 5)
    outcome = distributor.push(TENANT, _body(make_series(n_instances=1, n_points=5, seed=3)))
    assert outcome.status == 500
    assert outcome.message.startswith("at least 2 live replicas required, could only find 1")


def test_per_series_rejections_name_the_series(cluster):
    distributor, _, _ = cluster
    ok = [({"__name__": "m", "job": "a"}, [(1_700_000_000_000, 1.0), (1_700_000_060_000, 2.0)])]
    assert distributor.push(TENANT, _body(ok)).status == 204
    clash = [({"__name__": "fine"}, [(1_700_000_000_000, 5.0)]),
             ({"__name__": "m", "job": "a"}, [(1_700_000_060_000, 9.0)])]
    outcome = distributor.push(TENANT, _body(clash))
    assert outcome.status == 400
    assert "err-mimir-sample-duplicate-timestamp" in outcome.message and 'job="a"' in outcome.message
    assert outcome.accepted == 1
