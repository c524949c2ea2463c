"""The one-line header: plan name, both clusters with their Kafka releases, the mode, and
CHAIN BROKEN when the audit chain is."""

from __future__ import annotations

from rich.text import Text

from console.views.header import HeaderInfo
from widgets.summary import Summary


class HeaderBar(Summary):
    """Plan, clusters and mode (and a broken audit chain), always visible at the top."""

    DEFAULT_CSS = """
    HeaderBar {
        dock: top;
        height: 1;
        background: $primary-background;
        color: $text;
        padding: 0 1;
    }
    """

    def show(self, info: HeaderInfo) -> None:
        mode_style = "bold reverse yellow" if info.mode != "LIVE" else "bold reverse green"
        # The mode comes first so a narrow terminal never cuts it off; what does not fit
        # is shortened with an ellipsis, never cut silently.
        text = Text.assemble(
            (f" {info.mode} ", mode_style),
            " ",
            *(((f"✗ {info.chain} ", "bold reverse red"), " ") if info.chain else ()),
            (info.plan, "bold"),
            "  src ",
            (info.source, ""),
            f" ({info.source_release})",
            " → tgt ",
            (info.target, ""),
            f" ({info.target_release})",
        )
        self.update(text)
