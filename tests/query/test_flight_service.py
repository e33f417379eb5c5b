"""The internal query service over real Flight servers: an ingester-like backend (head +
files) and a store gateway (files only), read back through the querier's client."""
from __future__ import annotations

import socket
from dataclasses import replace

import numpy as np
import pytest

from flight.backend import LocalBackend
from flight.client import QueryClient
from flight.errors import BackendUnavailable, RemoteError
from flight.server import QueryFlightServer
from tests.query.conftest import as_rows, expected, matchers, push
from tests.support import BASE_TS, STALE_NAN, bits, make_series
from tsdb.query import StorageSource
from tsdb.storegateway import StoreGateway
from tsdb.tenancy import Tenant

A, B = Tenant("team-a"), Tenant("team-b")
END = BASE_TS + 10**8


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(services):
    """Team A: half flushed, half in the head; team B: one flushed series."""
    series = make_series(n_instances=2, n_points=60)
    push(services, A, series[: len(series) // 2])
    services.ingester.flush(A)
    push(services, A, series[len(series) // 2:])
    push(services, B, [({"__name__": "secret", "job": "b"}, [(BASE_TS, 42.0)])])
    services.ingester.flush(B)
    servers, clients = [], []

    def serve(backend, **kw):
        port = _port()
        server = QueryFlightServer(f"grpc+tcp://127.0.0.1:{port}", backend, **kw)
        server.serve_in_thread()
        servers.append(server)
        client = QueryClient(f"127.0.0.1:{port}", timeout_s=10)
        clients.append(client)
        return client

    yield services, series, serve
    for c in clients:
        c.close()
    for s in servers:
        s.shutdown()


def test_select_round_trip_is_bit_exact(served):
    services, series, serve = served
    client = serve(LocalBackend(services), max_samples_per_batch=100)  # several batches
    got = client.select(A, matchers('{job="api"}'), BASE_TS, END)
    local = StorageSource(services, A).select(matchers('{job="api"}'), BASE_TS, END)
    assert as_rows(got) == as_rows(local) == expected(series, '{job="api"}', BASE_TS, END)
    assert np.array_equal(np.sort(got.series_ids), np.sort(local.series_ids))
    assert any(bits(STALE_NAN) in {b for _, b in rows} for rows in as_rows(got).values())


def test_store_gateway_reads_only_named_manifest_files(served):
    services, series, serve = served
    gateway = StoreGateway(services.cfg, services.bucket)
    client = serve(gateway.backend())
    files = [e.path for e in services.manifests.load(A).files]
    got = client.select(A, matchers('{job="api"}'), BASE_TS, END, files=files)
    flushed = expected(series[: len(series) // 2], '{job="api"}', BASE_TS, END)
    assert as_rows(got) == flushed  # the bucket only: no head
    assert as_rows(client.select(A, matchers('{job="api"}'), BASE_TS, END, files=[])) == {}
    names = client.label_names(A, [matchers('{job="api"}')], BASE_TS, END, files=files)
    assert names == services.reader.label_names(A, [matchers('{job="api"}')], BASE_TS, END, read_head=False)


def test_series_and_label_actions_match_the_local_reader(served):
    services, _, serve = served
    client = serve(LocalBackend(services))
    sets = [matchers('{__name__=~"up|temperature_celsius"}')]
    assert client.label_names(A, sets, BASE_TS, END) == services.reader.label_names(A, sets, BASE_TS, END)
    assert client.label_values(A, "instance", [], BASE_TS, END) == services.reader.label_values(
        A, "instance", [], BASE_TS, END)
    got = client.series(A, sets, BASE_TS, END)
    want = services.reader.select(A, sets, BASE_TS, END)
    assert sorted(got.column("series_id").to_pylist()) == sorted(want.column("series_id").to_pylist())


def test_tenant_isolation(served):
    services, _, serve = served
    gateway = StoreGateway(services.cfg, services.bucket)
    client = serve(gateway.backend())
    b_files = [e.path for e in services.manifests.load(B).files]
    everything = matchers('{__name__=~".+"}')
    assert as_rows(client.select(A, everything, 0, END, files=[e.path for e in services.manifests.load(A).files]))
    with pytest.raises(RemoteError, match="not in tenant team-a's manifest"):
        client.select(A, everything, 0, END, files=b_files)
    assert "secret" not in client.label_values(A, "__name__", [], 0, END, files=None)
    for bad in (None, "../b"):
        raw = QueryClient(client.addr)
        with pytest.raises(PermissionError):
            raw.select(_FakeTenant(bad), everything, 0, END)
        raw.close()


class _FakeTenant:
    """What a caller without a (valid) tenant sends: no header, or an invalid one."""

    def __init__(self, tenant_id: str | None) -> None:
        self.id = tenant_id


def test_a_tenant_key_in_a_ticket_is_refused():
    from flight.wire import Request
    with pytest.raises(ValueError, match="unknown keys"):
        Request.decode(b'{"kind": "select", "tenant": "team-b", "matcher_sets": []}')


def test_limit_errors_keep_their_text(served, make_services):
    services, _, serve = served
    limited = make_services(limits={"max_fetched_series_per_query": 2, "out_of_order_time_window": "100y",
                                    "ingestion_rate": 1e9, "ingestion_burst_size": 10**9})
    push(limited, A, make_series(n_instances=2, n_points=5))
    client = serve(LocalBackend(limited))
    with pytest.raises(RemoteError) as err:
        client.select(A, matchers('{job="api"}'), BASE_TS, END)
    assert err.value.error_type == "execution"
    assert "(err-mimir-max-series-per-query)" in err.value.message


def test_a_server_that_is_down_is_unavailable():
    client = QueryClient(f"127.0.0.1:{_port()}", timeout_s=2)
    with pytest.raises(BackendUnavailable):
        client.select(A, matchers("up"), 0, 1)


def test_store_gateway_still_serves_files_compaction_just_replaced(served):
    """A querier planning on a manifest a few seconds old names files that compaction has
    since replaced: they are still in the bucket (deletion marks wait), and served."""
    services, _, serve = served
    files = [e.path for e in services.manifests.load(A).files]
    warm = StoreGateway(services.cfg, services.bucket)
    warm_client = serve(warm.backend())
    before = as_rows(warm_client.select(A, matchers('{job="api"}'), BASE_TS, END, files=files))
    assert before
    services.manifests.commit(A, lambda current, version: replace(current, files=()))  # "compacted away"
    warm.manifests.load_with(A, ["new-file"])  # a request naming a file it does not know: re-read
    assert warm.manifests.load(A).files == ()
    cold_client = serve(StoreGateway(services.cfg, services.bucket).backend())  # e.g. restarted meanwhile
    for client in (warm_client, cold_client):
        assert as_rows(client.select(A, matchers('{job="api"}'), BASE_TS, END, files=files)) == before
        with pytest.raises(RemoteError, match="not in tenant team-a's manifest"):
            client.select(A, matchers('{job="api"}'), BASE_TS, END,
                          files=[e.path for e in services.manifests.load(B).files])


def test_ingesters_skip_flushed_files_the_querier_reads_from_the_bucket(served):
    """`after_seq`: an ingester adds only files committed after the querier's manifest
    version, so a flushed sample is not fetched again from each of its RF ingesters."""
    services, series, serve = served
    own = lambda tenant, manifest, after: [e for e in manifest.files if after is None or e.seq > after]  # noqa: E731
    client = serve(LocalBackend(services, read_head=True, file_scope=own))
    version = services.manifests.load(A).version
    everything = as_rows(client.select(A, matchers('{job="api"}'), BASE_TS, END))
    head_only = as_rows(client.select(A, matchers('{job="api"}'), BASE_TS, END, after_seq=version))
    older = as_rows(client.select(A, matchers('{job="api"}'), BASE_TS, END, after_seq=version - 1))
    assert everything == expected(series, '{job="api"}', BASE_TS, END)
    assert head_only == expected(series[len(series) // 2:], '{job="api"}', BASE_TS, END)  # the unflushed half
    assert older == everything  # the file committed at `version` is after `version - 1`
    names = client.label_names(A, [matchers('{job="api"}')], BASE_TS, END, after_seq=version)
    assert names == services.reader.label_names(A, [matchers('{job="api"}')], BASE_TS, END)
