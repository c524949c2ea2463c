"""What one partition's alignment found: counts, findings with examples, and the records
still waiting for a partner (:class:`Pending`), before topic-wide resolution
(:mod:`console.compare.resolve`). Compact by design: no payload is kept per record."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from console.compare.model import Example


class Pending:
    """A record seen on one side that has no partner yet. Compact: no payload kept."""

    __slots__ = (
        "side",
        "partition",
        "offset",
        "fp",
        "key",
        "hh",
        "ts",
        "prov",
        "seq",
        "alive",
        "klass",
        "sid",
    )

    def __init__(self, side, partition, offset, fp, key, hh, ts, prov, seq, sid=None):
        self.side = side
        self.partition = partition
        self.offset = offset
        self.fp = fp
        self.key = key
        self.hh = hh
        self.ts = ts
        self.prov = prov
        self.seq = seq
        self.alive = True
        self.klass = ""
        self.sid = sid

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Pending({self.side} p{self.partition}@{self.offset} key={self.key!r})"


@dataclass
class Finding:
    """How often one check found something in a partition, and the first examples."""

    count: int = 0
    examples: list[Example] = field(default_factory=list)

    def add(self, example: Example, limit: int, n: int = 1) -> None:
        self.count += n
        if len(self.examples) < limit:
            self.examples.append(example)


@dataclass
class PartitionTally:
    """Everything one partition's alignment found, before topic-wide resolution."""

    topic: str
    partition: int
    source_records: int = 0
    target_records: int = 0
    matched: int = 0
    late_matched: int = 0
    source_gaps: int = 0
    source_skipped_offsets: int = 0
    tombstones: int = 0
    null_keys: int = 0
    first_source: int | None = None
    first_target: int | None = None
    last_source: int | None = None
    last_target: int | None = None
    source_first_offset: int | None = None
    source_last_offset: int | None = None
    target_first_offset: int | None = None
    target_last_offset: int | None = None
    overflow_missing: int = 0
    overflow_extra: int = 0
    outside_window: int = 0
    before_window: int = 0
    moved_writes: int = 0
    """Target records after a producer cutover point written by the moved producers
    themselves (no provenance header): left out of the comparison."""
    before_examples: list[Example] = field(default_factory=list)
    target_gaps: int = 0
    key_order_breaks: int = 0
    max_skew_ms: int = 0
    findings: dict[str, Finding] = field(default_factory=dict)
    pending_source: list[Pending] = field(default_factory=list)
    pending_target: list[Pending] = field(default_factory=list)
    schema_ids: set[int] = field(default_factory=set)
    schema_counts: Counter = field(default_factory=Counter)
    """Source records per schema id."""
    schema_pairs: Counter = field(default_factory=Counter)
    """(source id, target id) of records compared one by one."""
    schema_where: dict[tuple[int, int], tuple[int, int, int, int]] = field(default_factory=dict)
    """The first record of each (source id, target id) pair compared one by one:
    (source partition, source offset, target partition, target offset)."""
    wire_records: int = 0
    schema_first_source: dict[int, int] = field(default_factory=dict)
    """The offset of the first source record carrying each schema id."""
    schema_first_target: dict[int, int] = field(default_factory=dict)
    """The offset of the first target record carrying each schema id."""

    def schema_locations(self) -> dict[tuple[int, int], tuple[int, int, int, int]]:
        """A record for each (source id, target id) pair: the first one compared one by
        one, else the first record carrying each id on each side (the fast path matched
        those in step without looking at their ids)."""
        where = dict(self.schema_where)
        for pair in self.id_pairs():
            sid, tid = pair
            if pair not in where and sid in self.schema_first_source:
                target = self.schema_first_target.get(tid)
                if target is not None:
                    p = self.partition
                    where[pair] = (p, self.schema_first_source[sid], p, target)
        return where

    def id_pairs(self) -> Counter:
        """Every (source id, target id) seen: records matched in step kept their id."""
        pairs = Counter(self.schema_pairs)
        elsewhere = Counter()
        for (sid, _tid), n in self.schema_pairs.items():
            elsewhere[sid] += n
        for e in self.pending_source:
            if e.sid is not None:
                elsewhere[e.sid] += 1
        for sid, n in self.schema_counts.items():
            same = n - elsewhere[sid]
            if same > 0:
                pairs[(sid, sid)] += same
        return pairs

    def schema_pair(self, sid: int, tid: int, where: tuple[int, int, int, int]) -> None:
        """Count one record read as schema id ``sid`` on the source and ``tid`` on the target."""
        self.schema_pairs[(sid, tid)] += 1
        self.schema_where.setdefault((sid, tid), where)

    def finding(self, check: str) -> Finding:
        found = self.findings.get(check)
        if found is None:
            found = self.findings[check] = Finding()
        return found
