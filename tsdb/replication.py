"""Replicated writes: each series goes to the RF ingesters that own it on the ring.

As Mimir's distributor does: hash each series (tenant + labels hash) onto the ring,
take the RF distinct instances clockwise from it, send each ingester one push holding
every series it owns, and answer once a quorum (RF/2 + 1) of every series' owners has
acknowledged. A series whose replication set has fewer than a quorum of healthy
instances fails the request before anything is sent, so a write either reaches a
quorum or reports a 5xx that Prometheus retries; the identical resend is then
accepted silently by the replicas that already had it.
"""
from __future__ import annotations

import queue
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Sequence

import grpc
import numpy as np
import pyarrow as pa

from tsdb.ingest_rpc.client import IngesterClients
from tsdb.ingest_rpc.codec import decode_result, encode_push
from tsdb.layout.columns import LABELS_TYPE
from tsdb.ingester import AppendResult, Ingester, Rejection, SeriesBatch
from tsdb.tenancy import Tenant

if TYPE_CHECKING:
    from tsdb.ring import Ring, RingWatcher


class IngestTarget(Protocol):
    """Where the distributor sends the valid part of a push."""

    def push(self, tenant: Tenant, batch: SeriesBatch, metadata: Sequence) -> AppendResult: ...


class ReplicationError(Exception):
    """Fewer than a quorum of some series' owners acknowledged: a 5xx, the client retries."""


@dataclass
class LocalIngester:
    """`all` mode: the process's own ingester, called in-process."""

    ingester: Ingester

    def push(self, tenant: Tenant, batch: SeriesBatch, metadata: Sequence) -> AppendResult:
        self.ingester.record_metadata(tenant, list(metadata))
        return self.ingester.append(tenant, batch)


def subset(batch: SeriesBatch, series_mask: np.ndarray) -> tuple[SeriesBatch, np.ndarray]:
    """The series where `series_mask` holds, with their samples; and their indices in `batch`."""
    keep = np.flatnonzero(series_mask)
    remap = np.full(len(series_mask), -1, np.int64)
    remap[keep] = np.arange(len(keep))
    samples = series_mask[batch.sample_series]
    return SeriesBatch(
        series_id=batch.series_id[keep],
        labels=batch.labels.take(pa.array(keep)),
        sample_series=remap[batch.sample_series[samples]],
        timestamps=batch.timestamps[samples],
        values=batch.values[samples],
    ), keep


class ReplicatedIngesters:
    """Distributed mode: push over gRPC to the ring's owners of each series."""

    def __init__(self, ring: RingWatcher, clients: IngesterClients, replication_factor: int, timeout_s: float) -> None:
        self.ring = ring
        self.clients = clients
        self.replication_factor = replication_factor
        self.timeout_s = timeout_s

    def push(self, tenant: Tenant, batch: SeriesBatch, metadata: Sequence) -> AppendResult:
        from tsdb.ring import series_tokens

        ring = self.ring.ring()
        instances = ring.instances
        if not instances:
            raise ReplicationError("empty ring: no ingester has joined")
        if len(batch.series_id) == 0:
            self._send_metadata(tenant, ring, metadata)
            return AppendResult(0, 0, {}, None)
        rf = min(self.replication_factor, len(instances))
        quorum = rf // 2 + 1
        owners = ring.owners(series_tokens(tenant.id, batch.series_id), rf)  # (series, rf) instance indices
        healthy = np.array([ring.healthy(i) for i in instances])
        live = healthy[owners].sum(axis=1)
        if len(live) and live.min() < quorum:
            down = sorted({instances[i].id for i in np.unique(owners) if not healthy[i]})
            raise ReplicationError(f"at least {quorum} live replicas required, could only find {int(live.min())} "
                                   f"- unhealthy instances: {','.join(down)}")

        done: queue.Queue = queue.Queue()
        sent: dict[int, np.ndarray] = {}
        encoded: dict[bytes, tuple[bytes, np.ndarray]] = {}  # series mask -> (serialised push, its rows)
        for idx in np.unique(owners[healthy[owners]]):
            mask = (owners == idx).any(axis=1)
            key = np.packbits(mask).tobytes()
            if key not in encoded:  # replicas owning the same series get the same bytes, encoded once
                part, rows = (batch, np.arange(len(mask))) if mask.all() else subset(batch, mask)
                encoded[key] = (encode_push(part, metadata).SerializeToString(), rows)
            payload, rows = encoded[key]
            future = self.clients.push_async(instances[idx].addr, tenant, payload, self.timeout_s)
            sent[int(idx)] = rows
            future.add_done_callback(lambda f, i=int(idx): done.put((i, f)))

        acked = np.zeros(len(batch.series_id), np.int64)
        results: list[tuple[AppendResult, np.ndarray]] = []
        errors: list[str] = []
        deadline = time.monotonic() + self.timeout_s + 1
        for _ in range(len(sent)):
            try:
                idx, future = done.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            try:
                results.append((decode_result(future.result()), sent[idx]))
                acked[sent[idx]] += 1
            except grpc.RpcError as e:
                errors.append(f"{instances[idx].id}: {e.code().name}: {e.details()}")
                if e.code() == grpc.StatusCode.UNAVAILABLE:
                    self.clients.forget(instances[idx].addr, linger_s=2 * self.timeout_s)
            if acked.min(initial=quorum) >= quorum:
                break  # every series has a quorum; the other pushes finish on their own
        if acked.min(initial=quorum) < quorum:
            raise ReplicationError("failed pushing to ingesters: " + ("; ".join(errors) or "timeout"))
        return _combine(results, len(batch.timestamps))


    def _send_metadata(self, tenant: Tenant, ring: Ring, metadata: Sequence) -> None:
        """A metadata-only request (Prometheus sends them apart from samples): best effort
        to every healthy ingester, which is where /api/v1/metadata reads it back."""
        if not metadata:
            return
        request = encode_push(subset(_EMPTY, np.zeros(0, bool))[0], metadata)
        futures = [self.clients.push_async(i.addr, tenant, request, self.timeout_s)
                   for i in ring.instances if ring.healthy(i)]
        for f in futures:
            try:
                f.result()
            except grpc.RpcError:
                pass


_EMPTY = SeriesBatch(np.zeros(0, np.uint64), pa.array([], LABELS_TYPE),
                     np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64))


def _combine(results: list[tuple[AppendResult, np.ndarray]], n_samples: int) -> AppendResult:
    """One answer for the client from the replicas' answers: each sample counts once,
    refused if any replica refused it (the replicas apply the same rules to the same data)."""
    rejected: dict[int, int] = {}
    ignored = 0
    first = None
    for result, rows in results:
        for code, n in result.rejected_by_code.items():
            rejected[code] = max(rejected.get(code, 0), n)
        ignored = max(ignored, result.ignored)
        if first is None and result.first_rejection is not None:
            r = result.first_rejection
            first = Rejection(r.code, int(rows[r.series_index]), r.timestamp)
    accepted = max(0, n_samples - ignored - sum(rejected.values()))
    return AppendResult(accepted, ignored, rejected, first)
