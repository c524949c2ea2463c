"""Aligning one partition's source and target records, in order, with bounded memory.

The aligner is fed batches of records from both sides (confluent-kafka ``Message``
objects, or :class:`Rec` in tests: anything with ``key() value() headers()
timestamp() offset()``) and pairs them up as it goes:

* **In step** (the hot path): heads equal by key and value → one matched pair;
  headers (the mirror's ``cutover.src`` provenance header aside) and timestamps are
  compared on the way. Nothing is stored per record, so memory does not grow with the
  window.
* **Diverged**: the heads differ. Provenance, when the target carries it, says
  exactly which source offset a target record is (the built-in mirror). Otherwise the
  records are aligned by content in order: a head already waiting on the other side
  is a late match; a head found a little further along the other side means records
  were skipped; a short run of records with the same keys that then falls back into
  step is a run of changed records (values, headers, nulls, schema ids); failing all
  that, timestamps say which side is ahead.
* Skipped records wait in a **pending** pool (bounded: ``pending_cap``). A later
  record can still claim them (a reordered record; an order finding), another
  partition can claim them at the end (a placement finding), and what stays
  unclaimed is sorted at the end into missing, extra, not-yet-copied or truncated by
  :mod:`console.compare.resolve`.

Identity for alignment is (key, value without its Confluent wire-format header); see
:mod:`console.compare.records`.
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from dataclasses import dataclass

from console.compare.model import Example, display_key
from console.compare.records import PROV, fingerprint, provenance_of, strip_provenance, wire_id
from console.compare.tally import PartitionTally, Pending

NEED_SOURCE = 1
NEED_TARGET = 2
DONE = 0


@dataclass(frozen=True)
class AlignSettings:
    """Knobs of one partition's alignment; defaults suit production-sized windows."""

    lookahead: int = 10_000
    """Records looked ahead on each side when the heads differ (records)."""
    resync: int = 16
    """Longest run of changed records still recognised as changes, not gaps (records)."""
    pending_cap: int = 100_000
    """Unmatched records kept for late matching per partition; beyond it they are
    counted as unresolved (records)."""
    examples: int = 5
    """Offending examples kept per check (records)."""
    timestamp_skew_ms: int = 0
    """Timestamp difference tolerated between the copies (ms)."""


@dataclass(frozen=True)
class Bounds:
    """The source window of one partition, to recognise target records outside it.

    The target range of a window given by source offsets or times is found by time and
    padded, so it holds copies of records just before and after the window. Those are
    passed over on the spot (by provenance offset, else by timestamp before the first
    and after the last match), and reading the target stops once it is past the window.
    """

    source_lo: int = 0
    source_hi: int | None = None
    time_lo_ms: int | None = None
    time_hi_ms: int | None = None


class _Side:
    """One side's buffered records and, while diverged, an index of what lies ahead."""

    __slots__ = ("msgs", "pos", "base", "ended", "index", "indexed_to", "fps")

    def __init__(self) -> None:
        self.msgs: list = []
        self.pos = 0
        self.base = 0
        self.ended = False
        self.index: dict[int, list[int]] | None = None
        self.indexed_to = 0
        self.fps: dict[int, int] = {}

    def head(self):
        return self.msgs[self.pos] if self.pos < len(self.msgs) else None

    def ahead(self) -> int:
        return len(self.msgs) - self.pos

    def abs_pos(self) -> int:
        return self.base + self.pos

    def at(self, absolute: int):
        local = absolute - self.base
        return self.msgs[local] if 0 <= local < len(self.msgs) else None

    def fp_at(self, absolute: int) -> int:
        found = self.fps.get(absolute)
        if found is None:
            m = self.msgs[absolute - self.base]
            found = self.fps[absolute] = fingerprint(m.key(), m.value())
        return found

    def compact(self) -> None:
        # Drop consumed records so a long window never accumulates; keep the list small.
        if self.pos >= 4096 and self.pos * 2 >= len(self.msgs):
            del self.msgs[: self.pos]
            self.base += self.pos
            self.pos = 0
            if self.fps:
                self.fps = {k: v for k, v in self.fps.items() if k >= self.base}

    def find(self, fp: int, start: int, limit: int) -> int | None:
        """Distance from the head to the first record with this fingerprint, within limit."""
        end = min(self.base + len(self.msgs), start + limit)
        if self.index is None or self.indexed_to < self.abs_pos():
            self.index = {}
            self.indexed_to = self.abs_pos()
        while self.indexed_to < end:
            self.index.setdefault(self.fp_at(self.indexed_to), []).append(self.indexed_to)
            self.indexed_to += 1
        where = self.index.get(fp)
        if not where:
            return None
        i = bisect.bisect_left(where, start)
        if i >= len(where) or where[i] >= end:
            return None
        return where[i] - self.abs_pos()


class PartitionAligner:
    """Pairs one source partition with one target partition, streaming.

    Drive it with :meth:`run`, which returns ``DONE`` or the sides it needs more of
    (``NEED_SOURCE``/``NEED_TARGET``); answer with :meth:`feed_source` and
    :meth:`feed_target` (``ended=True`` once a side has nothing more in the window);
    then call :meth:`finish`.
    """

    def __init__(
        self,
        topic: str,
        partition: int,
        settings: AlignSettings | None = None,
        bounds: Bounds | None = None,
    ):
        self.topic = topic
        self.partition = partition
        self.settings = settings or AlignSettings()
        self.bounds = bounds or Bounds()
        self.tally = PartitionTally(topic, partition)
        self._s = _Side()
        self._t = _Side()
        self._next_source_offset: int | None = None
        self._seq = 0
        # Pending pools and their indexes. Deques keep arrival order for FIFO claims.
        self._pm_by_fp: dict[int, deque[Pending]] = {}
        self._pm_by_off: dict[int, Pending] = {}
        self._pe_by_fp: dict[int, deque[Pending]] = {}
        self._pending: deque[Pending] = deque()
        self._alive = 0
        self._pending_keys: Counter = Counter()
        self._last_by_key: dict = {}
        self._last_s = -1
        self._last_t = -1
        self._limit = self.settings.examples

    # -- feeding --------------------------------------------------------------------------

    def feed_source(self, msgs: list, ended: bool = False) -> None:
        if msgs:
            t = self.tally
            first, last = msgs[0].offset(), msgs[-1].offset()
            if t.source_first_offset is None:
                t.source_first_offset = first
            expected = self._next_source_offset
            # Gaps in a read_committed stream are transaction markers, aborted records or
            # compaction. Only a batch whose offsets do not run straight is looked into.
            if (expected is not None and first != expected) or last - first + 1 != len(msgs):
                prev = expected if expected is not None else first
                for m in msgs:
                    o = m.offset()
                    if o != prev:
                        t.source_gaps += 1
                        t.source_skipped_offsets += o - prev
                    prev = o + 1
            self._next_source_offset = last + 1
            t.source_last_offset = last
            t.source_records += len(msgs)
            self._scan_schema(msgs)
            self._s.msgs.extend(msgs)
        if ended:
            self._s.ended = True

    def feed_target(self, msgs: list, ended: bool = False) -> None:
        if msgs:
            t = self.tally
            first, last = msgs[0].offset(), msgs[-1].offset()
            if t.target_first_offset is None:
                t.target_first_offset = first
            elif first != t.target_last_offset + 1:
                t.target_gaps += 1
            if last - first + 1 != len(msgs):
                t.target_gaps += 1  # markers of a transactional copy, at least one run
            t.target_last_offset = last
            t.target_records += len(msgs)
            self._scan_target_schema(msgs)
            self._t.msgs.extend(msgs)
        if ended:
            self._t.ended = True

    def _scan_schema(self, msgs: list) -> None:
        # Wire-format topics are the exception; a glance at a few values says whether to look.
        probe = [m.value() for m in msgs[:8]]
        if not any(v is not None and len(v) >= 5 and v[0] == 0 for v in probe):
            return
        counts = self.tally.schema_counts
        first = self.tally.schema_first_source
        n = 0
        for m in msgs:
            v = m.value()
            if v is not None and len(v) >= 5 and v[0] == 0:
                sid = int.from_bytes(v[1:5], "big")
                counts[sid] += 1
                if sid not in first:
                    first[sid] = m.offset()
                n += 1
        self.tally.schema_ids.update(counts)
        self.tally.wire_records += n

    def _scan_target_schema(self, msgs: list) -> None:
        """Where each schema id first appears on the target, to locate examples of ids the
        fast path matched without looking at them."""
        probe = [m.value() for m in msgs[:8]]
        if not any(v is not None and len(v) >= 5 and v[0] == 0 for v in probe):
            return
        first = self.tally.schema_first_target
        for m in msgs:
            v = m.value()
            if v is not None and len(v) >= 5 and v[0] == 0:
                tid = int.from_bytes(v[1:5], "big")
                if tid not in first:
                    first[tid] = m.offset()

    # -- driving --------------------------------------------------------------------------

    def run(self) -> int:
        """Align as far as the buffered records allow; returns DONE or what it needs."""
        S, T = self._s, self._t
        while True:
            self._fast()
            s_has, t_has = S.pos < len(S.msgs), T.pos < len(T.msgs)
            need = 0
            if not s_has and not S.ended:
                need |= NEED_SOURCE
            if not t_has and not T.ended:
                need |= NEED_TARGET
            if need:
                S.compact()
                T.compact()
                return need
            if not s_has and not t_has:
                return DONE
            need = self._slow()
            if need:
                return need

    def _fast(self) -> None:
        """The hot path: pairs in step. Per record only accessor calls and compares.

        Measured: confluent-kafka's ``headers()`` conversion is most of the cost here;
        a chunked variant with list comprehensions was no faster.
        """
        S, T = self._s, self._t
        smsgs, tmsgs = S.msgs, T.msgs
        i, j = S.pos, T.pos
        n = min(len(smsgs) - i, len(tmsgs) - j)
        if n <= 0:
            return
        end = i + n
        start = i
        tomb = nullk = 0
        pending_keys = self._pending_keys
        last_by_key = self._last_by_key if pending_keys else None
        while i < end:
            sm = smsgs[i]
            tm = tmsgs[j]
            sv = sm.value()
            sk = sm.key()
            if sv != tm.value() or sk != tm.key():
                break
            if sv is None:
                tomb += 1
            if sk is None:
                nullk += 1
            th = tm.headers()
            if th is not None and th[-1][0] == PROV:
                th = th[:-1] or None
            if sm.headers() != th:
                self._headers_differ(sm, tm)
            if sm.timestamp() != tm.timestamp():
                self._timestamps_differ(sm, tm)
            if last_by_key is not None and sk in pending_keys:
                # While records wait, remember where their keys were last matched, so a
                # late match can tell whether it broke its key's order.
                last_by_key[sk] = (sm.offset(), tm.offset())
            i += 1
            j += 1
        done = i - start
        if done:
            t = self.tally
            t.matched += done
            t.tombstones += tomb
            t.null_keys += nullk
            if t.first_source is None:
                t.first_source = smsgs[start].offset()
                t.first_target = tmsgs[j - done].offset()
            self._last_s = t.last_source = smsgs[i - 1].offset()
            self._last_t = t.last_target = tmsgs[j - 1].offset()
            S.pos, T.pos = i, j

    # -- the slow path ---------------------------------------------------------------------

    def _slow(self) -> int:
        """One decision about diverged heads. Returns the sides it needs more of, or 0."""
        S, T = self._s, self._t
        s, t = S.head(), T.head()
        if t is not None:
            where = self._outside(t, s is None)
            if where:
                T.pos += 1
                tally = self.tally
                if where == "before":
                    tally.before_window += 1
                    if len(tally.before_examples) < self._limit:
                        prov = provenance_of(t.headers())
                        tally.before_examples.append(
                            Example(
                                prov[0] if prov else None,
                                prov[1] if prov else None,
                                self.partition,
                                t.offset(),
                                display_key(t.key()),
                                "copy of a record before the source window",
                            )
                        )
                else:
                    tally.outside_window += 1
                    if s is None and S.ended:
                        # Past the source window on an ordered copy: nothing more can
                        # match, so what is buffered beyond it is outside too.
                        tally.outside_window += len(T.msgs) - T.pos
                        T.msgs, T.pos, T.ended = [], 0, True
                return 0
        if t is None:  # the target has nothing more in the window
            self._source_alone(s)
            S.pos += 1
            return 0
        if s is None:
            self._target_alone(t)
            T.pos += 1
            return 0
        th = t.headers()
        prov = provenance_of(th)
        if prov is not None:
            return self._by_provenance(s, t, prov)
        fs = S.fp_at(S.abs_pos())
        ft = T.fp_at(T.abs_pos())
        if fs == ft:
            # Same key and payload, different bytes: only the schema id differs.
            self._pair(s, t)
            S.pos += 1
            T.pos += 1
            return 0
        if self._claim_target(s, fs):
            S.pos += 1
            return 0
        if self._claim_source(t, ft):
            T.pos += 1
            return 0
        look = self.settings.lookahead
        need = 0
        if S.ahead() < look and not S.ended:
            need |= NEED_SOURCE
        if T.ahead() < look and not T.ended:
            need |= NEED_TARGET
        if need:
            return need
        a = S.find(ft, S.abs_pos() + 1, look)
        b = T.find(fs, T.abs_pos() + 1, look)
        if a is not None and (b is None or a <= b):
            self._hold_source(s)
            S.pos += 1
            return 0
        if b is not None:
            self._hold_target(t)
            T.pos += 1
            return 0
        run = self._changed_run()
        if run:
            for _ in range(run):
                self._pair(S.head(), T.head())
                S.pos += 1
                T.pos += 1
            return 0
        # Nothing lines up nearby: a gap longer than the lookahead. Timestamps say which
        # side is ahead (copies keep the producer's timestamps); equal, set both aside.
        st, tt = s.timestamp()[1], t.timestamp()[1]
        skew = self.settings.timestamp_skew_ms
        if tt > st + skew:
            self._hold_source(s)
            S.pos += 1
        elif st > tt + skew:
            self._hold_target(t)
            T.pos += 1
        else:
            self._hold_source(s)
            self._hold_target(t)
            S.pos += 1
            T.pos += 1
        return 0

    def _outside(self, t, source_done: bool) -> str:
        """'before' or 'after' for a target record that copies one outside the source
        window, '' otherwise."""
        b = self.bounds
        prov = provenance_of(t.headers())
        if prov is not None and prov[0] == self.partition:
            if prov[1] < b.source_lo:
                return "before"
            if b.source_hi is not None and prov[1] >= b.source_hi:
                return "after"
            return ""
        if b.time_lo_ms is None and b.time_hi_ms is None:
            return ""
        ts = t.timestamp()[1]
        skew = self.settings.timestamp_skew_ms
        if (
            b.time_lo_ms is not None
            and self.tally.first_target is None
            and ts < b.time_lo_ms - skew
        ):
            return "before"
        after = b.time_hi_ms is not None and ts >= b.time_hi_ms + skew
        return "after" if after and source_done and self._s.ended else ""

    def _by_provenance(self, s, t, prov: tuple[int, int]) -> int:
        """The built-in mirror's header names the source record exactly."""
        S, T = self._s, self._t
        pp, po = prov
        so = s.offset()
        if pp != self.partition:
            self._hold_target(t)  # another partition's record: the topic-wide pass decides
            T.pos += 1
        elif po == so:
            self._pair(s, t)
            S.pos += 1
            T.pos += 1
        elif po > so:
            # The target went on to a later source record: this one was skipped (for now).
            self._source_alone(s)
            S.pos += 1
        else:
            waiting = self._pm_by_off.get(po)
            if waiting is not None and waiting.alive:
                self._late(waiting, t, source_is_pending=True)
            else:
                self._hold_target(t)
            T.pos += 1
        return 0

    def _source_alone(self, s) -> None:
        fs = self._s.fp_at(self._s.abs_pos())
        if not self._claim_target(s, fs):
            self._hold_source(s)

    def _target_alone(self, t) -> None:
        prov = provenance_of(t.headers())
        if prov is not None and prov[0] == self.partition:
            waiting = self._pm_by_off.get(prov[1])
            if waiting is not None and waiting.alive:
                self._late(waiting, t, source_is_pending=True)
                return
            self._hold_target(t)
            return
        ft = self._t.fp_at(self._t.abs_pos())
        if not self._claim_source(t, ft):
            self._hold_target(t)

    def _changed_run(self) -> int:
        """Length of a run of records with equal keys that falls back into step after it."""
        S, T = self._s, self._t
        si, ti = S.abs_pos(), T.abs_pos()
        for d in range(self.settings.resync):
            s, t = S.at(si + d), T.at(ti + d)
            if s is None or t is None:
                # Both sides end together after a run of same-key changes: still a run.
                return d if d and s is None and t is None else 0
            if d and S.fp_at(si + d) == T.fp_at(ti + d):
                return d
            if not _same_key(s.key(), t.key()):
                return 0
        return 0

    # -- pending pool ------------------------------------------------------------------------

    def _entry(self, side: str, m, fp: int) -> Pending:
        self._seq += 1
        headers = m.headers()
        kept = strip_provenance(headers)
        return Pending(
            side,
            self.partition,
            m.offset(),
            fp,
            m.key(),
            hash(tuple(kept)) if kept else 0,
            m.timestamp(),
            provenance_of(headers) if side == "target" else None,
            self._seq,
            wire_id(m.value()),
        )

    def _hold_source(self, s) -> None:
        e = self._entry("source", s, self._s.fp_at(self._s.abs_pos()))
        self._pm_by_fp.setdefault(e.fp, deque()).append(e)
        self._pm_by_off[e.offset] = e
        self._remember(e)

    def _hold_target(self, t) -> None:
        e = self._entry("target", t, self._t.fp_at(self._t.abs_pos()))
        self._pe_by_fp.setdefault(e.fp, deque()).append(e)
        self._remember(e)

    def _remember(self, e: Pending) -> None:
        self._pending.append(e)
        self._alive += 1
        self._pending_keys[e.key] += 1
        while self._alive > self.settings.pending_cap:
            old = self._pending.popleft()
            if old.alive:
                self._forget(old)
                if old.side == "source":
                    self.tally.overflow_missing += 1
                else:
                    self.tally.overflow_extra += 1

    def _forget(self, e: Pending) -> None:
        e.alive = False
        self._alive -= 1
        left = self._pending_keys[e.key] - 1
        if left:
            self._pending_keys[e.key] = left
        else:
            del self._pending_keys[e.key]
            self._last_by_key.pop(e.key, None)
        if e.side == "source":
            self._pm_by_off.pop(e.offset, None)

    @staticmethod
    def _take(pool: dict[int, deque[Pending]], fp: int) -> Pending | None:
        waiting = pool.get(fp)
        while waiting:
            e = waiting.popleft()
            if e.alive:
                if not waiting:
                    del pool[fp]
                return e
        if waiting is not None:
            del pool[fp]
        return None

    def _claim_target(self, s, fs: int) -> bool:
        """A source head whose copy went by earlier on the target: a late match."""
        e = self._take(self._pe_by_fp, fs)
        if e is None:
            return False
        self._late(e, s, source_is_pending=False)
        return True

    def _claim_source(self, t, ft: int) -> bool:
        """A target head whose original was set aside earlier on the source: a late match."""
        e = self._take(self._pm_by_fp, ft)
        if e is None:
            return False
        self._late(e, t, source_is_pending=True)
        return True

    def _late(self, e: Pending, m, *, source_is_pending: bool) -> None:
        """Pair a pending record with a record from the stream, and judge the order."""
        t = self.tally
        t.matched += 1
        t.late_matched += 1
        if source_is_pending:
            so, to = e.offset, m.offset()
            kept = strip_provenance(m.headers())
            hh = hash(tuple(kept)) if kept else 0
            s_ts, t_ts = e.ts, m.timestamp()
            s_hh, t_hh = e.hh, hh
        else:
            so, to = m.offset(), e.offset
            sh = m.headers()
            s_hh = hash(tuple(sh)) if sh else 0
            t_hh = e.hh
            s_ts, t_ts = m.timestamp(), e.ts
        key = e.key
        s_sid, t_sid = (
            (e.sid, wire_id(m.value())) if source_is_pending else (wire_id(m.value()), e.sid)
        )
        if s_sid is not None and t_sid is not None:
            t.schema_pair(s_sid, t_sid, (self.partition, so, self.partition, to))
        if s_hh != t_hh:
            self._finding("headers", so, to, key, "headers differ (names, order or values)")
        if s_ts != t_ts:
            self._judge_timestamps(so, to, key, s_ts, t_ts)
        if so < self._last_s or to < self._last_t:
            detail = (
                f"source order has it before p{self.partition}@{self._last_s}, "
                f"the target after p{self.partition}@{self._last_t}"
                if so < self._last_s
                else f"target has it before p{self.partition}@{self._last_t}"
            )
            self._finding("order", so, to, key, detail)
            last = self._last_by_key.get(key)
            if last is not None and (last[0] < so) != (last[1] < to):
                t.key_order_breaks += 1
                self._finding_note(
                    "order",
                    f"key order broken: also at src p{self.partition}@{last[0]} "
                    f"tgt p{self.partition}@{last[1]}",
                )
        # Forgotten only now: its key's last position was needed for the order check.
        self._forget(e)
        if self._pending_keys:
            self._last_by_key[key] = (so, to)
        if t.first_source is None or so < t.first_source:
            t.first_source, t.first_target = so, to
        self._last_s = max(self._last_s, so)
        self._last_t = max(self._last_t, to)
        t.last_source, t.last_target = self._last_s, self._last_t

    # -- comparing a pair ------------------------------------------------------------------

    def _pair(self, s, t) -> None:
        """Two records that are copies of each other by position: compare every field."""
        t_ = self.tally
        t_.matched += 1
        so, to = s.offset(), t.offset()
        sk, tk = s.key(), t.key()
        sv, tv = s.value(), t.value()
        key = sk if sk is not None else tk
        if sv is None:
            t_.tombstones += 1
        if sk is None:
            t_.null_keys += 1
        if (sk is None) != (tk is None):
            which = "source" if sk is None else "target"
            self._finding("nulls", so, to, key, f"key is null on the {which} only")
        elif sk != tk:
            self._finding("values", so, to, key, f"key differs: target key {display_key(tk)}")
        if (sv is None) != (tv is None):
            which = "source" if sv is None else "target"
            other = "target" if sv is None else "source"
            size = len(tv if sv is None else sv)
            self._finding(
                "nulls",
                so,
                to,
                key,
                f"tombstone (null value) on the {which} only; the {other} has {size} B",
            )
        elif sv != tv:
            sid, tid = wire_id(sv), wire_id(tv)
            if sid is not None and tid is not None:
                t_.schema_pair(sid, tid, (self.partition, so, self.partition, to))
                if sv[5:] != tv[5:]:
                    self._finding("values", so, to, key, _value_detail(sv, tv))
            elif sid is not None and sv[5:] == tv or tid is not None and tv[5:] == sv:
                which = "source" if sid is not None else "target"
                self._finding(
                    "schema_ids",
                    so,
                    to,
                    key,
                    f"wire-format header (schema id {sid if sid is not None else tid}) "
                    f"on the {which} only",
                )
            else:
                self._finding("values", so, to, key, _value_detail(sv, tv))
        if s.headers() != strip_provenance(t.headers()):
            self._headers_differ(s, t)
        if s.timestamp() != t.timestamp():
            self._timestamps_differ(s, t)
        self._last_s = max(self._last_s, so)
        self._last_t = max(self._last_t, to)
        t_.last_source, t_.last_target = self._last_s, self._last_t
        if t_.first_source is None:
            t_.first_source, t_.first_target = so, to

    def _headers_differ(self, s, t) -> None:
        sh = s.headers() or []
        th = strip_provenance(t.headers()) or []
        if sh == th:
            return
        self._finding("headers", s.offset(), t.offset(), s.key(), _headers_detail(sh, th))

    def _timestamps_differ(self, s, t) -> None:
        self._judge_timestamps(s.offset(), t.offset(), s.key(), s.timestamp(), t.timestamp())

    def _judge_timestamps(self, so, to, key, s_ts, t_ts) -> None:
        (s_type, s_ms), (t_type, t_ms) = s_ts, t_ts
        if s_type != t_type:
            self._finding(
                "timestamps",
                so,
                to,
                key,
                f"timestamp type {_TS_TYPES.get(s_type, s_type)} on source, "
                f"{_TS_TYPES.get(t_type, t_type)} on target",
            )
            return
        skew = abs(t_ms - s_ms)
        if skew > self.tally.max_skew_ms:
            self.tally.max_skew_ms = skew
        if skew > self.settings.timestamp_skew_ms:
            self._finding(
                "timestamps", so, to, key, f"timestamp {s_ms} on source, {t_ms} on target"
            )

    def _finding(self, check: str, so, to, key, detail: str) -> None:
        example = Example(self.partition, so, self.partition, to, display_key(key), detail)
        self.tally.finding(check).add(example, self._limit)

    def _finding_note(self, check: str, note: str) -> None:
        found = self.tally.finding(check)
        if found.examples:
            last = found.examples[-1]
            if note not in last.detail:
                found.examples[-1] = Example(
                    last.source_partition,
                    last.source_offset,
                    last.target_partition,
                    last.target_offset,
                    last.key,
                    f"{last.detail}; {note}",
                )

    # -- the end ---------------------------------------------------------------------------

    def finish(self) -> PartitionTally:
        """Hand over what is left unmatched; call after ``run`` returned DONE."""
        t = self.tally
        t.pending_source = [e for e in self._pending if e.alive and e.side == "source"]
        t.pending_target = [e for e in self._pending if e.alive and e.side == "target"]
        self._pending.clear()
        self._pm_by_fp.clear()
        self._pe_by_fp.clear()
        self._pm_by_off.clear()
        self._s = _Side()
        self._t = _Side()
        return t


_TS_TYPES = {0: "NotAvailable", 1: "CreateTime", 2: "LogAppendTime"}


def _same_key(a: bytes | None, b: bytes | None) -> bool:
    # A null key turned into an empty one (or back) is still "the same record" for
    # pairing; the nulls check then reports it.
    return a == b or (not a and not b)


def _value_detail(sv: bytes, tv: bytes) -> str:
    n = min(len(sv), len(tv))
    first = next((i for i in range(n) if sv[i] != tv[i]), n)
    return f"value differs from byte {first} (source {len(sv)} B, target {len(tv)} B)"


def _headers_detail(sh: list, th: list) -> str:
    for i in range(max(len(sh), len(th))):
        a = sh[i] if i < len(sh) else None
        b = th[i] if i < len(th) else None
        if a != b:
            if a is None:
                return f"header #{i + 1} '{b[0]}' only on the target"
            if b is None:
                return f"header #{i + 1} '{a[0]}' missing on the target"
            if a[0] != b[0]:
                return f"header #{i + 1} is '{a[0]}' on source, '{b[0]}' on target"
            return f"header '{a[0]}' value differs"
    return "headers differ"
