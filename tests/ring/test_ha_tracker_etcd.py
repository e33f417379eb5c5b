"""HA-pair dedup over a real etcd: distributors that share only etcd elect one replica,
fail over by compare-and-swap (one winner when they race), and ride out an etcd outage
on their last known election."""
from __future__ import annotations

import threading
import time
import uuid

import orjson

from tests.query.conftest import service_config
from tsdb.config import config_from_dict
from tsdb.distributor import Distributor
from tsdb.ha_tracker import HATracker
from tsdb.ingester import AppendResult
from tsdb.metrics import Metrics
from tsdb.remote_write.encode import encode_series
from tsdb.ring import EtcdKV
from tsdb.tenancy import Tenant

T = Tenant("team-ha")
U, F = 15_000, 30_000


class Clock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t


class Recorder:
    def __init__(self) -> None:
        self.batches = []

    def push(self, tenant, batch, metadata):
        self.batches.append(batch)
        return AppendResult(len(batch.timestamps), 0, {}, None)


def body(replica: str) -> bytes:
    return encode_series([({"__name__": "up", "job": "node", "cluster": "prod", "__replica__": replica},
                           [(1_700_000_000_000, 1.0)])])


def distributors(tmp_path, endpoint: str, prefix: str, clock: Clock, n: int = 2, timeout_s: float = 2.0):
    """`n` distributors as separate processes would be: each with its own etcd client."""
    cfg = config_from_dict(service_config(tmp_path, distributor={"ha_tracker_enabled": True},
                                          limits={"accept_ha_samples": True}))
    out = []
    for _ in range(n):
        tracker = HATracker(EtcdKV([endpoint], timeout_s=timeout_s), prefix, U, F, clock=clock)
        out.append(Distributor(cfg, Recorder(), Metrics(), ha_tracker=tracker))
    return out


def test_two_distributors_elect_one_replica_and_fail_over_together(tmp_path, etcd_kv, etcd_server):
    kv, prefix = etcd_kv
    clock = Clock()
    d1, d2 = distributors(tmp_path, etcd_server.endpoint, prefix, clock)
    assert d1.push(T, body("a")).status == 204
    out = d2.push(T, body("b"))
    assert (out.status, out.message) == (202, "replicas did not match, rejecting sample: replica=b, elected=a")
    assert d2.push(T, body("a")).status == 204
    stored = orjson.loads(kv.get(f"{prefix}ha-tracker/{T.id}/prod"))
    assert stored == {"replica": "a", "received_at_ms": int(clock() * 1000)}
    # Both distributors store the same series, without the replica label.
    ids = {int(d.target.batches[0].series_id[0]) for d in (d1, d2)}
    assert len(ids) == 1
    assert all("__replica__" not in dict(d.target.batches[0].labels.to_pylist()[0]) for d in (d1, d2))

    clock.t += F / 1000  # a falls silent everywhere
    assert d2.push(T, body("b")).status == 204
    assert orjson.loads(kv.get(f"{prefix}ha-tracker/{T.id}/prod"))["replica"] == "b"
    out = d1.push(T, body("a"))
    assert (out.status, out.message) == (202, "replicas did not match, rejecting sample: replica=a, elected=b")
    assert int(d2.target.batches[-1].series_id[0]) in ids  # b writes a's series


def test_racing_distributors_elect_and_fail_over_to_exactly_one(tmp_path, etcd_kv, etcd_server):
    _, prefix = etcd_kv
    clock = Clock()
    ds = distributors(tmp_path, etcd_server.endpoint, prefix, clock, n=6)

    def race(replica_of) -> list[int]:
        barrier = threading.Barrier(len(ds))
        statuses = [0] * len(ds)

        def push(i: int) -> None:
            barrier.wait()
            statuses[i] = ds[i].push(T, body(replica_of(i))).status

        threads = [threading.Thread(target=push, args=(i,)) for i in range(len(ds))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return statuses

    first = race(lambda i: f"r{i}")  # the create-only put elects one
    assert sorted(first) == [202] * 5 + [204]
    winner = f"r{first.index(204)}"
    assert all(d.ha_tracker.cached(T.id, "prod").replica == winner for d in ds)

    clock.t += F / 1000
    second = race(lambda i: f"s{i}")  # the compare-and-swap fails over to one
    assert sorted(second) == [202] * 5 + [204]
    assert {d.ha_tracker.cached(T.id, "prod").replica for d in ds} == {f"s{second.index(204)}"}


def test_an_etcd_outage_keeps_the_last_election(tmp_path, etcd_server):
    prefix = f"ha-outage-{uuid.uuid4().hex[:8]}/"
    clock = Clock()
    (d,) = distributors(tmp_path, etcd_server.endpoint, prefix, clock, n=1, timeout_s=0.5)
    assert d.push(T, body("a")).status == 204
    etcd_server.stop()
    try:
        clock.t += 2 * F / 1000  # long past both timeouts: etcd is asked, and cannot answer
        assert d.push(T, body("a")).status == 204
        assert d.push(T, body("b")).status == 202
        assert d.push(Tenant("new"), body("x")).status == 204  # nothing known: accepted
    finally:
        etcd_server.start()
    assert d.push(T, body("a")).status == 204  # refreshed in etcd again
    assert d.push(T, body("b")).status == 202
