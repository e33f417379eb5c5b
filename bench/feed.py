"""The benchmark data set and its precomputed remote-write bodies.

One realistic, node-exporter-shaped data set feeds every benchmark: ~50 metric names,
100 instances, counters (integers with rare resets), random-walk gauges and constants.
Requests are live-shaped, like a Prometheus remote-write shard sends them: each one
carries the next timestamp for a slice of `series_per_request` series, so every series
is written in time order.

Bodies are built with NumPy from a per-slice byte template (labels never change, only
the 8 value bytes and the timestamp varint do), because building millions of protobuf
messages in Python would take longer than the benchmark itself. `check_body` proves the
bytes equal what `tsdb.remote_write.encode.write_request` would send.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import product

import cramjam
import numpy as np

COUNTER, GAUGE, CONSTANT = 0, 1, 2

_NET = ("eth0", "eth1", "lo")
_DISK = ("sda", "sdb")
_MOUNT = ("/", "/boot", "/var", "/home")
_CPU = ("0", "1")
_MODE = ("idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user")
_SENSOR = ("temp1", "temp2", "temp3", "temp4", "temp5", "temp6")

# (metric name, kind, {extra label: values}, typical magnitude, gauge resolution): 100
# series per instance. Gauges are quantised as node_exporter reports them (bytes in pages,
# counts as integers, load to 0.01, temperatures in millidegrees); 0 = full precision.
FAMILIES: tuple[tuple[str, int, dict[str, tuple[str, ...]], float, float], ...] = (
    ("node_cpu_seconds_total", COUNTER, {"mode": _MODE}, 1e6, 1),
    ("node_network_receive_bytes_total", COUNTER, {"device": _NET}, 1e11, 1),
    ("node_network_transmit_bytes_total", COUNTER, {"device": _NET}, 1e11, 1),
    ("node_network_receive_packets_total", COUNTER, {"device": _NET}, 1e8, 1),
    ("node_network_transmit_packets_total", COUNTER, {"device": _NET}, 1e8, 1),
    ("node_network_receive_errs_total", COUNTER, {"device": _NET}, 1e2, 1),
    ("node_disk_read_bytes_total", COUNTER, {"device": _DISK}, 1e11, 1),
    ("node_disk_written_bytes_total", COUNTER, {"device": _DISK}, 1e11, 1),
    ("node_disk_reads_completed_total", COUNTER, {"device": _DISK}, 1e7, 1),
    ("node_disk_writes_completed_total", COUNTER, {"device": _DISK}, 1e7, 1),
    ("node_disk_io_time_seconds_total", COUNTER, {"device": _DISK}, 1e5, 1),
    ("node_context_switches_total", COUNTER, {}, 1e9, 1),
    ("node_intr_total", COUNTER, {}, 1e9, 1),
    ("node_forks_total", COUNTER, {}, 1e6, 1),
    ("node_vmstat_pgfault", COUNTER, {}, 1e9, 1),
    ("node_vmstat_pgmajfault", COUNTER, {}, 1e4, 1),
    ("node_netstat_Tcp_ActiveOpens", COUNTER, {}, 1e6, 1),
    ("node_netstat_Tcp_PassiveOpens", COUNTER, {}, 1e6, 1),
    ("process_cpu_seconds_total", COUNTER, {}, 1e4, 1),
    ("node_schedstat_running_seconds_total", COUNTER, {"cpu": _CPU}, 1e6, 1),
    ("node_load1", GAUGE, {}, 1.0, 0.01),
    ("node_load5", GAUGE, {}, 1.0, 0.01),
    ("node_load15", GAUGE, {}, 1.0, 0.01),
    ("node_memory_MemAvailable_bytes", GAUGE, {}, 8e9, 4096),
    ("node_memory_MemFree_bytes", GAUGE, {}, 2e9, 4096),
    ("node_memory_Cached_bytes", GAUGE, {}, 4e9, 4096),
    ("node_memory_Buffers_bytes", GAUGE, {}, 3e8, 4096),
    ("node_filesystem_avail_bytes", GAUGE, {"mountpoint": _MOUNT}, 5e10, 4096),
    ("node_filesystem_free_bytes", GAUGE, {"mountpoint": _MOUNT}, 6e10, 4096),
    ("node_filesystem_files_free", GAUGE, {"mountpoint": _MOUNT}, 3e6, 1),
    ("node_procs_running", GAUGE, {}, 3.0, 1),
    ("node_procs_blocked", GAUGE, {}, 1.0, 1),
    ("node_sockstat_TCP_inuse", GAUGE, {}, 50.0, 1),
    ("node_sockstat_sockets_used", GAUGE, {}, 300.0, 1),
    ("node_hwmon_temp_celsius", GAUGE, {"sensor": _SENSOR}, 50.0, 0.001),
    ("node_cpu_scaling_frequency_hertz", GAUGE, {"cpu": _CPU}, 2.5e9, 1000),
    ("node_entropy_available_bits", GAUGE, {}, 3000.0, 1),
    ("node_nf_conntrack_entries", GAUGE, {}, 200.0, 1),
    ("process_resident_memory_bytes", GAUGE, {}, 2e7, 4096),
    ("go_goroutines", GAUGE, {}, 10.0, 1),
    ("node_timex_offset_seconds", GAUGE, {}, 1e-4, 0),
    ("node_disk_io_now", GAUGE, {"device": _DISK}, 2.0, 1),
    ("node_memory_MemTotal_bytes", CONSTANT, {}, 1.6e10, 1),
    ("node_filesystem_size_bytes", CONSTANT, {"mountpoint": _MOUNT}, 1e11, 1),
    ("node_filesystem_files", CONSTANT, {"mountpoint": _MOUNT}, 6e6, 1),
    ("node_cpu_frequency_max_hertz", CONSTANT, {"cpu": _CPU}, 3e9, 1),
    ("node_network_mtu_bytes", CONSTANT, {"device": _NET}, 1500.0, 1),
    ("node_network_speed_bytes", CONSTANT, {"device": _NET}, 1.25e8, 1),
    ("node_boot_time_seconds", CONSTANT, {}, 1.7e9, 1),
    ("up", CONSTANT, {}, 1.0, 1),
)


@dataclass(frozen=True)
class FeedConfig:
    n_series: int = 10_000
    n_steps: int = 400
    step_ms: int = 15_000
    series_per_request: int = 2_000
    seed: int = 42
    end_ms: int = 0  # timestamp of the last step; 0: now, rounded down to the step

    @property
    def n_samples(self) -> int:
        return self.n_series * self.n_steps

    @property
    def slices(self) -> int:
        """Requests per timestamp; a series reappears every `slices` requests."""
        return self.n_series // self.series_per_request


@dataclass
class Feed:
    """Series, values and the request bodies, in send order."""

    cfg: FeedConfig
    labels: list[dict[str, str]]
    kinds: np.ndarray
    timestamps: np.ndarray            # (n_steps,)
    values: np.ndarray                # (n_steps, n_series)
    bodies: list[bytes] = field(default_factory=list)

    @property
    def raw_bytes(self) -> int:
        return sum(len(b) for b in self.bodies)

    def request_series(self, k: int) -> list[tuple[dict[str, str], list[tuple[int, float]]]]:
        """Request `k` as `encode.write_request` input (for checks, not for timing)."""
        step, part = divmod(k, self.cfg.slices)
        lo = part * self.cfg.series_per_request
        return [(self.labels[i], [(int(self.timestamps[step]), float(self.values[step, i]))])
                for i in range(lo, lo + self.cfg.series_per_request)]


def series_labels(n_series: int) -> tuple[list[dict[str, str]], np.ndarray]:
    """Node-exporter-like label sets (sorted by name) and the kind of each series."""
    per_instance = [(name, kind, dict(zip(extra, combo)))
                    for name, kind, extra, _, _ in FAMILIES
                    for combo in product(*extra.values())]
    labels, kinds = [], []
    instance = 0
    while len(labels) < n_series:
        host = f"10.{instance // 250}.{instance % 250}.{10 + instance % 7}:9100"
        common = {"instance": host, "job": "node", "env": ("prod", "staging")[instance % 5 == 0],
                  "region": ("eu-west-1", "us-east-1", "ap-south-1")[instance % 3]}
        for name, kind, extra in per_instance:
            labels.append(dict(sorted({"__name__": name, **common, **extra}.items())))
            kinds.append(kind)
        instance += 1
    return labels[:n_series], np.array(kinds[:n_series], np.int8)


def _per_series(n_series: int, column: int) -> np.ndarray:
    """Column `column` of FAMILIES (3: magnitude, 4: resolution), per series."""
    per_instance = [fam[column] for fam in FAMILIES for _ in product(*fam[2].values())]
    return np.resize(np.array(per_instance, np.float64), n_series)


def series_values(cfg: FeedConfig, kinds: np.ndarray) -> np.ndarray:
    """(n_steps, n_series) values: integer counters with rare resets, random-walk float
    gauges (at their family's resolution), constants."""
    rng = np.random.default_rng(cfg.seed)
    steps, n = cfg.n_steps, cfg.n_series
    scale = _per_series(n, 3)
    out = np.empty((steps, n), np.float64)

    c = kinds == COUNTER
    rate = rng.lognormal(0.0, 2.0, c.sum()) * scale[c] / 1e6          # increments per second
    inc = rng.poisson(rate * cfg.step_ms / 1000, (steps, c.sum())).astype(np.float64)
    reset = rng.random((steps, c.sum())) < 1 / 5000
    reset[0] = False
    total = np.cumsum(inc, axis=0)
    base = np.maximum.accumulate(np.where(reset, total - inc, 0.0), axis=0)
    start = np.floor(rng.random(c.sum()) * scale[c])
    out[:, c] = total - base + np.where(np.cumsum(reset, axis=0) == 0, start, 0.0)

    g = kinds == GAUGE
    walk = np.cumsum(rng.normal(0.0, 0.002, (steps, g.sum())), axis=0)
    gauge = scale[g] * (1 + rng.random(g.sum())) * (1 + walk)
    res = _per_series(n, 4)[g]
    out[:, g] = np.where(res > 0, np.round(gauge / np.where(res > 0, res, 1)) * res, gauge)

    k = kinds == CONSTANT
    out[:, k] = np.round(scale[k] * (0.5 + rng.random(k.sum())))[None, :]
    return out


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _label_bytes(labels: dict[str, str]) -> bytes:
    parts = []
    for name, value in labels.items():
        label = b"\x0a" + _varint(len(name)) + name.encode() + b"\x12" + _varint(len(value)) + value.encode()
        parts.append(b"\x0a" + _varint(len(label)) + label)
    return b"".join(parts)


_SAMPLE_LEN = 16  # 0x09 + double + 0x10 + 6-byte varint timestamp


def _template(labels: list[dict[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """The bytes of a WriteRequest over `labels` with one zeroed sample per series, and
    the offset of each series' sample."""
    chunks, offsets, pos = [], [], 0
    for lab in labels:
        body = _label_bytes(lab) + b"\x12" + _varint(_SAMPLE_LEN)
        head = b"\x0a" + _varint(len(body) + _SAMPLE_LEN) + body
        chunks.append(head + b"\x09" + bytes(8) + b"\x10" + bytes(6))
        offsets.append(pos + len(head))
        pos += len(head) + _SAMPLE_LEN
    return np.frombuffer(b"".join(chunks), np.uint8).copy(), np.array(offsets, np.int64)


def _ts_varint(ts: int) -> np.ndarray:
    if not 1 << 35 <= ts < 1 << 42:
        raise ValueError(f"timestamp {ts} does not fit the fixed 6-byte varint of the template")
    return np.frombuffer(_varint(ts), np.uint8)


def build_feed(cfg: FeedConfig, progress: bool = True) -> Feed:
    """Generate the data and precompute every snappy-compressed request body."""
    if cfg.n_series % cfg.series_per_request:
        raise ValueError("n_series must be a multiple of series_per_request")
    t0 = time.monotonic()
    labels, kinds = series_labels(cfg.n_series)
    values = series_values(cfg, kinds)
    end = cfg.end_ms or int(time.time() * 1000) // cfg.step_ms * cfg.step_ms
    timestamps = end - cfg.step_ms * np.arange(cfg.n_steps - 1, -1, -1, dtype=np.int64)
    feed = Feed(cfg, labels, kinds, timestamps, values)
    spr = cfg.series_per_request
    templates = [_template(labels[j * spr:(j + 1) * spr]) for j in range(cfg.slices)]
    vbytes = np.arange(8)
    for step in range(cfg.n_steps):
        ts = _ts_varint(int(timestamps[step]))
        for j, (tmpl, offs) in enumerate(templates):
            buf = tmpl.copy()
            buf[(offs + 1)[:, None] + vbytes] = values[step, j * spr:(j + 1) * spr, None].view(np.uint8).reshape(-1, 8)
            buf[(offs + 10)[:, None] + np.arange(6)] = ts
            feed.bodies.append(bytes(cramjam.snappy.compress_raw(buf)))
        if progress and (step + 1) % 100 == 0:
            print(f"  feed: {step + 1}/{cfg.n_steps} steps encoded ({time.monotonic() - t0:.1f}s)", flush=True)
    if progress:
        print(f"  feed: {len(feed.bodies)} requests, {cfg.n_samples:,} samples, "
              f"{feed.raw_bytes / 1e6:.0f} MB compressed, built in {time.monotonic() - t0:.1f}s", flush=True)
    return feed


def check_body(feed: Feed, k: int) -> None:
    """Assert body `k` decodes to the same WriteRequest the project's encoder builds."""
    from schemas.prompb import remote_pb2
    from tsdb.remote_write.encode import write_request

    got = remote_pb2.WriteRequest.FromString(bytes(cramjam.snappy.decompress_raw(feed.bodies[k])))
    if got != write_request(feed.request_series(k)):
        raise AssertionError(f"precomputed body {k} differs from encode.write_request")
