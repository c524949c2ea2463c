"""How a step state or verdict reads: a glyph and a word first, colour only as a bonus.

Operators on a 16-colour SSH terminal or with NO_COLOR=1 must read status from the
text alone, so every status carries a word.
"""

from __future__ import annotations

from rich.text import Text

_STYLES = {
    "pending": ("·", "PENDING", "dim"),
    "running": ("▶", "RUNNING", "bold yellow"),
    "passed": ("✓", "PASSED", "bold green"),
    "failed": ("✗", "FAILED", "bold red"),
    "blocked": ("■", "BLOCKED", "magenta"),
    "waived": ("~", "WAIVED", "cyan"),
}


def state_text(state: str, *, width: int = 9) -> Text:
    """A step state as glyph plus word, padded so columns line up."""
    glyph, word, style = _STYLES.get(state, ("?", state.upper(), ""))
    return Text(f"{glyph} {word}".ljust(width), style=style)


def number(value: int | float | None, unit: str = "") -> Text:
    """A right-aligned figure with its unit; unknown values say so.

    Figures of a million or more are shortened (1.23M) so columns stay narrow at 80x24.
    """
    if value is None:
        return Text("n/a", justify="right", style="dim")
    if abs(value) >= 1_000_000:
        figure = f"{value / 1_000_000:.2f}M"
    elif isinstance(value, int):
        figure = f"{value:,}"
    else:
        figure = f"{value:,.1f}"
    return Text(f"{figure} {unit}".rstrip(), justify="right")
