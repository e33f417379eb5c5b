"""HA-pair dedup without a cluster: the tracker over MemoryKV with a fake clock (election,
refresh, failover, stale caches, KV outages and contention), the vectorised replica-label
removal and its series IDs, the distributor's 202 path, and the all-mode HTTP API."""
from __future__ import annotations

import random
import threading

import cramjam
import numpy as np
import pytest
import xxhash
from fastapi.testclient import TestClient

from tests.query.conftest import service_config
from tsdb.api.app import create_app
from tsdb.config import config_from_dict
from tsdb.distributor import Distributor
from tsdb.ha_tracker import HATracker, enforce_label_count, ha_tracker, remove_label, xxh64_many
from tsdb.ingester import AppendResult
from tsdb.metrics import Metrics
from tsdb.remote_write.decode import SeriesError, SeriesLimits, decode_write_request
from tsdb.remote_write.encode import encode_series, write_request
from tsdb.remote_write.errors import format_series_error
from tsdb.ring.kv import KVUnavailable, MemoryKV
from tsdb.services import Services
from tsdb.tenancy import Tenant

T0 = 1_700_000_000.0
U, F = 15_000, 30_000  # Mimir's default update and failover timeouts (ms)


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t

    def advance(self, ms: int) -> None:
        self.t += ms / 1000


class CountingKV(MemoryKV):
    """A MemoryKV that counts calls, can be made unreachable, and can lose the next
    compare-and-swaps to a scripted competitor."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.calls: dict[str, int] = {}
        self.before_cas: list = []  # callables run (once each) just before a compare-and-swap

    def _call(self, name: str) -> None:
        if self.down:
            raise KVUnavailable("down")
        self.calls[name] = self.calls.get(name, 0) + 1

    def writes(self) -> int:
        return self.calls.get("create", 0) + self.calls.get("compare_and_swap", 0) + self.calls.get("put", 0)

    def get(self, key):
        self._call("get")
        return super().get(key)

    def put(self, key, value):
        self._call("put")
        super().put(key, value)

    def create(self, key, value):
        self._call("create")
        return super().create(key, value)

    def compare_and_swap(self, key, old, new):
        self._call("compare_and_swap")
        if self.before_cas:
            self.before_cas.pop(0)()
        return super().compare_and_swap(key, old, new)


def tracker(kv=None, clock=None, update=U, failover=F) -> HATracker:
    return HATracker(kv if kv is not None else MemoryKV(), "p/", update, failover, clock=clock or Clock())


# ------------------------------------------------------------------------- the tracker


def test_first_replica_seen_is_elected_per_tenant_and_cluster():
    t = tracker()
    v = t.check("t", "prod", "a")
    assert (v.accept, v.elected, v.changed) == (True, "a", True)
    v = t.check("t", "prod", "b")
    assert (v.accept, v.elected, v.changed) == (False, "a", False)
    assert t.check("t", "prod", "a") == t.check("t", "prod", "a")
    assert not t.check("t", "prod", "a").changed
    assert t.check("t", "staging", "b").accept
    assert t.check("u", "prod", "b").accept
    assert sorted(t.kv.list_prefix("p/ha-tracker/")) == [
        "p/ha-tracker/t/prod", "p/ha-tracker/t/staging", "p/ha-tracker/u/prod"]


def test_elected_timestamp_is_written_at_most_every_update_timeout():
    kv, clock = CountingKV(), Clock()
    t = tracker(kv, clock)
    t.check("t", "prod", "a")
    assert kv.writes() == 1
    for _ in range(14):  # a pushes every second
        clock.advance(1000)
        assert t.check("t", "prod", "a").accept
    assert kv.writes() == 1 and kv.calls.get("get", 0) == 1  # answered from memory
    clock.advance(1000)  # 15 s since the stored timestamp
    assert t.check("t", "prod", "a").accept
    assert kv.writes() == 2
    assert HATracker._encode(t.cached("t", "prod")) == kv.get("p/ha-tracker/t/prod")
    assert t.cached("t", "prod").received_at_ms == int(clock() * 1000)


def test_failover_only_after_the_failover_timeout():
    clock = Clock()
    t = tracker(clock=clock)
    assert t.check("t", "prod", "a").accept
    clock.advance(F - 1)
    assert not t.check("t", "prod", "b").accept
    clock.advance(1)
    v = t.check("t", "prod", "b")
    assert (v.accept, v.changed, v.elected) == (True, True, "b")
    assert not t.check("t", "prod", "a").accept  # the old replica is now the standby
    clock.advance(F)
    assert t.check("t", "prod", "a").changed  # and takes over again once b is silent


def test_elected_replica_that_keeps_pushing_is_never_replaced():
    clock = Clock()
    t = tracker(clock=clock)
    t.check("t", "prod", "a")
    for _ in range(20):
        clock.advance(10_000)
        assert t.check("t", "prod", "a").accept
        assert not t.check("t", "prod", "b").accept


def test_distributors_sharing_the_kv_agree():
    kv, clock = MemoryKV(), Clock()
    d1, d2 = tracker(kv, clock), tracker(kv, clock)
    assert d1.check("t", "prod", "a").accept
    assert d2.check("t", "prod", "b").elected == "a"
    assert d2.check("t", "prod", "a").accept
    clock.advance(F)
    assert d2.check("t", "prod", "b").changed
    assert not d1.check("t", "prod", "a").accept  # d1's cache is too old to trust: it re-reads


def test_a_cached_election_is_not_trusted_once_another_distributor_may_have_failed_over():
    """d1 reads a's election (stored at 0 s by d2) at 14 s, too young to refresh. a falls
    silent; b takes over through d2 at 20 s (failover timeout 20 s). When a pushes to d1
    at 25 s, d1 must not accept it on its 11-second-old read: the stored timestamp it
    read is 25 s old, so a failover may have happened, and d1 asks the KV."""
    kv, clock = MemoryKV(), Clock()
    d1, d2 = tracker(kv, clock, failover=20_000), tracker(kv, clock, failover=20_000)
    assert d2.check("t", "prod", "a").accept
    clock.advance(14_000)
    assert d1.check("t", "prod", "a").accept  # read from the KV: stored 14 s ago, no refresh
    clock.advance(6_000)
    assert d2.check("t", "prod", "b").changed
    clock.advance(5_000)
    v = d1.check("t", "prod", "a")
    assert (v.accept, v.elected) == (False, "b")


def test_racing_distributors_elect_exactly_one_replica():
    kv, clock = MemoryKV(), Clock()
    trackers = [tracker(kv, clock) for _ in range(8)]
    barrier = threading.Barrier(len(trackers))
    verdicts: dict[int, object] = {}

    def push(i: int) -> None:
        barrier.wait()
        verdicts[i] = trackers[i].check("t", "prod", f"r{i}")

    threads = [threading.Thread(target=push, args=(i,)) for i in range(len(trackers))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    winners = [i for i, v in verdicts.items() if v.accept]
    assert len(winners) == 1
    assert {v.elected for v in verdicts.values()} == {f"r{winners[0]}"}
    assert sum(v.changed for v in verdicts.values()) == 1


def test_a_lost_refresh_race_is_judged_again():
    """a's refresh loses its compare-and-swap to a distributor that failed over to b:
    the push is judged on the new election (refused), not on the stale read."""
    kv, clock = CountingKV(), Clock()
    t, other = tracker(kv, clock), tracker(kv, clock)
    t.check("t", "prod", "a")
    clock.advance(F)
    kv.before_cas.append(lambda: other.check("t", "prod", "b"))  # other's own CAS runs first
    v = t.check("t", "prod", "a")
    assert (v.accept, v.elected) == (False, "b")
    assert t.cached("t", "prod").replica == "b"


def test_kv_outage_keeps_the_last_known_election():
    kv, clock = CountingKV(), Clock()
    t = tracker(kv, clock)
    assert t.check("t", "prod", "a").accept
    kv.down = True
    for _ in range(3):
        clock.advance(2 * F)  # long past both timeouts: the KV is consulted, and fails
        assert t.check("t", "prod", "a").accept
        v = t.check("t", "prod", "b")
        assert (v.accept, v.elected) == (False, "a")
    assert t.check("t", "never-seen", "x").accept  # nothing known: accepted, not lost
    kv.down = False
    clock.advance(1)
    assert t.check("t", "prod", "b").changed  # a's timestamp could not be refreshed: b takes over


def test_unreadable_kv_entry_is_replaced():
    kv = MemoryKV()
    kv.put("p/ha-tracker/t/prod", b"not json")
    v = tracker(kv).check("t", "prod", "a")
    assert v.accept and v.changed


def test_factory_follows_the_config():
    assert ha_tracker(config_from_dict({}), MemoryKV()) is None
    cfg = config_from_dict({"distributor": {"ha_tracker_enabled": True, "ha_tracker_update_timeout": "5s",
                                            "ha_tracker_failover_timeout": "7s"}, "ring": {"prefix": "x/"}})
    t = ha_tracker(cfg, MemoryKV())
    assert (t.prefix, t.update_timeout_ms, t.failover_timeout_ms) == ("x/ha-tracker/", 5_000, 7_000)


# --------------------------------------------------------- replica label removal, hashing


def test_vectorised_xxh64_matches_the_reference():
    rng = random.Random(7)
    blobs = [rng.randbytes(n) for n in list(range(0, 100)) + [rng.randrange(100, 3000) for _ in range(200)]]
    rng.shuffle(blobs)
    starts = np.cumsum([0] + [len(b) for b in blobs[:-1]])
    got = xxh64_many(np.frombuffer(b"".join(blobs), np.uint8), starts, [len(b) for b in blobs])
    assert got.dtype == np.uint64
    assert got.tolist() == [xxhash.xxh64_intdigest(b) for b in blobs]
    assert len(xxh64_many(np.zeros(0, np.uint8), [], [])) == 0


def decode(series, limits=SeriesLimits()):
    return decode_write_request(write_request(series).SerializeToString(), limits)


def without(labels: dict, name: str) -> dict:
    return {k: v for k, v in labels.items() if k != name}


def test_removed_label_gives_the_series_id_of_the_series_sent_without_it():
    rng = random.Random(3)
    series = []
    for i in range(500):
        labels = {"__name__": f"m_{i % 7}", "instance": f"host-{i}:9100" * rng.randrange(1, 4)}
        for extra in rng.sample(["aa", "zz", "cluster", "job", "__a__", "__zz__", "__replica_x"], rng.randrange(0, 7)):
            labels[extra] = f"v{rng.randrange(100)}"
        if rng.random() < 0.8:
            labels["__replica__"] = rng.choice(["a", "replica-b", "r" * 40])
        series.append((labels, [(i, float(i))]))
    series.append(({"__replica__": "a"}, [(1, 1.0)]))  # nothing left but... nothing (missing name)
    got = remove_label(decode(series), "__replica__")
    plain = decode([(without(lbl, "__replica__"), s) for lbl, s in series])
    assert got.series_id.tolist() == plain.series_id.tolist()
    assert got.label_offsets.tolist() == plain.label_offsets.tolist()
    assert got.label_names.equals(plain.label_names) and got.label_values.equals(plain.label_values)
    assert got.error_code.tolist() == plain.error_code.tolist()
    assert got.error_label.tolist() == plain.error_label.tolist()
    assert [got.series_labels(i) for i in range(len(series))] == [plain.series_labels(i) for i in range(len(series))]
    assert got.labels_table(np.arange(len(series))).equals(plain.labels_table(np.arange(len(series))))


def test_removal_leaves_other_requests_and_columns_alone():
    d = decode([({"__name__": "up", "cluster": "c"}, [(1, 1.0), (2, 2.0)])])
    assert remove_label(d, "__replica__") is d
    d = decode([({"__name__": "up", "__replica__": "a"}, [(1, 1.0), (2, 2.0)])])
    got = remove_label(d, "__replica__")
    assert got.timestamps is d.timestamps and got.values is d.values and got.sample_offsets is d.sample_offsets


def test_error_positions_shift_and_messages_match_the_plain_series():
    limits = SeriesLimits(max_label_value_length=10)
    bad = {"__name__": "up", "__replica__": "a", "job": "x" * 11}  # value too long, after the replica label
    got = remove_label(decode([(bad, [(1, 1.0)])], limits), "__replica__")
    plain = decode([(without(bad, "__replica__"), [(1, 1.0)])], limits)
    assert int(got.error_code[0]) == SeriesError.LABEL_VALUE_TOO_LONG
    assert int(got.error_label[0]) == int(plain.error_label[0]) == 1
    assert format_series_error(got, 0, limits) == format_series_error(plain, 0, limits)
    # The replica label itself is the fault: it stays, so the message names it.
    own = {"__name__": "up", "__replica__": "r" * 11, "job": "x"}
    got = remove_label(decode([(own, [(1, 1.0)])], limits), "__replica__")
    assert got.series_labels(0)[1] == ("__replica__", "r" * 11)
    assert "label: '__replica__'" in format_series_error(got, 0, limits)


def test_label_count_is_enforced_after_removal_with_the_decoder_precedence():
    series = [({"__name__": "up", "a": "1", "b": "2", "__replica__": "r"}, [(1, 1.0)]),   # 3 once removed: ok
              ({"__name__": "up", "a": "1", "b": "2", "c": "3"}, [(1, 1.0)]),             # 4: too many
              ({"__name__": "up", "a": "1", "b": "2", "c": "x" * 50}, [(1, 1.0)]),        # too many beats too long
              ({"a": "1", "b": "2", "c": "3", "d": "4"}, [(1, 1.0)]),                     # no name beats too many
              ({"__name__": "up", "a": "1"}, [(1, 1.0)])]
    d = remove_label(decode(series, SeriesLimits(max_label_names_per_series=4, max_label_value_length=20)),
                     "__replica__")
    got = enforce_label_count(d, 3)
    assert got.error_code.tolist() == [0, SeriesError.TOO_MANY_LABELS, SeriesError.TOO_MANY_LABELS,
                                       SeriesError.MISSING_METRIC_NAME, 0]
    assert got.error_label.tolist()[1:3] == [-1, -1]
    assert enforce_label_count(got, 3) is got


# ------------------------------------------------------------------------ the distributor


class Recorder:
    """An ingest target that keeps what it is sent."""

    def __init__(self) -> None:
        self.batches = []

    def push(self, tenant, batch, metadata):
        self.batches.append(batch)
        return AppendResult(len(batch.timestamps), 0, {}, None)


def ha_distributor(tmp_path, kv=None, clock=None, **limits):
    cfg = config_from_dict(service_config(tmp_path, distributor={"ha_tracker_enabled": True},
                                          limits={"accept_ha_samples": True, **limits}))
    target, metrics = Recorder(), Metrics()
    d = Distributor(cfg, target, metrics, ha_tracker=tracker(kv if kv is not None else MemoryKV(), clock or Clock()))
    return d, target, metrics


def pair(replica: str | None, cluster: str | None = "prod", n_series: int = 3, value: float = 1.0) -> bytes:
    series = []
    for i in range(n_series):
        labels = {"__name__": "up", "instance": f"host-{i}", "job": "node"}
        if cluster is not None:
            labels["cluster"] = cluster
        if replica is not None:
            labels["__replica__"] = replica
        series.append((labels, [(1_700_000_000_000 + k * 15_000, value) for k in range(2)]))
    return encode_series(series)


def plain_ids(body: bytes) -> list[int]:
    raw = bytes(cramjam.snappy.decompress_raw(body))
    return decode_write_request(raw, SeriesLimits()).series_id.tolist()


def test_elected_replica_is_stored_without_its_label_and_the_other_gets_202(tmp_path):
    d, target, metrics = ha_distributor(tmp_path)
    T = Tenant("t")
    assert d.push(T, pair("a")).status == 204
    out = d.push(T, pair("b", value=9.0))
    assert (out.status, out.message) == (202, "replicas did not match, rejecting sample: replica=b, elected=a")
    assert len(target.batches) == 1
    batch = target.batches[0]
    assert [dict(m) for m in batch.labels.to_pylist()] == [
        {"__name__": "up", "cluster": "prod", "instance": f"host-{i}", "job": "node"} for i in range(3)]
    assert batch.series_id.tolist() == plain_ids(pair(None))  # the IDs of the same series sent without the label
    sample = metrics.registry.get_sample_value
    assert sample("mytsdb_distributor_deduped_samples_total", {"tenant": "t", "cluster": "prod"}) == 6
    assert sample("mytsdb_distributor_ha_tracker_elected_replica_changes_total",
                  {"tenant": "t", "cluster": "prod"}) == 1
    assert sample("mytsdb_discarded_samples_total", {"tenant": "t", "reason": "rate_limited"}) is None


def test_both_replicas_write_the_same_series_across_a_failover(tmp_path):
    clock = Clock()
    d, target, _ = ha_distributor(tmp_path, clock=clock)
    T = Tenant("t")
    assert d.push(T, pair("a")).status == 204
    clock.advance(F)
    assert d.push(T, pair("b")).status == 204
    assert d.push(T, pair("a")).status == 202
    assert target.batches[0].series_id.tolist() == target.batches[1].series_id.tolist()


@pytest.mark.parametrize("replica,cluster", [(None, "prod"), ("a", None), (None, None)])
def test_series_with_one_label_or_neither_pass_through_unchanged(tmp_path, replica, cluster):
    d, target, metrics = ha_distributor(tmp_path)
    T = Tenant("t")
    body = pair(replica, cluster)
    assert d.push(T, body).status == 204
    assert d.push(T, pair("b" if replica else None, cluster)).status == 204  # nothing elected
    assert target.batches[0].series_id.tolist() == plain_ids(body)
    names = {k for m in target.batches[0].labels.to_pylist() for k, _ in m}
    assert ("__replica__" in names) == (replica is not None)
    assert d.ha_tracker.kv.list_prefix("") == {}


def test_request_is_judged_by_its_first_series(tmp_path):
    """As Mimir: one Prometheus sends one set of external labels; the replica label is
    removed from every series, whichever their own labels."""
    d, target, _ = ha_distributor(tmp_path)
    T = Tenant("t")
    mixed = encode_series([({"__name__": "up", "cluster": "prod", "__replica__": "a"}, [(1_700_000_000_000, 1.0)]),
                           ({"__name__": "up", "__replica__": "zzz"}, [(1_700_000_000_000, 1.0)]),
                           ({"__name__": "up", "job": "x"}, [(1_700_000_000_000, 1.0)])])
    assert d.push(T, mixed).status == 204
    assert [dict(m) for m in target.batches[0].labels.to_pylist()] == [
        {"__name__": "up", "cluster": "prod"}, {"__name__": "up"}, {"__name__": "up", "job": "x"}]


def test_the_replica_label_does_not_count_against_max_label_names(tmp_path):
    d, target, _ = ha_distributor(tmp_path, max_label_names_per_series=4)
    T = Tenant("t")
    assert d.push(T, pair("a")).status == 204  # 5 labels with the replica, 4 stored
    out = d.push(T, encode_series([({"__name__": "up", "cluster": "prod", "instance": "h", "job": "j", "x": "y"},
                                    [(1_700_000_000_000, 1.0)])]))
    assert out.status == 400 and "(actual: 5, limit: 4)" in out.message
    cfg = config_from_dict(service_config(tmp_path, limits={"max_label_names_per_series": 4}))
    plain = Distributor(cfg, Recorder(), Metrics())  # without HA dedup the replica label counts
    assert plain.push(T, pair("a")).status == 400


def test_tenants_without_accept_ha_samples_are_not_deduplicated(tmp_path):
    cfg = config_from_dict(service_config(tmp_path, distributor={"ha_tracker_enabled": True},
                                          overrides={"ha": {"accept_ha_samples": True}}))
    target = Recorder()
    d = Distributor(cfg, target, Metrics(), ha_tracker=tracker())
    assert d.push(Tenant("other"), pair("a")).status == 204
    assert d.push(Tenant("other"), pair("b")).status == 204
    assert d.push(Tenant("ha"), pair("a")).status == 204
    assert d.push(Tenant("ha"), pair("b")).status == 202
    assert "__replica__" in {k for m in target.batches[0].labels.to_pylist() for k, _ in m}


def test_oversized_or_invalid_replica_value_is_not_tracked(tmp_path):
    d, target, _ = ha_distributor(tmp_path, max_label_value_length=20)
    T = Tenant("t")
    out = d.push(T, pair("r" * 21))
    assert out.status == 400 and "label-value-too-long" in out.message  # as Mimir: validation rejects it
    assert d.ha_tracker.kv.list_prefix("") == {}
    req = write_request([({"__name__": "up", "cluster": "prod", "__replica__": "ok"}, [(1_700_000_000_000, 1.0)])])
    raw = bytearray(req.SerializeToString())
    at = raw.index(b"ok")
    raw[at:at + 2] = b"\xff\xfe"  # invalid UTF-8 replica value
    out = d.push(T, bytes(cramjam.snappy.compress_raw(bytes(raw))))
    assert out.status == 400 and "label-value-invalid" in out.message
    assert d.ha_tracker.kv.list_prefix("") == {}


def test_invalid_series_of_an_elected_push_are_rejected_alone(tmp_path):
    d, target, metrics = ha_distributor(tmp_path)
    req = write_request([({"__name__": "up", "cluster": "prod", "__replica__": "a", "job": "ok"},
                          [(1_700_000_000_000, 1.0)]),
                         ({"__name__": "up", "cluster": "prod", "__replica__": "a", "job": "QQ"},
                          [(1_700_000_000_000, 1.0)])])
    raw = bytearray(req.SerializeToString())
    at = raw.index(b"QQ")
    raw[at:at + 2] = b"\xff\xfe"
    out = d.push(Tenant("t"), bytes(cramjam.snappy.compress_raw(bytes(raw))))
    assert out.status == 400 and out.accepted == 1
    assert out.message == ("received a series with invalid value in label 'job': '\ufffd' metric: 'up' "
                           "(err-mimir-label-value-invalid)")
    assert [dict(m) for m in target.batches[0].labels.to_pylist()] == [
        {"__name__": "up", "cluster": "prod", "job": "ok"}]
    assert metrics.registry.get_sample_value("mytsdb_discarded_samples_total",
                                             {"tenant": "t", "reason": "label_value_invalid"}) == 1


def test_kv_outage_does_not_fail_writes(tmp_path):
    kv, clock = CountingKV(), Clock()
    d, target, _ = ha_distributor(tmp_path, kv=kv, clock=clock)
    T = Tenant("t")
    assert d.push(T, pair("a")).status == 204
    kv.down = True
    clock.advance(2 * F)
    assert d.push(T, pair("a")).status == 204
    assert d.push(T, pair("b")).status == 202
    assert len(target.batches) == 2


# --------------------------------------------------------------- all mode, over HTTP


def test_all_mode_http_push_dedupes_and_stores_one_series(tmp_path):
    cfg = config_from_dict(service_config(tmp_path, distributor={"ha_tracker_enabled": True},
                                          limits={"accept_ha_samples": True}))
    services = Services.build(cfg, with_ring=True)
    services.start()
    try:
        client = TestClient(create_app(services, manage_lifecycle=False))
        headers = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
                   "X-Prometheus-Remote-Write-Version": "0.1.0"}
        r = client.post("/api/v1/push", content=pair("a", n_series=1, value=1.0), headers=headers)
        assert r.status_code == 204
        r = client.post("/api/v1/push", content=pair("b", n_series=1, value=2.0), headers=headers)
        assert r.status_code == 202
        assert r.text == "replicas did not match, rejecting sample: replica=b, elected=a\n"
        # The election sits in the ring's KV store beside the ring itself.
        assert list(services.ring.kv.list_prefix(f"{cfg.ring.prefix}ha-tracker/")) == [
            f"{cfg.ring.prefix}ha-tracker/anonymous/prod"]
        r = client.get("/api/v1/query", params={"query": "up", "time": "1700000015"})
        result = r.json()["data"]["result"]
        assert [(s["metric"], s["value"][1]) for s in result] == [
            ({"__name__": "up", "cluster": "prod", "instance": "host-0", "job": "node"}, "1")]
        metrics = client.get("/metrics").text
        assert 'mytsdb_distributor_deduped_samples_total{cluster="prod",tenant="anonymous"} 2.0' in metrics
        assert 'mytsdb_distributor_requests_total{status="202"} 1.0' in metrics
    finally:
        services.stop()
