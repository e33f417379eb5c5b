"""Write-ahead log: checksummed records in segment files, group-committed fsync, replay.

Layout of a WAL directory:
  `00000001.seg`, `00000002.seg`, ...  segments, appended in order;
  `checkpoint.00000005`                 state as of the start of segment 5 (written at
                                        truncation; replay starts from it).

A record is `u32 length | u32 crc32(type + payload) | u8 type | payload`. A torn tail
(the last record cut short by a crash) fails its length or checksum check; replay skips
it with a warning and cuts the file there, instead of refusing to start.

Durability: with `fsync="always"` `sync(seq)` returns only after the record is on disk.
Concurrent pushes share one fsync (group commit), which is what makes per-push fsync
affordable.
"""
from __future__ import annotations

import logging
import os
import struct
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<IIB")
_SEGMENT_SUFFIX = ".seg"
_CHECKPOINT_PREFIX = "checkpoint."
MAX_RECORD_BYTES = 1 << 31


@dataclass(frozen=True)
class WALRecord:
    type: int
    payload: bytes


@dataclass
class ReplayStats:
    records: int = 0
    segments: int = 0
    torn_tails: int = 0
    corrupt_segments: int = 0


class WAL:
    """One tenant's WAL. Thread-safe: appends are serialised, fsyncs are shared."""

    def __init__(self, directory: Path, fsync: str = "always", segment_size: int = 128 << 20,
                 fsync_interval_s: float = 1.0) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.segment_size = segment_size
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0
        self._synced = 0
        self._fd = -1
        self._segment = 0
        self._segment_bytes = 0
        self._closed = False
        self._interval_thread: threading.Thread | None = None
        if fsync == "interval":
            self._interval_thread = threading.Thread(
                target=self._sync_periodically, args=(fsync_interval_s,), name="wal-fsync", daemon=True)

    # -- replay -----------------------------------------------------------------------

    def replay(self) -> tuple[bytes | None, Iterator[WALRecord], ReplayStats]:
        """Return the latest checkpoint payload and an iterator over the records after it.

        Must be called once, before `open_for_append`.
        """
        stats = ReplayStats()
        checkpoint_seg, checkpoint = self._latest_checkpoint()
        segments = [s for s in self._segments() if s >= checkpoint_seg]

        def records() -> Iterator[WALRecord]:
            for i, seg in enumerate(segments):
                stats.segments += 1
                yield from self._read_segment(seg, is_last=(i == len(segments) - 1), stats=stats)

        return checkpoint, records(), stats

    def _read_segment(self, seg: int, is_last: bool, stats: ReplayStats) -> Iterator[WALRecord]:
        path = self._segment_path(seg)
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            problem = None
            if len(data) - pos < _HEADER.size:
                problem = "truncated record header"
            else:
                length, crc, rtype = _HEADER.unpack_from(data, pos)
                end = pos + _HEADER.size + length
                if end > len(data):
                    problem = "truncated record"
                else:
                    payload = data[pos + _HEADER.size:end]
                    if zlib.crc32(payload, zlib.crc32(bytes([rtype]))) != crc:
                        problem = "checksum mismatch"
            if problem is not None:
                if is_last:
                    stats.torn_tails += 1
                    log.warning("WAL %s: %s at offset %d; skipping the torn tail (%d bytes)",
                                path, problem, pos, len(data) - pos)
                    with open(path, "r+b") as f:
                        f.truncate(pos)
                        os.fsync(f.fileno())
                else:
                    stats.corrupt_segments += 1
                    log.error("WAL %s: %s at offset %d in a sealed segment; skipping the rest of it",
                              path, problem, pos)
                return
            stats.records += 1
            yield WALRecord(rtype, payload)
            pos = end

    # -- append -----------------------------------------------------------------------

    def open_for_append(self) -> None:
        """Start a fresh segment after the existing ones."""
        existing = self._segments()
        checkpoint_seg, _ = self._latest_checkpoint()
        self._open_segment(max([checkpoint_seg, *existing], default=0) + 1)
        if self._interval_thread is not None:
            self._interval_thread.start()

    def append(self, rtype: int, payload: bytes) -> int:
        """Write one record (not yet durable); returns its sequence number for `sync`."""
        if len(payload) >= MAX_RECORD_BYTES:
            raise ValueError("WAL record too large")
        header = _HEADER.pack(len(payload), zlib.crc32(payload, zlib.crc32(bytes([rtype]))), rtype)
        with self._lock:
            if self._closed:
                raise RuntimeError("WAL is closed")
            if self._segment_bytes >= self.segment_size:
                self._rotate_locked()
            os.write(self._fd, header + payload)
            self._segment_bytes += len(header) + len(payload)
            self._written += 1
            return self._written

    def sync(self, seq: int) -> None:
        """Block until record `seq` is durable (no-op unless fsync policy is `always`)."""
        if self.fsync == "always":
            self._sync_upto(seq)

    def _sync_upto(self, seq: int) -> None:
        with self._sync_lock:
            if self._synced >= seq:
                return
            with self._lock:
                target = self._written
                fd = os.dup(self._fd)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._synced = target

    def _sync_periodically(self, interval_s: float) -> None:
        while not self._closed:
            time.sleep(interval_s)
            try:
                self._sync_upto(self._written)
            except OSError:
                if not self._closed:
                    log.exception("periodic WAL fsync failed")

    # -- segments and truncation ------------------------------------------------------

    def cut(self) -> int:
        """Seal the current segment and start a new one; returns the new segment number.

        Everything appended before the cut lies in segments below the returned number.
        """
        with self._lock:
            self._rotate_locked()
            return self._segment

    def truncate(self, before_segment: int, checkpoint: bytes) -> None:
        """Replace every segment below `before_segment` with a checkpoint of the state then."""
        tmp = self.directory / f"{_CHECKPOINT_PREFIX}{before_segment:08d}.tmp"
        with open(tmp, "wb") as f:
            f.write(_HEADER.pack(len(checkpoint), zlib.crc32(checkpoint), 0) + checkpoint)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.directory / f"{_CHECKPOINT_PREFIX}{before_segment:08d}")
        self._fsync_dir()
        for seg in self._segments():
            if seg < before_segment:
                self._segment_path(seg).unlink(missing_ok=True)
        for cp in self.directory.glob(f"{_CHECKPOINT_PREFIX}*"):
            suffix = cp.name[len(_CHECKPOINT_PREFIX):]
            if suffix.isdigit() and int(suffix) < before_segment:
                cp.unlink(missing_ok=True)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._fd >= 0:
                if self.fsync != "never":
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.iterdir() if p.is_file())

    # -- helpers ----------------------------------------------------------------------

    def _rotate_locked(self) -> None:
        if self._fd >= 0:
            if self.fsync != "never":
                os.fsync(self._fd)
            os.close(self._fd)
        self._open_segment(self._segment + 1)

    def _open_segment(self, seg: int) -> None:
        self._fd = os.open(self._segment_path(seg), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._segment = seg
        self._segment_bytes = os.fstat(self._fd).st_size
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _segment_path(self, seg: int) -> Path:
        return self.directory / f"{seg:08d}{_SEGMENT_SUFFIX}"

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob(f"*{_SEGMENT_SUFFIX}") if p.stem.isdigit())

    def _latest_checkpoint(self) -> tuple[int, bytes | None]:
        candidates = sorted(
            (int(p.name[len(_CHECKPOINT_PREFIX):]), p)
            for p in self.directory.glob(f"{_CHECKPOINT_PREFIX}*")
            if p.name[len(_CHECKPOINT_PREFIX):].isdigit()
        )
        for seg, path in reversed(candidates):
            data = path.read_bytes()
            if len(data) >= _HEADER.size:
                length, crc, _ = _HEADER.unpack_from(data)
                payload = data[_HEADER.size:_HEADER.size + length]
                if len(payload) == length and zlib.crc32(payload) == crc:
                    return seg, payload
            log.error("WAL checkpoint %s is corrupt; trying an older one", path)
        return 0, None
