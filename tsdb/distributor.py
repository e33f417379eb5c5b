"""The distributor: decode, validate and rate-limit remote write, then hand to ingesters.

Request-level faults (bad snappy or protobuf, oversized body, rate limit) reject the
whole request and change nothing. Per-series faults reject only those series: the
valid series of the same request are stored, and the answer is a 400 naming the first
offending series, as Mimir does.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Callable

import cramjam
import numpy as np
import pyarrow as pa

from tsdb import admission
from tsdb.config import Config, Limits
from tsdb.ha_tracker import HATracker, enforce_label_count, remove_label
from tsdb.ingester import SeriesBatch
from tsdb.metrics import Metrics
from tsdb.ratelimit import RateLimiter
from tsdb.remote_write.decode import DecodedWrite, DecodeError, SeriesLimits, decode_write_request
from tsdb.remote_write.errors import format_labels, format_series_error
from tsdb.replication import IngestTarget, ReplicationError
from tsdb.tenancy import Tenant
from tsdb.units import format_duration_ms

# Mimir's discard reasons, for the mytsdb_discarded_samples_total metric.
_SERIES_REASONS = {1: "missing_metric_name", 2: "metric_name_invalid", 3: "label_invalid", 4: "duplicate_label_names",
                   5: "max_label_names_per_series", 6: "label_name_too_long", 7: "label_value_too_long",
                   8: "label_value_invalid", 9: "native_histogram_unsupported"}
_SAMPLE_REASONS = {admission.OUT_OF_ORDER: "sample_out_of_order", admission.DUPLICATE_TIMESTAMP: "new_value_for_timestamp",
                   admission.TOO_OLD: "sample_timestamp_too_old"}


@dataclass(frozen=True)
class PushOutcome:
    status: int          # 204, 400, 413, 429; 202 for an HA replica that is not elected; 500 when replication misses its quorum
    message: str = ""
    accepted: int = 0


class Distributor:
    """`target` is the process's own ingester in `all` mode, the replicated gRPC path in
    distributed mode. `distributors()` counts the healthy distributors: the tenant's
    global ingestion rate is divided among them, as Mimir's global strategy does."""

    def __init__(self, cfg: Config, target: IngestTarget, metrics: Metrics,
                 distributors: Callable[[], int] = lambda: 1, ha_tracker: HATracker | None = None) -> None:
        self.cfg = cfg
        self.target = target
        self.metrics = metrics
        self.distributors = distributors
        self.ha_tracker = ha_tracker  # with `distributor.ha_tracker_enabled`
        self.rate_limiter = RateLimiter()

    def push(self, tenant: Tenant, body: bytes) -> PushOutcome:
        limit = self.cfg.distributor.max_recv_msg_size
        if len(body) > limit:
            return PushOutcome(413, _too_large(len(body), limit))
        try:
            size = snappy_uncompressed_length(body)
        except ValueError as e:
            return PushOutcome(400, f"snappy: {e}")
        if size > limit:
            return PushOutcome(413, _too_large(size, limit))
        try:
            raw = bytes(cramjam.snappy.decompress_raw(body))
        except Exception as e:  # cramjam raises its own DecompressionError
            return PushOutcome(400, f"snappy: corrupt input: {e}")
        limits = self.cfg.limits_for(tenant)
        # With HA dedup the replica label, removed before storage, must not count against
        # the label-count limit (Mimir validates after removing it): decode with room for
        # it, and `_push_decoded` applies the real limit once it is gone.
        spare = 1 if self._ha_enabled(limits) else 0
        try:
            decoded = decode_write_request(raw, SeriesLimits(
                limits.max_label_names_per_series + spare, limits.max_label_name_length,
                limits.max_label_value_length))
        except DecodeError as e:
            return PushOutcome(400, str(e))
        return self._push_decoded(tenant, decoded, limits)

    def _push_decoded(self, tenant: Tenant, decoded, limits: Limits) -> PushOutcome:
        self.metrics.received_samples.labels(tenant.id).inc(decoded.n_samples)
        if self._ha_enabled(limits):
            rejected, decoded = self._ha_dedupe(tenant, decoded, limits)
            if rejected is not None:
                return rejected
            decoded = enforce_label_count(decoded, limits.max_label_names_per_series)
        errors: list[str] = []
        bad_series = np.flatnonzero(decoded.error_code != 0)
        if len(bad_series):
            errors.append(format_series_error(decoded, int(bad_series[0]), SeriesLimits(
                limits.max_label_names_per_series, limits.max_label_name_length, limits.max_label_value_length)))
            counts = np.diff(decoded.sample_offsets)
            for code in np.unique(decoded.error_code[bad_series]):
                n = int(counts[decoded.error_code == code].sum())
                if n:
                    self.metrics.discarded_samples.labels(tenant.id, _SERIES_REASONS[int(code)]).inc(n)

        sample_series = decoded.sample_series_index()
        keep = decoded.error_code[sample_series] == 0
        now_ms = int(time.time() * 1000)
        future = keep & (decoded.timestamps > now_ms + limits.creation_grace_period)
        if future.any():
            i = int(np.flatnonzero(future)[0])
            errors.append(_sample_error(
                "received a sample whose timestamp is too far in the future (err-mimir-too-far-in-future)",
                decoded.timestamps[i], decoded.series_labels(int(sample_series[i]))))
            self.metrics.discarded_samples.labels(tenant.id, "too_far_in_future").inc(int(future.sum()))
            keep &= ~future

        n_valid = int(keep.sum())
        local_rate = limits.ingestion_rate / max(1, self.distributors())
        if not self.rate_limiter.allow(tenant.id, n_valid + len(decoded.metadata), local_rate,
                                       limits.ingestion_burst_size):
            self.metrics.discarded_samples.labels(tenant.id, "rate_limited").inc(n_valid)
            return PushOutcome(429, _rate_limited(limits))

        accepted = 0
        batch, valid_series = _valid_batch(decoded, sample_series, keep)
        try:
            result = self.target.push(tenant, batch, decoded.metadata)
        except ReplicationError as e:
            return PushOutcome(500, str(e))
        if n_valid:
            accepted = result.accepted
            self.metrics.ingested_samples.labels(tenant.id).inc(accepted)
            for code, n in result.rejected_by_code.items():
                self.metrics.discarded_samples.labels(tenant.id, _SAMPLE_REASONS[code]).inc(n)
            if result.first_rejection is not None:
                r = result.first_rejection
                errors.append(_sample_error(_SAMPLE_MESSAGES[r.code](limits), r.timestamp,
                                            decoded.series_labels(int(valid_series[r.series_index]))))
        if errors:
            return PushOutcome(400, errors[0], accepted)
        return PushOutcome(204, "", accepted)

    def _ha_enabled(self, limits: Limits) -> bool:
        return self.ha_tracker is not None and limits.accept_ha_samples

    def _ha_dedupe(self, tenant: Tenant, decoded: DecodedWrite,
                   limits: Limits) -> tuple[PushOutcome | None, DecodedWrite]:
        """Mimir's HA dedup, judged on the first series' labels (a Prometheus sends one set
        of external labels): (a 202 answer if this replica is not the elected one, else None;
        the request, without the replica label on any series if the first series has both
        labels and its replica is elected, else unchanged)."""
        if not decoded.n_series:
            return None, decoded
        labels = dict(decoded.series_labels(0))
        cluster, replica = labels.get(limits.ha_cluster_label), labels.get(limits.ha_replica_label)
        if not cluster or not replica:  # only one label, or neither: not an HA pair, stored as is
            return None, decoded
        if not (_is_utf8(cluster) and _is_utf8(replica)):
            return None, decoded  # the series fails validation anyway (label-value-invalid)
        if len(replica.encode()) > limits.max_label_value_length:
            return None, decoded  # as Mimir: not used, and the series fails validation
        verdict = self.ha_tracker.check(tenant.id, cluster, replica)
        if verdict.changed:
            self.metrics.ha_elected_changes.labels(tenant.id, cluster).inc()
        if not verdict.accept:
            self.metrics.deduped_samples.labels(tenant.id, cluster).inc(decoded.n_samples)
            return PushOutcome(202, _ha_verdict_message(replica, verdict.elected)), decoded
        return None, remove_label(decoded, limits.ha_replica_label)


def _ha_verdict_message(replica: str, elected: str) -> str:
    return f"replicas did not match, rejecting sample: replica={replica}, elected={elected}"


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # surrogate-escaped invalid bytes
        return False
    return True


def _valid_batch(decoded, sample_series: np.ndarray, keep: np.ndarray) -> tuple[SeriesBatch, np.ndarray]:
    """The valid series and samples of a request, as columns (labels as a map array),
    and the request index of each kept series."""
    valid_series = np.flatnonzero(decoded.error_code == 0)
    remap = np.full(decoded.n_series, -1, np.int64)
    remap[valid_series] = np.arange(len(valid_series))
    offsets = decoded.label_offsets.astype(np.int32)
    all_labels = pa.MapArray.from_arrays(pa.array(offsets), decoded.label_names, decoded.label_values)
    batch = SeriesBatch(
        series_id=decoded.series_id[valid_series],
        labels=all_labels.take(pa.array(valid_series)),
        sample_series=remap[sample_series[keep]],
        timestamps=decoded.timestamps[keep],
        values=decoded.values[keep],
    )
    return batch, valid_series


def snappy_uncompressed_length(body: bytes) -> int:
    """The uncompressed length from a raw snappy block's varint header, so an oversized
    body is refused before it is inflated."""
    result = shift = 0
    for i, byte in enumerate(body[:10]):
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result
        shift += 7
    raise ValueError("corrupt input: bad length header" if body else "corrupt input: empty body")


def format_timestamp(ts_ms: int) -> str:
    """RFC 3339 with milliseconds, as Mimir prints sample timestamps."""
    d = dt.datetime.fromtimestamp(ts_ms / 1000, dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}Z"


def _sample_error(message: str, ts_ms: int, labels: list[tuple[str, str]]) -> str:
    return f"{message}. The affected sample has timestamp {format_timestamp(int(ts_ms))} and is from series {format_labels(labels)}"


def _too_old(limits: Limits) -> str:
    if limits.out_of_order_time_window > 0:
        return ("the sample has been rejected because another sample with a more recent timestamp has already been "
                f"ingested and this sample is beyond the out-of-order time window of "
                f"{format_duration_ms(limits.out_of_order_time_window)} (err-mimir-sample-timestamp-too-old)")
    return "the sample has been rejected because its timestamp is too old (err-mimir-sample-timestamp-too-old)"


_SAMPLE_MESSAGES = {
    admission.OUT_OF_ORDER: lambda _: (
        "the sample has been rejected because another sample with a more recent timestamp has already been "
        "ingested and out-of-order samples are not allowed (err-mimir-sample-out-of-order)"),
    admission.DUPLICATE_TIMESTAMP: lambda _: (
        "the sample has been rejected because another sample with the same timestamp, but a different value, "
        "has already been ingested (err-mimir-sample-duplicate-timestamp)"),
    admission.TOO_OLD: _too_old,
}


def _too_large(size: int, limit: int) -> str:
    return (f"the incoming push request has been rejected because its message size of {size} bytes is larger than "
            f"the allowed limit of {limit} bytes (err-mimir-distributor-max-write-message-size)")


def _rate_limited(limits: Limits) -> str:
    rate = limits.ingestion_rate
    shown = int(rate) if float(rate).is_integer() else rate
    return (f"the request has been rejected because the tenant exceeded the ingestion rate limit, set to {shown} "
            f"items/s with a maximum allowed burst of {limits.ingestion_burst_size}. This limit is applied on the "
            "total number of samples, exemplars and metadata received across all distributors "
            "(err-mimir-tenant-max-ingestion-rate). To adjust the related per-tenant limits, configure "
            "ingestion_rate and ingestion_burst_size in limits or overrides, or contact your service administrator.")
