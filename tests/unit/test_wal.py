import os
import threading

from tsdb.wal import WAL


def _reopen(d, **kw):
    w = WAL(d, **kw)
    checkpoint, records, stats = w.replay()
    recs = [(r.type, r.payload) for r in records]
    return w, checkpoint, recs, stats


def test_append_replay_and_truncate(tmp_path):
    w, cp, recs, _ = _reopen(tmp_path)
    assert cp is None and recs == []
    w.open_for_append()
    for i in range(5):
        w.sync(w.append(1, f"r{i}".encode()))
    cut = w.cut()
    w.sync(w.append(2, b"after-cut"))
    w.truncate(cut, b"state-at-cut")
    w.close()

    w2, cp, recs, stats = _reopen(tmp_path)
    assert cp == b"state-at-cut"
    assert recs == [(2, b"after-cut")]
    assert stats.torn_tails == 0


def test_torn_tail_is_cut_and_replay_continues(tmp_path):
    w, *_ = _reopen(tmp_path)
    w.open_for_append()
    for i in range(3):
        w.sync(w.append(1, b"x" * 100 + bytes([i])))
    w.close()
    seg = sorted(tmp_path.glob("*.seg"))[-1]
    size = seg.stat().st_size
    with open(seg, "r+b") as f:
        f.truncate(size - 10)  # the last record loses its end

    _, _, recs, stats = _reopen(tmp_path)
    assert [r[1][-1] for r in recs] == [0, 1]
    assert stats.torn_tails == 1
    # The file was cut at the last good record, so appends after restart are clean.
    w3, _, _, _ = _reopen(tmp_path)
    w3.open_for_append()
    w3.sync(w3.append(1, b"new"))
    w3.close()
    _, _, recs, stats = _reopen(tmp_path)
    assert [r[1] for r in recs][-1] == b"new" and len(recs) == 3 and stats.torn_tails == 0


def test_corrupt_checksum_in_tail_is_skipped(tmp_path):
    w, *_ = _reopen(tmp_path)
    w.open_for_append()
    w.sync(w.append(1, b"good"))
    w.sync(w.append(1, b"flipped"))
    w.close()
    seg = sorted(tmp_path.glob("*.seg"))[-1]
    data = bytearray(seg.read_bytes())
    data[-1] ^= 0xFF
    seg.write_bytes(bytes(data))
    _, _, recs, stats = _reopen(tmp_path)
    assert [r[1] for r in recs] == [b"good"] and stats.torn_tails == 1


def test_concurrent_appends_share_fsyncs(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    w, *_ = _reopen(tmp_path, segment_size=1 << 20)
    w.open_for_append()

    def writer(k):
        for i in range(50):
            w.sync(w.append(1, f"{k}-{i}".encode() * 10))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    w.close()
    _, _, recs, _ = _reopen(tmp_path)
    assert len(recs) == 400
    assert len({r[1] for r in recs}) == 400
    assert len(calls) < 400  # group commit: fewer fsyncs than acknowledged appends


def test_segments_rotate(tmp_path):
    w, *_ = _reopen(tmp_path, segment_size=1000)
    w.open_for_append()
    for i in range(50):
        w.append(1, b"y" * 100)
    w.close()
    assert len(list(tmp_path.glob("*.seg"))) > 3
    _, _, recs, _ = _reopen(tmp_path)
    assert len(recs) == 50
