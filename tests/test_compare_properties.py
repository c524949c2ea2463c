"""Property tests of the alignment on repetitive data: one planted change, one finding.

Without provenance (MirrorMaker 2, a link, a dual write) the comparison has to pair
records by what they hold. Real topics repeat themselves — a few keys written over and
over, the same few values, a key tombstoned again and again — so content alone says
little about which target record copies which source record. These tests generate such
partitions at random (keys and values from sets of two or three, tombstones, null keys,
timestamps in bursts of equal milliseconds), copy them the way MirrorMaker 2 does (same
order, offsets renumbered), plant exactly one change of one kind, and require the
verdict to name exactly that change, once, at its offsets:

========================  =====================================================
value changed             one ``values`` mismatch at the record's offsets
record dropped            one ``missing`` record
record duplicated         one ``duplicates`` record
two records swapped       one ``order`` finding
header changed            one ``headers`` mismatch
timestamp changed         one ``timestamps`` mismatch
key moved                 one ``placement`` finding (the record sits in another
                          partition on the target)
========================  =====================================================

Where the change hits a record that has an identical twin next to it (same key,
value, headers and timestamp), either twin is the right answer: nothing could tell
them apart; a repeated record repeats every record identical to it. Pure logic, no
brokers; ``test_compare.py`` has the real-cluster case.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.compare.align import NEED_SOURCE, NEED_TARGET, AlignSettings, PartitionAligner
from console.compare.model import Verdict
from console.compare.records import Rec, fingerprint
from console.compare.resolve import PartitionWindow, TopicWindow, resolve_topic
from console.plan import Thresholds

KEYS = [b"k1", b"k2", b"k3", None]
VALUES = [b"paid", b"shipped", b"v3", None]
HEADERS = [None, [("app", b"checkout")], [("app", b"billing")]]
KINDS = ("value", "drop", "duplicate", "swap", "header", "timestamp", "move")
CHECK_OF = {
    "value": "values",
    "drop": "missing",
    "duplicate": "duplicates",
    "swap": "order",
    "header": "headers",
    "timestamp": "timestamps",
    "move": "placement",
}


@dataclass(frozen=True)
class Row:
    """A record before it has an offset: what a producer wrote."""

    key: bytes | None
    value: bytes | None
    headers: tuple | None
    ts: int

    def rec(self, offset: int, partition: int) -> Rec:
        headers = [tuple(h) for h in self.headers] if self.headers else None
        return Rec(offset, self.key, self.value, headers, self.ts, 1, partition)

    def same(self, other: Row) -> bool:
        return self == other


@st.composite
def partitions(draw, count: int = 1):
    """Source partitions of repetitive records: few keys, few values, tombstones, bursts."""
    keys = draw(st.integers(1, 3))
    values = draw(st.integers(1, 3))
    out = []
    ts = 1_700_000_000_000
    for _ in range(count):
        rows = []
        for _ in range(draw(st.integers(8, 60))):
            ts += draw(st.sampled_from([0, 0, 1, 5, 40]))  # bursts share a millisecond
            key = draw(st.sampled_from(KEYS[:keys] + [None]))
            value = draw(st.sampled_from(VALUES[:values] + [None]))
            headers = draw(st.sampled_from(HEADERS))
            rows.append(Row(key, value, tuple(headers) if headers else None, ts))
        out.append(rows)
    return out


def renumber(rows: list[Row], partition: int) -> list[Rec]:
    return [r.rec(i, partition) for i, r in enumerate(rows)]


def plant(draw, kind: str, source: list[list[Row]]):
    """Copy the source and plant one change; returns the target and what to expect:
    the source rows (partition, index) and target (partition, index) the finding may
    name (twins included)."""
    target = [list(rows) for rows in source]
    rows = source[0]
    n = len(rows)

    def twins(p: int, i: int, among: list[Row]) -> set[int]:
        """The run of identical records around index i: none can be told from another."""
        found = {i}
        j = i
        while j > 0 and among[j - 1].same(among[i]):
            j -= 1
            found.add(j)
        j = i
        while j + 1 < len(among) and among[j + 1].same(among[i]):
            j += 1
            found.add(j)
        return found

    if kind == "value":
        candidates = [i for i, r in enumerate(rows) if r.value is not None]
        i = draw(st.sampled_from(candidates)) if candidates else None
        if i is None:
            return None
        new = draw(st.sampled_from([v for v in VALUES if v is not None and v != rows[i].value]))
        target[0][i] = Row(rows[i].key, new, rows[i].headers, rows[i].ts)
        return target, (0, {i}), (0, {i})
    if kind == "drop":
        i = draw(st.integers(0, n - 1))
        del target[0][i]
        return target, (0, twins(0, i, rows)), None
    if kind == "duplicate":
        # A repeated record is a copy of every record identical to it: any of them may
        # be named, and any of the identical target records may be the extra one.
        i = draw(st.integers(0, n - 1))
        target[0].insert(i + 1, rows[i])
        same = {k for k, r in enumerate(rows) if r.same(rows[i])}
        return target, (0, same), (0, {k for k, r in enumerate(target[0]) if r.same(rows[i])})
    if kind == "swap":
        # Records that differ in key or value: otherwise a swap changes nothing the
        # comparison can see by content.
        candidates = [
            i
            for i in range(n - 1)
            if (rows[i].key, rows[i].value) != (rows[i + 1].key, rows[i + 1].value)
        ]
        if not candidates:
            return None
        i = draw(st.sampled_from(candidates))
        target[0][i], target[0][i + 1] = rows[i + 1], rows[i]
        moved = twins(0, i, rows) | twins(0, i + 1, rows)
        return target, (0, moved), (0, twins(0, i, target[0]) | twins(0, i + 1, target[0]))
    if kind == "header":
        i = draw(st.integers(0, n - 1))
        new = [("app", b"changed"), ("trace", b"t")]
        target[0][i] = Row(rows[i].key, rows[i].value, tuple(new), rows[i].ts)
        return target, (0, {i}), (0, {i})
    if kind == "timestamp":
        i = draw(st.integers(0, n - 1))
        target[0][i] = Row(rows[i].key, rows[i].value, rows[i].headers, rows[i].ts + 3_600_000)
        return target, (0, {i}), (0, {i})
    if kind == "move":
        candidates = [i for i, r in enumerate(rows) if r.key is not None]
        if not candidates:
            return None
        i = draw(st.sampled_from(candidates))
        moved = target[0].pop(i)
        other = target[1]
        j = sum(1 for r in other if r.ts <= moved.ts)  # where its timestamp puts it
        other.insert(j, moved)
        return target, (0, twins(0, i, rows)), (1, {j})
    raise AssertionError(kind)


def align(source: list[Rec], target: list[Rec], partition: int, batch: int):
    aligner = PartitionAligner("t", partition, AlignSettings(lookahead=200))
    si = ti = 0
    need = aligner.run()
    while need:
        if need & NEED_SOURCE:
            si += batch
            aligner.feed_source(source[si - batch : si], si >= len(source))
        if need & NEED_TARGET:
            ti += batch + 3
            aligner.feed_target(target[ti - batch - 3 : ti], ti >= len(target))
        need = aligner.run()
    return aligner.finish()


def classifier(source: dict[int, list[Rec]]):
    """What the engine's second read of the source decides (``reader.classify_extras``):
    an unmatched target record whose key and value a source record has is a duplicate
    of it, preferably of the one whose timestamp and headers it carries too."""
    by_fp: dict[int, list[tuple[int, Rec]]] = {}
    for p, recs in sorted(source.items()):
        for r in recs:
            by_fp.setdefault(fingerprint(r.key(), r.value()), []).append((p, r))

    def classify(candidates):
        out = {}
        for e in candidates:
            best = None
            for p, r in by_fp.get(e.fp, []):
                hh = hash(tuple(r.headers())) if r.headers() else 0
                score = (r.timestamp() == e.ts, hh == e.hh, p == e.partition)
                if best is None or score > best[0]:
                    best = (score, p, r.offset())
            if best is not None:
                out[id(e)] = ("duplicate", best[1], best[2])
        return out

    return classify


def judge(source_rows: list[list[Row]], target_rows: list[list[Row]], batch: int):
    source = {p: renumber(rows, p) for p, rows in enumerate(source_rows)}
    target = {p: renumber(rows, p) for p, rows in enumerate(target_rows)}
    tallies = {p: align(source[p], target[p], p, batch) for p in source}
    parts = {p: PartitionWindow(p, 0, len(source[p]), 0, len(target[p])) for p in source}
    window = TopicWindow("t", len(source), len(target), parts, open_end=False)
    return resolve_topic(window, tallies, Thresholds(), classify=classifier(source))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_one_planted_change_is_named_exactly(data):
    kind = data.draw(st.sampled_from(KINDS), label="kind")
    source = data.draw(partitions(2 if kind == "move" else 1), label="source")
    planted = plant(data.draw, kind, source)
    if planted is None:
        return  # nothing of that kind to change in this partition
    target, (src_p, src_at), expected_target = planted
    batch = data.draw(st.integers(1, 12), label="batch")
    outcome = judge(source, target, batch)
    check = CHECK_OF[kind]
    bad = {
        (r.partition, r.check): (r.verdict.value, r.reason)
        for r in outcome.results
        if r.verdict is not Verdict.OK and r.partition is not None
    }
    assert set(bad) == {(src_p, check)}, bad
    row = next(r for r in outcome.results if r.partition == src_p and r.check == check)
    count_key = {"order": "reordered", "placement": "misplaced"}.get(check, check)
    assert row.counts[count_key] == 1, row
    (example,) = row.examples
    assert example.source_partition == src_p and example.source_offset in src_at, example
    # Every example names the record on each side where it exists.
    for r in outcome.results:
        for e in r.examples:
            if r.check != "extra":
                assert None not in (e.source_partition, e.source_offset), (r.check, e)
            if r.check != "missing":
                assert None not in (e.target_partition, e.target_offset), (r.check, e)
    if expected_target is not None:
        tgt_p, tgt_at = expected_target
        assert example.target_partition == tgt_p and example.target_offset in tgt_at, example
