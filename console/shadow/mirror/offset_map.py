"""The built-in mirror's exact offset map: which target offset holds which source offset.

The mirror copies every committed source record, in order, to the same partition on
the target. Per partition the map is a list of *runs*: source offsets
``[src_start, src_start + length)`` sit at target offsets ``[tgt_start, tgt_start +
length)``. A run ends wherever either side skips an offset: on the source,
transaction markers, aborted records and compaction gaps; on the target, the
mirror's own transaction markers (one after every mirror transaction) and any
record some other producer wrote in between.

Runs are stored in the run database's ``offset_runs`` table (``path='builtin'``, see
:mod:`console.store.offsets`), written after the Kafka transaction that copied the
records committed, in one SQLite transaction per mirror transaction.

Translation (:func:`translate`) answers for a *position* (the next offset a consumer
would read, which is what a consumer group commits): inside a run it is exact; in a
gap between two runs it is exact too, because the mirror copied everything a
read_committed consumer can see and the gap holds nothing such a consumer reads;
outside the mapped range it says so and by how many offsets.

This module holds the pure logic (building runs, translating) and reads and writes the
map through the store; it does no Kafka I/O. The mirror (:mod:`console.shadow.mirror`)
feeds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from console.store import Store

PATH = "builtin"


@dataclass(frozen=True)
class Run:
    """Source offsets [src_start, src_start+length) at target [tgt_start, tgt_start+length)."""

    topic: str
    partition: int
    src_start: int
    tgt_start: int
    length: int

    @property
    def src_end(self) -> int:
        """First source offset after the run."""
        return self.src_start + self.length

    @property
    def tgt_end(self) -> int:
        """First target offset after the run."""
        return self.tgt_start + self.length


@dataclass(frozen=True)
class Translation:
    """Where a source position lands on the target, and how sure that is.

    ``exact`` is True when ``target_offset`` is the exact target position (no record
    re-read, none skipped). When False, ``target_offset`` is None and ``distance``
    says how many source offsets separate the position from the nearest mapped one
    (``nearest_source``/``nearest_target``); ``reason`` says it in words.
    """

    topic: str
    partition: int
    source_offset: int
    exact: bool
    target_offset: int | None
    reason: str
    nearest_source: int | None = None
    nearest_target: int | None = None
    distance: int | None = None


# -- pure logic -----------------------------------------------------------------------------


def runs_from_pairs(topic: str, partition: int, pairs: Iterable[tuple[int, int]]) -> list[Run]:
    """Runs from (source offset, target offset) pairs in target order.

    A new run starts wherever either side is not exactly one past the previous pair.
    Pairs must increase on both sides; anything else means the data is not a mirror
    copy and is refused rather than mapped wrongly.
    """
    runs: list[Run] = []
    src_start = tgt_start = length = 0
    prev: tuple[int, int] | None = None
    for src, tgt in pairs:
        if prev is not None and (src <= prev[0] or tgt <= prev[1]):
            raise ValueError(
                f"{topic}[{partition}]: offsets do not increase on both sides at "
                f"source {src}, target {tgt} (after source {prev[0]}, target {prev[1]})"
            )
        if prev is not None and src == prev[0] + 1 and tgt == prev[1] + 1:
            length += 1
        else:
            if prev is not None:
                runs.append(Run(topic, partition, src_start, tgt_start, length))
            src_start, tgt_start, length = src, tgt, 1
        prev = (src, tgt)
    if prev is not None:
        runs.append(Run(topic, partition, src_start, tgt_start, length))
    return runs


def runs_from_sources(
    topic: str, partition: int, sources: Sequence[int], tgt_first: int
) -> list[Run]:
    """Runs for source offsets written back to back on the target from ``tgt_first`` on.

    The mirror's usual case: one delivery report gives the first target offset and the
    records between were appended contiguously, so only the source side can skip.
    """
    runs: list[Run] = []
    if not sources:
        return runs
    start_index = 0
    for i in range(1, len(sources)):
        if sources[i] != sources[i - 1] + 1:
            runs.append(
                Run(
                    topic, partition, sources[start_index], tgt_first + start_index, i - start_index
                )
            )
            start_index = i
    runs.append(
        Run(
            topic,
            partition,
            sources[start_index],
            tgt_first + start_index,
            len(sources) - start_index,
        )
    )
    return runs


def merge(runs: Iterable[Run]) -> list[Run]:
    """Sort runs and join those that continue each other on both sides."""
    out: list[Run] = []
    for run in sorted(runs, key=lambda r: (r.topic, r.partition, r.src_start)):
        last = out[-1] if out else None
        if (
            last is not None
            and last.topic == run.topic
            and last.partition == run.partition
            and last.src_end == run.src_start
            and last.tgt_end == run.tgt_start
        ):
            out[-1] = Run(
                run.topic, run.partition, last.src_start, last.tgt_start, last.length + run.length
            )
        else:
            out.append(run)
    return out


def translate_in(
    runs: Sequence[Run], source_offset: int, *, mirrored_to: int | None = None
) -> Translation:
    """Translate a source position using one partition's runs (sorted by ``src_start``).

    The runs must all belong to one partition; an empty list translates nothing.
    ``mirrored_to`` is the mirror's committed source position for the partition (see
    ``console.shadow.mirror.mirror_positions``): up to it, offsets after the last run are
    known to hold no committed record (a trailing transaction marker, say), so a
    position there is still exact.
    """
    if not runs:
        raise ValueError("no runs to translate with")
    topic, partition = runs[0].topic, runs[0].partition
    below = None  # last run starting at or before the offset
    above = None  # first run starting after it
    for run in runs:
        if run.src_start <= source_offset:
            below = run
        else:
            above = run
            break

    def result(exact: bool, target: int | None, reason: str, **near) -> Translation:
        return Translation(topic, partition, source_offset, exact, target, reason, **near)

    if below is not None and source_offset < below.src_end:
        return result(True, below.tgt_start + (source_offset - below.src_start), "mapped")
    if below is not None and above is not None:
        # Between two runs: the source offsets in between are transaction markers,
        # aborted or compacted-away records, none of which a read_committed consumer
        # reads, so the next mapped record is exactly where reading resumes.
        return result(
            True,
            above.tgt_start,
            f"source offsets {below.src_end}..{above.src_start - 1} hold no committed "
            "record (markers, aborted or compacted); resumes at the next copied record",
        )
    if below is not None and source_offset == below.src_end:
        return result(True, below.tgt_end, "just after the last copied record")
    if below is not None and mirrored_to is not None and source_offset <= mirrored_to:
        return result(
            True,
            below.tgt_end,
            f"source offsets {below.src_end}..{source_offset - 1} hold no committed record; "
            "resumes after the last copied record",
        )
    if below is not None:
        distance = source_offset - below.src_end
        return result(
            False,
            None,
            f"{distance} offset(s) beyond what the mirror has copied "
            f"(copied up to source offset {below.src_end - 1}); wait for the mirror to catch up",
            nearest_source=below.src_end,
            nearest_target=below.tgt_end,
            distance=distance,
        )
    assert above is not None
    distance = above.src_start - source_offset
    return result(
        False,
        None,
        f"{distance} offset(s) before the first copied record (source offset "
        f"{above.src_start}); those records were not mirrored",
        nearest_source=above.src_start,
        nearest_target=above.tgt_start,
        distance=distance,
    )


# -- run database -----------------------------------------------------------------------------


def record_runs(store: Store, runs: Iterable[Run]) -> int:
    """Store runs in one SQLite transaction; returns how many rows were written.

    Re-recording a run that starts at the same source offset replaces it, so a
    recovery that rebuilds a tail it already wrote cannot leave two rows behind.
    """
    rows = [(r.topic, r.partition, r.src_start, r.tgt_start, r.length) for r in runs]
    return store.offsets.record_runs(rows, PATH)


def runs_for(store: Store, topic: str, partition: int) -> list[Run]:
    """Every run of one partition, by source offset."""
    return [Run(topic, partition, *row) for row in store.offsets.runs(topic, partition, PATH)]


def last_run(store: Store, topic: str, partition: int) -> Run | None:
    """The run with the highest source offsets of a partition, if any."""
    row = store.offsets.last_run(topic, partition, PATH)
    return Run(topic, partition, *row) if row else None


def translate(
    store: Store, topic: str, partition: int, src_offset: int, *, mirrored_to: int | None = None
) -> Translation:
    """Where a source position (a committed offset) lands on the target.

    Reads only the two runs around the offset, so it stays cheap on long maps. Pass
    the mirror's committed position as ``mirrored_to`` when known (see
    :func:`translate_in`).
    """
    rows = store.offsets.runs_around(topic, partition, src_offset, PATH)
    if not rows:
        return Translation(
            topic,
            partition,
            src_offset,
            False,
            None,
            f"the built-in mirror has copied nothing of {topic}[{partition}] yet; "
            "start the shadow copy first",
        )
    runs = sorted((Run(topic, partition, s, t, n) for s, t, n in rows), key=lambda r: r.src_start)
    return translate_in(runs, src_offset, mirrored_to=mirrored_to)


def mapped_count(store: Store, topic: str | None = None) -> int:
    """How many records the map covers (all topics, or one)."""
    return store.offsets.mapped_count(PATH, topic)
