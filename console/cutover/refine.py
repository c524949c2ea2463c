"""Refining a coarse target position to the exact one by aligning records: pure logic.

MirrorMaker 2 translates a group's committed offset with the newest offset sync at or
before it (plus one), so a group moved on its checkpoint re-reads up to
``offset.lag.max`` records; an external link gives no map at all, only timestamps.
Both can be refined: read the source records from a known point up to a little past
the committed offset, read the target records from the coarse position on, and pair
them in order by content (key and value as the comparison pairs them,
:func:`console.compare.records.fingerprint`, plus headers and timestamp). The copy of
the first record the group has not read yet is where it resumes.

Where that cannot be told the answer is a **bound**, never a guess: when identical
records (same key, value, headers and timestamp) straddle the committed offset, which of
their copies are the read ones cannot be known from content. The group then starts at
the first of those copies (it re-reads the identical ones it already read, and skips
nothing), and the bound says where the exact position lies and what each end costs.
When the copy has a hole after the committed offset (a record with no copy), every
position skips it, and that is said instead.

Nothing here reads Kafka: :mod:`console.cutover.records` fetches the windows and feeds
them in; a result asking for more (``need``) is answered with a larger window.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

from console.compare.records import fingerprint, strip_provenance
from console.kafka import provenance


@dataclass(frozen=True)
class Rec:
    """A record as the refinement sees it (the comparison's identity, plus headers and
    timestamp); ``origin`` is the built-in mirror's provenance when it carries one."""

    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple = ()
    timestamp: int = 0
    origin: tuple[int, int] | None = None

    @classmethod
    def of(cls, msg) -> Rec:
        """From a confluent-kafka message (or anything with its accessors)."""
        headers = msg.headers()
        return cls(
            msg.offset(),
            msg.key(),
            msg.value(),
            tuple(strip_provenance(headers) or ()),
            msg.timestamp()[1],
            provenance.find(headers) if headers else None,
        )

    @property
    def content(self) -> tuple:
        """What pairs a copy with its original, timestamp aside."""
        return (fingerprint(self.key, self.value), self.headers)

    def identical(self, other: Rec) -> bool:
        """Same key, value, headers and timestamp: indistinguishable by content."""
        return (
            self.key == other.key
            and self.value == other.value
            and self.headers == other.headers
            and self.timestamp == other.timestamp
        )


@dataclass(frozen=True)
class Refinement:
    """Where a group at ``committed`` resumes on the target, as far as records tell."""

    target_offset: int | None
    exact: bool
    reason: str
    bound_lo: int | None = None
    bound_hi: int | None = None
    replay: int | None = None
    replay_min: int | None = None
    skip: int | None = None
    skip_max: int | None = None
    coarse_replay: int | None = None
    """Records the coarse position would re-read (copies before the refined one)."""
    pairs: tuple[tuple[int, int], ...] = field(default=())
    """(source offset, target offset) of every unambiguous pair found: a piece of exact
    map the reverse translation can use."""
    need: str | None = None
    """``source`` or ``target``: the window was too small to decide; read more."""


def _matches(a: Rec, b: Rec, skew_ms: int) -> bool:
    return a.content == b.content and abs(a.timestamp - b.timestamp) <= skew_ms


class _Index:
    """Positions of the target records by content, for looking ahead."""

    def __init__(self, recs: Sequence[Rec]):
        self.by_content: dict[tuple, list[int]] = {}
        for i, r in enumerate(recs):
            self.by_content.setdefault(r.content, []).append(i)

    def next(self, rec: Rec, recs: Sequence[Rec], after: int, skew_ms: int) -> int | None:
        spots = self.by_content.get(rec.content, [])
        i = bisect.bisect_right(spots, after)
        while i < len(spots):
            j = spots[i]
            if abs(recs[j].timestamp - rec.timestamp) <= skew_ms:
                return j
            i += 1
        return None


def pair_in_order(
    src: Sequence[Rec], tgt: Sequence[Rec], skew_ms: int = 0
) -> tuple[dict[int, int], list[int], list[int]]:
    """Pair source and target records in order by content: ``(src index -> tgt index,
    unpaired source indexes, unpaired target indexes)``. Where the heads differ, the
    nearer of the two resumes wins: target records skipped over are extras (copies of
    earlier records, duplicates, foreign records), source records skipped over are
    holes in the copy."""
    t_index = _Index(tgt)
    s_index = _Index(src)
    pairs: dict[int, int] = {}
    lone_src: list[int] = []
    lone_tgt: list[int] = []
    i = j = 0
    while i < len(src) and j < len(tgt):
        if _matches(src[i], tgt[j], skew_ms):
            pairs[i] = j
            i += 1
            j += 1
            continue
        jt = t_index.next(src[i], tgt, j, skew_ms)
        is_ = s_index.next(tgt[j], src, i, skew_ms)
        if jt is not None and (is_ is None or jt - j <= is_ - i):
            lone_tgt.extend(range(j, jt))
            j = jt
        elif is_ is not None:
            lone_src.extend(range(i, is_))
            i = is_
        else:
            lone_src.append(i)
            lone_tgt.append(j)
            i += 1
            j += 1
    lone_src.extend(range(i, len(src)))
    lone_tgt.extend(range(j, len(tgt)))
    return pairs, lone_src, lone_tgt


def refine(
    src: Sequence[Rec],
    tgt: Sequence[Rec],
    committed: int,
    *,
    src_done: bool,
    tgt_done: bool,
    coarse: int | None = None,
    skew_ms: int = 0,
) -> Refinement:
    """Where a group that committed ``committed`` on the source resumes on the target.

    ``src``: source records in offset order from a point at or before the committed
    offset (for MirrorMaker 2 the offset sync's upstream record) to a little past it;
    ``src_done`` when the source has nothing more. ``tgt``: target records in order from
    at or before where the copy of the first of them sits (the sync's downstream offset,
    or a timestamp lookup) on; ``tgt_done`` when the target has nothing more.
    ``coarse``: the coarse position being refined (its re-read is reported).
    """
    k = bisect.bisect_left([r.offset for r in src], committed)
    if k == len(src) and not src_done:
        return Refinement(
            None, False, "the source window ends before the committed offset", need="source"
        )
    pairs, lone_src, _lone_tgt = pair_in_order(src, tgt, skew_ms)
    paired_src = sorted(pairs)
    # The copy of the last record the group read, if any paired.
    before = [i for i in paired_src if i < k]
    a = before[-1] if before else None
    # A hole: a record the group has not read yet has no copy, though later ones have.
    later_paired = [i for i in paired_src if i >= k]
    if later_paired:
        holes = [i for i in lone_src if k <= i < later_paired[-1]]
        if holes:
            first = src[holes[0]].offset
            return Refinement(
                None,
                False,
                f"the copy has a hole: source record {first} (and {len(holes) - 1} more "
                "after the committed offset) has no copy on the target, so any position "
                "skips it",
                skip=None,
                skip_max=len(holes),
                pairs=_safe_pairs(src, tgt, pairs),
            )
    if k > 0 and a is None:
        if not tgt_done:
            return Refinement(None, False, "no copy found yet", need="target")
        return Refinement(
            None,
            False,
            "none of the records before the committed offset was found on the target "
            "near the coarse position",
        )
    if k < len(src) and k in pairs:
        return _at_copy(src, tgt, pairs, k, coarse, src_done, tgt_done)
    # The first unread record has no copy yet (the copy is behind), or the source has
    # nothing at or after the committed offset: the group resumes after the copy of the
    # last record it read, once nothing else follows it on the target.
    if not tgt_done:
        return Refinement(None, False, "the target window ends too early", need="target")
    if a is None:
        # Nothing read in the window and nothing to resume at: the anchor itself.
        if not tgt:
            return Refinement(None, False, "the target holds nothing to align with")
        return Refinement(None, False, "no record of the window pairs with the target")
    last_copy = tgt[pairs[a]].offset
    trailing = [r for r in tgt if r.offset > last_copy]
    pair_list = _safe_pairs(src, tgt, pairs)
    if not trailing:
        return Refinement(
            last_copy + 1,
            True,
            f"resumes after the copy of source {src[a].offset} (the last record read); "
            "the next record is not copied yet",
            last_copy + 1,
            last_copy + 1,
            0,
            0,
            0,
            0,
            _coarse_replay(tgt, coarse, last_copy + 1),
            pair_list,
        )
    end = trailing[-1].offset + 1
    return Refinement(
        last_copy + 1,
        False,
        f"{len(trailing)} target record(s) after the copy of the last record read pair with "
        "nothing on the source (duplicates or foreign records): starting right after that "
        "copy re-reads them",
        last_copy + 1,
        end,
        len(trailing),
        0,
        0,
        0,
        _coarse_replay(tgt, coarse, last_copy + 1),
        pair_list,
    )


def _at_copy(src, tgt, pairs, k, coarse, src_done, tgt_done) -> Refinement:
    """The first unread record has a copy: exact, unless identical records straddle."""
    j = pairs[k]
    x = tgt[j].offset
    pair_list = _safe_pairs(src, tgt, pairs)
    if k == 0 or not src[k - 1].identical(src[k]):
        return Refinement(
            x,
            True,
            f"the copy of source {src[k].offset}, the first record not read yet",
            x,
            x,
            0,
            0,
            0,
            0,
            _coarse_replay(tgt, coarse, x),
            pair_list,
        )
    # Identical records straddle the committed offset: which copies are the read ones
    # cannot be told from content.
    i0 = k
    while i0 > 0 and src[i0 - 1].identical(src[k]):
        i0 -= 1
    i1 = k
    while i1 + 1 < len(src) and src[i1 + 1].identical(src[k]):
        i1 += 1
    if i1 == len(src) - 1 and not src_done:
        return Refinement(
            None, False, "identical records run past the source window", need="source"
        )
    j0 = j
    while j0 > 0 and tgt[j0 - 1].identical(src[k]):
        j0 -= 1
    j1 = j
    while j1 + 1 < len(tgt) and tgt[j1 + 1].identical(src[k]):
        j1 += 1
    if j1 == len(tgt) - 1 and not tgt_done:
        return Refinement(None, False, "identical copies run past the target window", need="target")
    n, c, u, m = i1 - i0 + 1, k - i0, i1 - k + 1, j1 - j0 + 1
    lo = tgt[j0].offset
    where = (
        f"{n} identical records at source {src[i0].offset}..{src[i1].offset} straddle the "
        f"committed offset ({c} read, {u} not), with {m} copies at target "
        f"{tgt[j0].offset}..{tgt[j1].offset}"
    )
    if m < n:
        return Refinement(
            lo,
            False,
            f"AMBIGUOUS and short: {where}; {n - m} copies are missing, so starting anywhere "
            f"may skip up to {min(u, n - m)} of the unread ones",
            lo,
            tgt[j1].offset + 1,
            m - u if m >= u else 0,
            0,
            None,
            min(u, n - m),
            _coarse_replay(tgt, coarse, lo),
            pair_list,
        )
    hi = tgt[j0 + (m - u)].offset
    return Refinement(
        lo,
        False,
        f"AMBIGUOUS: {where}; starting at {lo} re-reads {m - u} of them and skips none; "
        f"the exact position lies in {lo}..{hi} ({hi} re-reads none if the copies are in "
        f"step, but could skip up to {min(u, m - u)})",
        lo,
        hi,
        m - u,
        0,
        0,
        min(u, m - u),
        _coarse_replay(tgt, coarse, lo),
        pair_list,
    )


def _coarse_replay(tgt: Sequence[Rec], coarse: int | None, refined: int) -> int | None:
    """Target records from the coarse position up to the refined one: what the coarse
    position alone would make the group read again."""
    if coarse is None or not tgt or tgt[0].offset > coarse:
        return None
    return sum(1 for r in tgt if coarse <= r.offset < refined)


def _safe_pairs(src, tgt, pairs: dict[int, int]) -> tuple[tuple[int, int], ...]:
    """Pairs whose source record has no identical neighbour: those are exact."""
    out = []
    for i, j in sorted(pairs.items()):
        left = i > 0 and src[i - 1].identical(src[i])
        right = i + 1 < len(src) and src[i + 1].identical(src[i])
        if not left and not right:
            out.append((src[i].offset, tgt[j].offset))
    return tuple(out)
