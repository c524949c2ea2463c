"""The audit pane: the newest audit entries, appended in place as they arrive."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from console.views.audit import AuditRow


class AuditPane(DataTable):
    """Keeps the last ``keep`` entries; new rows are added, old ones dropped, never refilled."""

    def __init__(self, *, keep: int = 200, **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)
        self.keep = keep
        self._last_seq = 0

    def on_mount(self) -> None:
        self.border_title = "Audit log"
        self.add_column(Text("#", justify="right"), key="seq", width=5)
        self.add_column("UTC", key="time", width=8)
        self.add_column("Action", key="action", width=15)
        self.add_column("Step", key="step", width=14)
        self.add_column("Outcome", key="outcome")

    @property
    def last_seq(self) -> int:
        return self._last_seq

    def append(self, rows: list[AuditRow], *, verified: str | None = None) -> None:
        """Add entries newer than what is shown; scroll to the newest."""
        new = [r for r in rows if r.seq > self._last_seq]
        with self.app.batch_update():
            for row in new:
                self.add_row(
                    Text(str(row.seq), justify="right"),
                    row.time,
                    row.action,
                    row.step,
                    row.outcome,
                    key=str(row.seq),
                )
                self._last_seq = row.seq
            while self.row_count > self.keep:
                self.remove_row(self.coordinate_to_cell_key((0, 0)).row_key)
        if new:
            self.move_cursor(row=self.row_count - 1, animate=False)
        if verified is not None:
            self.border_subtitle = verified
