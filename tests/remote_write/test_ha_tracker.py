"""HA-pair dedup: one elected replica per (tenant, cluster), failover after silence, the
replica label removed before storage, KV outages survived; in memory and over real etcd."""
from __future__ import annotations

import time

import numpy as np
import pytest

from tests.query.conftest import service_config
from tsdb.config import config_from_dict
from tsdb.ha_tracker import HATracker
from tsdb.remote_write.encode import encode_series
from tsdb.ring.kv import KVUnavailable, MemoryKV
from tsdb.services import Services
from tsdb.tenancy import Tenant

T = Tenant("team-ha")
NOW = 1_700_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = NOW

    def __call__(self) -> float:
        return self.t


class FlakyKV(MemoryKV):
    """A MemoryKV that can be made unreachable, as etcd during an outage."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def get(self, key):
        if self.down:
            raise KVUnavailable("down")
        return super().get(key)

    def put(self, key, value):
        if self.down:
            raise KVUnavailable("down")
        super().put(key, value)


def tracker(kv=None, clock=None) -> HATracker:
    return HATracker(kv or MemoryKV(), "p/", update_timeout_ms=15_000, failover_timeout_ms=30_000,
                     clock=clock or Clock())


def test_first_replica_is_elected_and_the_other_rejected():
    t = tracker()
    first = t.check("t", "prod", "a")
    assert first.accept and first.changed and first.elected == "a"
    assert not t.check("t", "prod", "b").accept
    assert t.check("t", "prod", "a").accept and not t.check("t", "prod", "a").changed
    assert t.check("t", "staging", "b").accept  # clusters are independent
    assert t.check("other", "prod", "b").accept  # and so are tenants


def test_failover_after_the_elected_replica_is_silent():
    clock = Clock()
    t = tracker(clock=clock)
    assert t.check("t", "prod", "a").accept
    clock.t += 20
    assert t.check("t", "prod", "a").accept  # refreshes received_at in the KV (update timeout passed)
    clock.t += 29
    assert not t.check("t", "prod", "b").accept  # a was seen 29 s ago: no failover yet
    clock.t += 2
    v = t.check("t", "prod", "b")
    assert v.accept and v.changed and v.elected == "b"
    assert not t.check("t", "prod", "a").accept


def test_two_distributors_agree_through_the_kv():
    kv, clock = MemoryKV(), Clock()
    d1, d2 = tracker(kv, clock), tracker(kv, clock)
    assert d1.check("t", "prod", "a").accept
    assert not d2.check("t", "prod", "b").accept  # d2 reads d1's election
    assert d2.check("t", "prod", "a").accept
    clock.t += 31  # a silent everywhere
    assert d2.check("t", "prod", "b").accept
    assert not d1.check("t", "prod", "a").accept  # d1 re-reads once its cached view is stale


def test_kv_outage_keeps_the_last_election():
    kv, clock = FlakyKV(), Clock()
    t = tracker(kv, clock)
    assert t.check("t", "prod", "a").accept
    kv.down = True
    for _ in range(3):
        clock.t += 40
        assert t.check("t", "prod", "a").accept
        assert not t.check("t", "prod", "b").accept
    assert t.check("t", "new-cluster", "x").accept  # nothing known: accepted rather than lost


def ha_services(tmp_path, kv=None) -> Services:
    cfg = config_from_dict(service_config(tmp_path, distributor={"ha_tracker_enabled": True},
                                          overrides={T.id: {"accept_ha_samples": True}}))
    services = Services.build(cfg)
    if kv is not None:
        services.distributor.ha_tracker.kv = kv
    services.start()
    return services


def replica_series(replica: str, values: list[float]) -> list:
    return [({"__name__": "up", "job": "node", "cluster": "prod", "__replica__": replica},
             [(1_700_000_000_000 + i * 15_000, v) for i, v in enumerate(values)])]


def test_push_path_drops_the_replica_label_and_answers_202_to_the_other(tmp_path):
    services = ha_services(tmp_path)
    try:
        ok = services.distributor.push(T, encode_series(replica_series("a", [1, 2, 3])))
        assert ok.status == 204
        other = services.distributor.push(T, encode_series(replica_series("b", [9, 9, 9])))
        assert other.status == 202
        assert other.message == "replicas did not match, rejecting sample: replica=b, elected=a"
        snap = services.ingester.snapshot(T)
        labels = snap.series.column("labels").to_pylist()
        assert labels == [[("__name__", "up"), ("cluster", "prod"), ("job", "node")]]
        # Same series ID as the series pushed without the replica label at all.
        plain = Services.build(config_from_dict(service_config(tmp_path / "plain")))
        plain.start()
        plain.distributor.push(T, encode_series([({"__name__": "up", "job": "node", "cluster": "prod"},
                                                  [(1_700_000_000_000, 1.0)])]))
        assert np.array_equal(plain.ingester.snapshot(T).series.column("series_id").to_numpy(),
                              snap.series.column("series_id").to_numpy())
        plain.stop()
        assert snap.samples.num_rows == 3
        metrics = services.metrics.registry.get_sample_value
        assert metrics("mytsdb_distributor_deduped_samples_total", {"tenant": T.id, "cluster": "prod"}) == 3
    finally:
        services.stop()


def test_tenants_without_accept_ha_samples_keep_both_replicas(tmp_path):
    services = ha_services(tmp_path)
    try:
        other = Tenant("no-ha")
        assert services.distributor.push(other, encode_series(replica_series("a", [1]))).status == 204
        assert services.distributor.push(other, encode_series(replica_series("b", [2]))).status == 204
        assert services.ingester.snapshot(other).series.num_rows == 2  # two series: replica label kept
    finally:
        services.stop()


@pytest.mark.slow
def test_two_distributors_over_real_etcd_elect_one_replica(etcd_kv):
    etcd_kv, prefix = etcd_kv
    d1 = HATracker(etcd_kv, prefix, 15_000, 30_000)
    d2 = HATracker(etcd_kv, prefix, 15_000, 30_000)
    verdicts = [d1.check("t", "prod", "a"), d2.check("t", "prod", "b")]
    assert [v.accept for v in verdicts] == [True, False]
    assert verdicts[1].elected == "a"
    assert d2.check("t", "prod", "a").accept
    # Failover is a compare-and-swap in etcd: of two distributors racing, one wins.
    clock = Clock()
    clock.t = time.time() + 60  # a silent for a minute
    late = [HATracker(etcd_kv, prefix, 15_000, 30_000, clock=clock) for _ in range(2)]
    answers = [late[0].check("t", "prod", "b"), late[1].check("t", "prod", "c")]
    assert [v.accept for v in answers] == [True, False] and answers[1].elected == "b"
    # Failover is a compare-and-swap in etcd: of two distributors racing, one wins.
    clock = Clock()
    clock.t = time.time() + 60  # a silent for a minute
    late = [HATracker(etcd_kv, prefix, 15_000, 30_000, clock=clock) for _ in range(2)]
    answers = [late[0].check("t", "prod", "b"), late[1].check("t", "prod", "c")]
    assert [v.accept for v in answers] == [True, False] and answers[1].elected == "b"
