"""`IngestService.Push` through a real gRPC server around a real ingester."""
from __future__ import annotations

import socket

import grpc
import numpy as np
import pyarrow as pa
import pytest
import xxhash

from schemas.ingest import ingest_pb2
from tests.support import STALE_NAN, bits, make_series
from tsdb.config import config_from_dict
from tsdb.ingest_rpc.client import IngesterClients
from tsdb.ingest_rpc.codec import decode_push, decode_result, encode_push
from tsdb.ingester import SeriesBatch
from tsdb.ingest_rpc.server import IngestServicer, serve_ingest
from tsdb.layout.columns import LABELS_TYPE
from tsdb.services import Services
from tsdb.tenancy import Tenant


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def labels_hash(labels: dict[str, str]) -> int:
    """Prometheus' labels.Hash(), as the remote-write decoder computes series ids."""
    return xxhash.xxh64(b"".join(k.encode() + b"\xff" + v.encode() + b"\xff" for k, v in sorted(labels.items()))).intdigest()


def batch_of(series) -> SeriesBatch:
    labels = [sorted(lbls.items()) for lbls, _ in series]
    counts = [len(samples) for _, samples in series]
    return SeriesBatch(
        series_id=np.array([labels_hash(dict(l)) for l in labels], np.uint64),
        labels=pa.array(labels, LABELS_TYPE),
        sample_series=np.repeat(np.arange(len(series)), counts),
        timestamps=np.array([t for _, s in series for t, _ in s], np.int64),
        values=np.array([v for _, s in series for _, v in s], np.float64),
    )


@pytest.fixture
def ingest_server(tmp_path):
    cfg = config_from_dict({"data_dir": str(tmp_path), "ingester": {"wal_fsync": "never"},
                            "limits": {"out_of_order_time_window": "100y"}})
    services = Services.build(cfg)
    services.start()
    accepting = {"on": True}
    addr = f"127.0.0.1:{_free_port()}"
    server = serve_ingest(IngestServicer(services.ingester, services.metrics, lambda: accepting["on"]), addr)
    clients = IngesterClients()
    yield services, addr, clients, accepting
    clients.close()
    server.stop(None)
    services.stop()


def test_codec_round_trip_is_bit_exact():
    series = make_series(n_instances=2, n_points=30)
    batch = batch_of(series)
    back = decode_push(ingest_pb2.PushRequest.FromString(encode_push(batch).SerializeToString()))
    assert np.array_equal(back.series_id, batch.series_id)
    assert back.labels.to_pylist() == batch.labels.to_pylist()
    assert np.array_equal(back.sample_series, batch.sample_series)
    assert np.array_equal(back.timestamps, batch.timestamps)
    assert np.array_equal(back.values.view(np.uint64), batch.values.view(np.uint64))


def test_push_lands_in_the_tenant_head(ingest_server):
    services, addr, clients, _ = ingest_server
    series = make_series(n_instances=1, n_points=20)
    batch = batch_of(series)
    result = decode_result(clients.push_async(addr, Tenant("a"), encode_push(batch), 5).result())
    assert result.accepted == len(batch.timestamps) and result.first_rejection is None
    snap = services.ingester.snapshot(Tenant("a"))
    got = sorted(zip(snap.samples.column("timestamp").to_pylist(),
                     [bits(v) for v in snap.samples.column("value").to_pylist()]))
    want = sorted((t, bits(v)) for _, s in series for t, v in s)
    assert got == want
    assert any(bits(v) == bits(STALE_NAN) for _, s in series for _, v in s)
    assert services.ingester.snapshot(Tenant("b")) is None  # another tenant saw nothing
    # The identical resend (a client retry) is accepted silently.
    again = decode_result(clients.push_async(addr, Tenant("a"), encode_push(batch), 5).result())
    assert again.first_rejection is None


def test_rejections_come_back_with_their_series(ingest_server):
    _, addr, clients, _ = ingest_server
    series = [({"__name__": "m", "k": "v"}, [(1_000_000, 1.0), (2_000_000, 2.0)])]
    clients.push_async(addr, Tenant("a"), encode_push(batch_of(series)), 5).result()
    conflicting = [({"__name__": "other"}, [(1, 1.0)]), ({"__name__": "m", "k": "v"}, [(2_000_000, 3.0)])]
    result = decode_result(clients.push_async(addr, Tenant("a"), encode_push(batch_of(conflicting)), 5).result())
    assert result.first_rejection is not None
    assert result.first_rejection.series_index == 1 and result.first_rejection.timestamp == 2_000_000
    assert sum(result.rejected_by_code.values()) == 1


def test_calls_without_a_valid_tenant_are_refused(ingest_server):
    services, addr, clients, _ = ingest_server
    request = encode_push(batch_of([({"__name__": "m"}, [(1, 1.0)])]))
    stub = clients.stub(addr)
    for metadata in ((), (("x-scope-orgid", "../b"),), (("x-scope-orgid", "a"), ("x-scope-orgid", "b"))):
        with pytest.raises(grpc.RpcError) as err:
            stub.Push(request, timeout=5, metadata=metadata)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert services.ingester.tenants() == []


def test_malformed_push_is_invalid_argument(ingest_server):
    _, addr, clients, _ = ingest_server
    for request in (ingest_pb2.PushRequest(series=b"garbage", samples=b"x"),
                    _pointing_nowhere()):
        with pytest.raises(grpc.RpcError) as err:
            clients.stub(addr).Push(request, timeout=5, metadata=(("x-scope-orgid", "a"),))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _pointing_nowhere() -> ingest_pb2.PushRequest:
    """A sample whose series index names no series."""
    return encode_push(SeriesBatch(np.zeros(0, np.uint64), pa.array([], LABELS_TYPE), np.array([0]),
                                   np.array([1]), np.array([1.0])))


def test_a_leaving_ingester_refuses_writes(ingest_server):
    _, addr, clients, accepting = ingest_server
    accepting["on"] = False
    with pytest.raises(grpc.RpcError) as err:
        clients.push_async(addr, Tenant("a"), encode_push(batch_of([({"__name__": "m"}, [(1, 1.0)])])), 5).result()
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
