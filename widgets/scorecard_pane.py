"""The scorecard pane: the six readiness areas, each with its colour in words and why.

It renders a :class:`console.views.scorecard.ScorecardView`; it never reads the run
database. Colours read from the one status table (``✓ GREEN``, ``! YELLOW``,
``? GREY``, ``✗ RED``); a waiver or a missing owner is said in words beside it. There is
no overall score: the areas are never averaged.

Keys: ``enter`` shows an area in full (its rule, the evidence behind its colour, its
owner, waiver and history); ``o`` records a red area's owner and retest date, ``w``
waives it (an approver), ``u`` withdraws a waiver, ``m`` judges an area the plan has
judged by hand. Each of those opens a form, then the gate; none works in replay.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from console.views.scorecard import ScorecardView
from widgets.style import clip_words, status_text

_AREA_W, _COLOUR_W = 15, 8
WHY_MIN = 14


class ScorecardPane(Vertical):
    """Six areas, never averaged."""

    DEFAULT_CSS = """
    ScorecardPane > .area-note {
        height: auto; max-height: 2; padding: 0 1; color: $text-muted;
        text-overflow: ellipsis;
    }
    """

    BINDINGS = [
        Binding("o", "decide('owner')", "Owner", id="scorecard.owner"),
        Binding("w", "decide('waive')", "Waive", id="scorecard.waive"),
        Binding("u", "decide('withdraw')", "Withdraw", show=False, id="scorecard.withdraw"),
        Binding("m", "decide('judge')", "Judge", show=False, id="scorecard.judge"),
    ]

    class DetailRequested(Message):
        """The operator pressed enter on an area: show it in full."""

        def __init__(self, area: str, lines: tuple[str, ...]) -> None:
            self.area = area
            self.lines = lines
            super().__init__()

    class DecisionRequested(Message):
        """The operator asked to record a decision on an area."""

        def __init__(self, area: str, action: str) -> None:
            self.area = area
            self.action = action
            super().__init__()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.view: ScorecardView | None = None
        self.read_only = False
        """A replay: the decision keys are off the footer (and refused if pressed)."""

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        return not (self.read_only and action == "decide")

    def compose(self) -> ComposeResult:
        # The title says whether the cutover gates may open; the six rows and a line
        # about the highlighted one fill the rest (all of it fits at 80x24).
        yield DataTable(id="scorecard-table", cursor_type="row", cell_padding=1)
        yield Static("Reading the evidence…", classes="area-note", markup=False)

    def on_mount(self) -> None:
        self.border_title = "Scorecard"
        table = self.query_one(DataTable)
        table.add_column("Area", key="area", width=_AREA_W)
        table.add_column("Colour", key="colour", width=_COLOUR_W)
        table.add_column("Why, decision", key="why", width=WHY_MIN)

    def show(self, view: ScorecardView | None) -> None:
        """Render a view; rows are matched by area and updated where they stand."""
        self.view = view
        if view is None:
            return
        self.border_title = f"Scorecard · {view.gates_short}"
        self.border_subtitle = f"never averaged · {view.as_of}" if view.as_of else ""
        table = self.query_one(DataTable)
        width = self._why_width()
        table.columns["why"].width = width
        with self.app.batch_update():
            for row in view.rows:
                # What a person did or must do comes first; the why fills what is left.
                why = f"{row.flag} · {row.why}" if row.flag else row.why
                cells = (
                    row.title,
                    status_text(row.colour, width=_COLOUR_W),
                    Text(clip_words(why, width)),
                )
                if row.id in table.rows:
                    for key, value in zip(("area", "colour", "why"), cells, strict=True):
                        table.update_cell(row.id, key, value)
                else:
                    table.add_row(*cells, key=row.id)
        self._note()

    def _note(self) -> None:
        """The highlighted area in full: what the Why column had no room for."""
        area = self.current_area
        row = next((r for r in self.view.rows if r.id == area), None) if self.view else None
        note = self.query_one(".area-note", Static)
        if row is None:
            note.update("")
            return
        flag = f" [{row.detail_flag}]" if row.detail_flag else ""
        width = max(20, (note.content_region.width or self.size.width - 4))
        note.update(clip_words(f"{row.title}{flag}: {row.why} (enter: evidence)", 2 * width - 4))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._note()

    def _why_width(self) -> int:
        inner = self.query_one(DataTable).size.width or (self.size.width - 2)
        return max(WHY_MIN, inner - (_AREA_W + 2) - (_COLOUR_W + 2) - 2 - 1)

    def on_resize(self) -> None:
        if self.view is not None:
            self.show(self.view)

    @property
    def current_area(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        area = str(event.row_key.value)
        if self.view is not None:
            self.post_message(self.DetailRequested(area, self.view.detail.get(area, ())))

    def action_decide(self, action: str) -> None:
        area = self.current_area
        if area is not None:
            self.post_message(self.DecisionRequested(area, action))
