"""Aligning one partition's source and target records, in order, with bounded memory.

The aligner is fed batches of records from both sides (confluent-kafka ``Message``
objects, or :class:`Rec` in tests: anything with ``key() value() headers()
timestamp() offset()``) and pairs them up as it goes:

* **In step** (the hot path): heads equal by key and value → one matched pair;
  headers (the mirror's ``cutover.src`` provenance header aside) and timestamps are
  compared on the way. Nothing is stored per record, so memory does not grow with the
  window.
* **Diverged**: the heads differ (or agree in key and value while another record
  close by agrees in timestamp and headers too). Provenance, when the target carries
  it, says exactly which source offset a target record is (the built-in mirror).
  Otherwise the divergence is resolved as the cheapest local edit that brings the
  streams back into step (:meth:`PartitionAligner._realign`): records on one side
  only, changed records, pairs whose timestamp or headers differ, each at a cost, so
  that on repetitive data (a few keys and values written again and again) one changed
  value is one value mismatch, not a missing and an extra record; position and
  timestamp decide what content alone cannot. A gap longer than the local horizon is
  found by looking further ahead for where the streams agree again; failing that,
  timestamps say which side is ahead.
* Skipped records wait in a **pending** pool (bounded: ``pending_cap``). A later
  record can still claim them (a reordered record; an order finding), another
  partition can claim them at the end (a placement finding), and what stays
  unclaimed is sorted at the end into missing, extra, not-yet-copied or truncated by
  :mod:`console.compare.resolve`. A claim needs the timestamp to fit as well as the
  content, so a record is not taken for another of the same key and value.

Identity for alignment is (key, value without its Confluent wire-format header); see
:mod:`console.compare.records`.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, deque
from dataclasses import dataclass

from console.compare.model import Example, display_key
from console.compare.records import PROV, fingerprint, provenance_of, strip_provenance, wire_id
from console.compare.tally import PartitionTally, Pending

NEED_SOURCE = 1
NEED_TARGET = 2
DONE = 0

HORIZON = 32
"""Records on each side a divergence is resolved within, as one local edit."""
RUN = 4
"""Records equal in key and value (one of them a landmark) that show two streams are
back in step."""
RUN_MAX = 64
"""How far a run of identical records is followed looking for a landmark."""
NEAR = 8
"""How far the fast path looks for a better partner before pairing a record whose
timestamp or headers differ."""
C_CHANGED = 1.25
C_TIME = 0.75
C_HEADERS = 0.25
C_SHIFT = 0.5
C_BREAK = 1.0
PAIR, SOURCE_ONLY, TARGET_ONLY = "pair", "source", "target"


@dataclass(frozen=True)
class AlignSettings:
    """Knobs of one partition's alignment; defaults suit production-sized windows."""

    lookahead: int = 10_000
    """Records looked ahead on each side when the heads differ (records)."""
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
    target_own_from: int | None = None
    """A producer class moved to the target here while others still write the topic on
    the source: target records from this offset on without the mirror's provenance
    header are the moved producers' own writes, not copies, and are left out."""


class _Side:
    """One side's buffered records and, while diverged, an index of what lies ahead."""

    __slots__ = ("msgs", "pos", "base", "ended", "index", "indexed_to", "fps", "infos")

    def __init__(self) -> None:
        self.msgs: list = []
        self.pos = 0
        self.base = 0
        self.ended = False
        self.index: dict[int, list[int]] | None = None
        self.indexed_to = 0
        self.fps: dict[int, int] = {}
        self.infos: dict[int, tuple] = {}

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
            if self.infos:
                self.infos = {k: v for k, v in self.infos.items() if k >= self.base}

    def end(self) -> int:
        """One past the last buffered record (absolute)."""
        return self.base + len(self.msgs)

    def info_at(self, absolute: int) -> tuple:
        """What pairing weighs: (fingerprint, key, timestamp type, timestamp ms, headers
        hash without the provenance header)."""
        found = self.infos.get(absolute)
        if found is None:
            m = self.msgs[absolute - self.base]
            kept = strip_provenance(m.headers())
            kind, ms = m.timestamp()
            hh = hash(tuple(kept)) if kept else 0
            found = self.infos[absolute] = (self.fp_at(absolute), m.key(), kind, ms, hh)
        return found

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
        self._gap = False
        """Inside a gap no re-synchronisation was found for (records set aside by time)."""

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
        own_from = self.bounds.target_own_from
        if msgs and own_from is not None and msgs[-1].offset() >= own_from:
            kept = [
                m for m in msgs if m.offset() < own_from or provenance_of(m.headers()) is not None
            ]
            self.tally.moved_writes += len(msgs) - len(kept)
            msgs = kept
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
        skew = self.settings.timestamp_skew_ms
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
                # The mirror's copy: same content in step is the same record.
                if sm.headers() != (th[:-1] or None):
                    self._headers_differ(sm, tm)
                if sm.timestamp() != tm.timestamp():
                    self._timestamps_differ(sm, tm)
            else:
                hdiff = sm.headers() != th
                st, tt = sm.timestamp(), tm.timestamp()
                if hdiff or st != tt:
                    if (
                        hdiff or st[0] == tt[0] and abs(st[1] - tt[1]) > skew
                    ) and self._other_partner(i, j):
                        # Same content, but another record nearby fits better (a twin
                        # of this one was dropped or repeated): the slow path weighs it.
                        break
                    if hdiff:
                        self._headers_differ(sm, tm)
                    if st != tt:
                        self._timestamps_differ(sm, tm)
            if last_by_key is not None and sk in pending_keys:
                # While records wait, remember where their keys were last matched, so a
                # late match can tell whether it broke its key's order.
                last_by_key[sk] = (sm.offset(), tm.offset())
            i += 1
            j += 1
        done = i - start
        if done >= RUN:
            self._gap = False
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
        i, j = S.abs_pos(), T.abs_pos()
        if S.fp_at(i) == T.fp_at(j) and self._exact(i, j):
            # Same key, payload, headers and time; different bytes: only the schema id.
            self._pair(s, t)
            S.pos += 1
            T.pos += 1
            return 0
        look = self.settings.lookahead
        need = self._want(min(look, HORIZON + RUN_MAX))
        if need:
            return need
        if self._realign():
            return 0
        need = self._want(look)
        if need:
            return need
        a, b = self._anchored(i, j, look)
        if a is not None or b is not None:
            self._gap = False
        if a is not None and (b is None or a <= b):
            for _ in range(a):  # a gap on the target: these source records are not there
                self._source_alone(S.head())
                S.pos += 1
            return 0
        if b is not None:
            for _ in range(b):
                self._target_alone(T.head())
                T.pos += 1
            return 0
        # Nothing lines up nearby: a gap longer than the lookahead. Timestamps say which
        # side is ahead (copies keep the producer's timestamps); equal, set both aside.
        self._gap = True
        st, tt = s.timestamp()[1], t.timestamp()[1]
        skew = self.settings.timestamp_skew_ms
        if tt > st + skew:
            self._source_alone(s)
            S.pos += 1
        elif st > tt + skew:
            self._target_alone(t)
            T.pos += 1
        else:
            self._source_alone(s)
            S.pos += 1
            self._target_alone(t)
            T.pos += 1
        return 0

    # -- aligning by content, weighing position and time ---------------------------------
    #
    # Without provenance, which target record copies which source record has to be
    # inferred. On repetitive data (a few keys, a few values, tombstones again and again)
    # content alone is ambiguous: the nearest record with the same key and value is often
    # not the copy. So the heads' divergence is resolved as the cheapest local edit that
    # brings the two streams back into step, where "in step" means a run of records
    # equal in key and value that contains a landmark (a record that differs from the
    # one before it, so the run cannot be shifted by one), or the end of the window.
    # Costs: a record only on one side 1; a changed record of the same key 1.25 (so one
    # change is one change, not a missing plus an extra record); a timestamp that does not
    # fit +0.75 and other headers +0.25 (copies keep both, so a pair that differs in them
    # is less likely the copy); a re-synchronisation off the diagonal +0.5 per record of
    # shift (a copy keeps counts, so a shift is itself evidence of a gap); a run that
    # breaks on other content within reach +1 (another edit follows). Measured cost:
    # a divergence costs about a millisecond; copies in step never get here.

    def _want(self, ahead: int) -> int:
        """The sides to read more of, to hold ``ahead`` records past their heads."""
        need = 0
        if self._s.ahead() < ahead and not self._s.ended:
            need |= NEED_SOURCE
        if self._t.ahead() < ahead and not self._t.ended:
            need |= NEED_TARGET
        return need

    def _fits(self, si: tuple, ti: tuple) -> bool:
        return si[2] != ti[2] or abs(si[3] - ti[3]) <= self.settings.timestamp_skew_ms

    def _exact(self, i: int, j: int) -> bool:
        """Source record i and target record j agree in everything pairing weighs."""
        si, ti = self._s.info_at(i), self._t.info_at(j)
        return si[0] == ti[0] and si[4] == ti[4] and self._fits(si, ti)

    def _cost(self, si: tuple, ti: tuple) -> float:
        """The cost of taking target record ``ti`` as the copy of source record ``si``."""
        if si[0] == ti[0]:
            cost = 0.0
        elif _same_key(si[1], ti[1]):
            cost = C_CHANGED
        else:
            return math.inf
        if not self._fits(si, ti):
            cost += C_TIME
        if si[4] != ti[4]:
            cost += C_HEADERS
        return cost

    def _other_partner(self, i: int, j: int) -> bool:
        """Whether source record i (local) or target record j (local), equal in content
        but not in time or headers, has an exact partner a little further on; True too
        when the buffers do not reach far enough to tell."""
        S, T = self._s, self._t
        si, tj = S.base + i, T.base + j
        fs, ft = S.fp_at(si), T.fp_at(tj)
        for k in range(1, NEAR + 1):
            x, y = si + k, tj + k
            if x >= S.end() and not S.ended or y >= T.end() and not T.ended:
                return True
            if x < S.end() and S.fp_at(x) == ft and self._exact(x, tj):
                return True
            if y < T.end() and T.fp_at(y) == fs and self._exact(si, y):
                return True
        return False

    def _landmark(self, x: int) -> bool:
        """Source record x differs from the one before it (so a run through it cannot
        be matched one record off)."""
        S = self._s
        if x - 1 < S.base:
            return True
        a, b = S.info_at(x), S.info_at(x - 1)
        return a[0] != b[0] or a[3] != b[3] or a[4] != b[4]

    def _sync(self, i: int, j: int) -> tuple[float, bool] | None:
        """Whether the streams are back in step from source i and target j: the cost of
        the run that shows it (and of what is left over at the window's end), and
        whether it reached the end; None when they are not.

        The run is followed while key and value agree (up to :data:`RUN_MAX`). It shows
        the streams are in step when it reaches the end of the window, or holds at least
        :data:`RUN` exact pairs (timestamp and headers too) one of which is a landmark;
        a run only equal in content, as long as :data:`RUN_MAX`, also counts (a copy
        that changes every timestamp or header)."""
        S, T = self._s, self._t
        cost, k, exact, landmark = 0.0, 0, 0, False
        while True:
            x, y = i + k, j + k
            s_out, t_out = x >= S.end(), y >= T.end()
            if s_out and S.ended or t_out and T.ended:
                both = s_out and S.ended and t_out and T.ended
                if not both and self._gap:
                    # Inside a long gap, one side ending says nothing about the other.
                    return None
                left = (T.end() - y if not t_out else 0) + (S.end() - x if not s_out else 0)
                return cost + left, True
            if s_out or t_out or k >= RUN_MAX:
                break
            si, ti = S.info_at(x), T.info_at(y)
            if si[0] != ti[0]:
                break
            pen = 0.0 if self._fits(si, ti) else C_TIME
            if si[4] != ti[4]:
                pen += C_HEADERS
            if pen:
                cost += pen
            else:
                exact += 1
                landmark = landmark or self._landmark(x)
            k += 1
        if exact >= RUN and landmark or k >= RUN_MAX:
            # A run that breaks on other content within reach leads straight into the
            # next divergence: at least one more edit.
            return cost + (C_BREAK if k < RUN_MAX and not (s_out or t_out) else 0.0), False
        return None

    def _realign(self) -> bool:
        """Resolve diverged heads as the cheapest local edit back into step; False when
        nothing within :data:`HORIZON` records brings them back."""
        S, T = self._s, self._t
        i0, j0 = S.abs_pos(), T.abs_pos()
        n, m = min(HORIZON, S.ahead()), min(HORIZON, T.ahead())
        src = [S.info_at(i0 + a) for a in range(n)]
        tgt = [T.info_at(j0 + b) for b in range(m)]
        inf = math.inf
        dist = [[inf] * (m + 1) for _ in range(n + 1)]
        dist[0][0] = 0.0
        for a in range(n + 1):
            row = dist[a]
            above = dist[a - 1] if a else None
            for b in range(m + 1):
                if not a and not b:
                    continue
                best = above[b] + 1 if a else inf
                if b and row[b - 1] + 1 < best:
                    best = row[b - 1] + 1
                if a and b:
                    paired = above[b - 1] + self._cost(src[a - 1], tgt[b - 1])
                    if paired < best:
                        best = paired
                row[b] = best
        # Cheapest first; of equally cheap cells the furthest, so the walk back below
        # decides where a one-sided record sits among records equal to it.
        cells = sorted(
            (dist[a][b], -(a + b), a, b)
            for a in range(n + 1)
            for b in range(m + 1)
            if dist[a][b] < inf
        )
        chosen = None
        for d, _near, a, b in cells:
            if chosen is not None and d >= chosen[0]:
                break
            found = self._sync(i0 + a, j0 + b)
            if found is None:
                continue
            extra, at_end = found
            total = d + extra + (0.0 if at_end else C_SHIFT * abs(b - a))
            if chosen is None or total < chosen[0]:
                chosen = (total, a, b)
        if chosen is None:
            return False
        _total, a, b = chosen
        self._gap = False
        ops = []
        while a or b:
            # Walking back, one-sided steps first: of explanations that cost the same,
            # the one that pairs records earliest (a repeat is the later copy).
            d = dist[a][b]
            if b and dist[a][b - 1] + 1 == d:
                ops.append(TARGET_ONLY)
                b -= 1
            elif a and dist[a - 1][b] + 1 == d:
                ops.append(SOURCE_ONLY)
                a -= 1
            else:
                ops.append(PAIR)
                a, b = a - 1, b - 1
        for op in reversed(ops or [PAIR]):
            if op == PAIR:
                self._pair(S.head(), T.head())
                S.pos += 1
                T.pos += 1
            elif op == SOURCE_ONLY:
                self._source_alone(S.head())
                S.pos += 1
            else:
                self._target_alone(T.head())
                T.pos += 1
        return True

    def _anchored(self, i: int, j: int, look: int) -> tuple[int | None, int | None]:
        """Beyond the horizon: the fewest source records to skip before source and
        target are back in step from target j, and the fewest target records to skip
        from source i (each None when not within ``look``)."""
        S, T = self._s, self._t

        def nearest(side, fp: int, start: int, check) -> int | None:
            while True:
                d = side.find(fp, start, look - (start - side.abs_pos()))
                if d is None:
                    return None
                at = side.abs_pos() + d
                if check(at):
                    return d
                start = at + 1

        a = nearest(S, T.fp_at(j), i + 1, lambda x: self._sync(x, j) is not None)
        b = nearest(T, S.fp_at(i), j + 1, lambda y: self._sync(i, y) is not None)
        return a, b

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

    def _take(self, pool: dict[int, deque[Pending]], fp: int, ts, hh: int) -> Pending | None:
        """The oldest waiting record with this content whose timestamp fits ``ts`` (and,
        of those, one with the same headers when there is one).

        On repetitive data many records share a key and value; the timestamp and headers
        (kept by copies) tell which of them this one is, so a record of another time is
        left waiting rather than claimed."""
        waiting = pool.get(fp)
        if waiting is None:
            return None
        found = None
        for n, e in enumerate(waiting):
            if e.alive and self._ts_fits(e.ts, ts):
                if e.hh == hh:
                    found = n
                    break
                if found is None:
                    found = n
        if found is not None:
            e = waiting[found]
            del waiting[found]
        else:
            e = None
        while waiting and not waiting[0].alive:
            waiting.popleft()
        if not waiting:
            del pool[fp]
        return e

    def _claim_target(self, s, fs: int) -> bool:
        """A source head whose copy went by earlier on the target: a late match."""
        sh = s.headers()
        e = self._take(self._pe_by_fp, fs, s.timestamp(), hash(tuple(sh)) if sh else 0)
        if e is None:
            return False
        self._late(e, s, source_is_pending=False)
        return True

    def _claim_source(self, t, ft: int) -> bool:
        """A target head whose original was set aside earlier on the source: a late match."""
        kept = strip_provenance(t.headers())
        e = self._take(self._pm_by_fp, ft, t.timestamp(), hash(tuple(kept)) if kept else 0)
        if e is None:
            return False
        self._late(e, t, source_is_pending=True)
        return True

    def _ts_fits(self, a, b) -> bool:
        """Two (type, ms) timestamps that could belong to one record and its copy. Of
        different types they cannot be compared (LogAppendTime on one side), so fit."""
        return a[0] != b[0] or abs(a[1] - b[1]) <= self.settings.timestamp_skew_ms

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
            sh = strip_provenance(m.headers())
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
        if sk in self._pending_keys:
            self._last_by_key[sk] = (so, to)  # as the fast path does, for the order check
        self._last_s = max(self._last_s, so)
        self._last_t = max(self._last_t, to)
        t_.last_source, t_.last_target = self._last_s, self._last_t
        if t_.first_source is None:
            t_.first_source, t_.first_target = so, to

    def _headers_differ(self, s, t) -> None:
        sh = strip_provenance(s.headers()) or []
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
