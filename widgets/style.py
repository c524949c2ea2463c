"""The one look of a status and of a figure, for every pane.

:func:`status_text` renders the one status table (:mod:`console.views.status`): a
glyph and a word first, colour only as a bonus, so operators on a 16-colour SSH
terminal or with ``NO_COLOR=1`` read the status from the text alone. :func:`number`
is the one number formatter: right-aligned, with its unit, short enough for 80x24
columns, and the same symbol for a figure that is not known.
"""

from __future__ import annotations

from rich.text import Text

from console.views.status import UNKNOWN, status


def status_text(key: str, *, width: int = 0) -> Text:
    """A step state or verdict as glyph plus word, padded to ``width`` so columns line up.

    Where glyph and word do not fit the column (``CANCELLED`` in the runbook pane), the
    word alone stands: it is what carries the meaning.
    """
    found = status(key)
    label = found.label
    if width and len(label) > width and len(found.word) <= width:
        label = found.word
    return Text(label.ljust(width), style=found.style)


def state_text(state: str, *, width: int = 9) -> Text:
    """A step state as glyph plus word, padded so columns line up."""
    return status_text(state, width=width)


def figure(value: int | float) -> str:
    """A figure in at most 5 characters from 10,000 up (``12.3k``, ``4.56M``).

    Truncated, not rounded, so 99,999 reads 99.9k and never grows a digit; below 10,000
    it is exact (``9,999``, or ``12.5`` for a fraction).
    """
    if isinstance(value, float) and abs(value) < 10_000:
        return f"{value:,.1f}"
    value = int(value)
    sign, value = ("-", -value) if value < 0 else ("", value)
    if value < 10_000:
        text = f"{value:,}"
    elif value < 100_000:
        text = f"{value // 100 / 10:.1f}k"
    elif value < 1_000_000:
        text = f"{value // 1000}k"
    elif value < 10_000_000:
        text = f"{value // 10_000 / 100:.2f}M"
    elif value < 100_000_000:
        text = f"{value // 100_000 / 10:.1f}M"
    elif value < 1_000_000_000:
        text = f"{value // 1_000_000}M"
    else:
        text = f"{value // 10_000_000 / 100:.2f}G"
    return sign + text


def number(value: int | float | None, unit: str = "") -> Text:
    """A right-aligned figure with its unit; an unknown one reads as the one symbol."""
    if value is None:
        return Text(UNKNOWN, justify="right", style="dim")
    return Text(f"{figure(value)} {unit}".rstrip(), justify="right")


def clip_words(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, shortened at a word with ``…`` when it does not
    fit, so nothing reads as a different, cut-off word ("step.interrupte")."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    cut = text[: width - 1]
    space = cut.rfind(" ")
    if space >= width // 3:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def wrap_text(line: Text, width: int, lines: int, indent: int = 2) -> list[Text]:
    """A styled line in at most ``lines`` rows of ``width`` cells, broken at words; rows
    after the first are indented by ``indent`` so they read as the same line going on.
    What still does not fit the last row is shortened at a word with ``…``."""
    rows: list[Text] = []
    rest = line
    while len(rows) < lines - 1:
        room = width if not rows else width - indent
        if rest.cell_len <= room:
            break
        cut = rest.plain.rfind(" ", 0, room + 1)
        if cut < room // 3:
            break  # one long word: shortening it says more than splitting it
        head, tail = rest.divide([cut])
        rows.append(head if not rows else Text(" " * indent) + head)
        rest = tail
        rest = rest[len(rest.plain) - len(rest.plain.lstrip(" ")) :]
    if not rows:
        return [clip_text(rest, width)]
    return [*rows, Text(" " * indent) + clip_text(rest, width - indent)]


def clip_text(line: Text, width: int) -> Text:
    """A styled line in at most ``width`` cells, shortened at a word with ``…``."""
    if line.cell_len <= width:
        return line
    # clip_words keeps a prefix and adds the ellipsis; Rich's truncate to that length does
    # the same and keeps the spans' styles running into the ellipsis.
    clipped = line.copy()
    clipped.truncate(len(clip_words(line.plain, width)), overflow="ellipsis")
    return clipped
