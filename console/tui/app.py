"""The Textual console: wires the run database and the engine to the panes.

Only wiring lives here: the layout, which pane shows beside the runbook, the workers
and the handlers of their messages. Every read of the run database and every Kafka
call runs in a thread worker that posts a past-tense message back
(:mod:`console.tui.messages`); what the panes show is worked out by
:mod:`console.tui.present`; what each key and ``:`` command does is the command table
(:mod:`console.tui.commands`). Every read of the run database goes through the one
refresh chain (:mod:`console.tui.refresh`): it re-arms only after the previous read
finished, and ``r``, a finished step or a live comparison increment move its next read
to now instead of starting loops of their own.
"""

from __future__ import annotations

import dataclasses
import io
import threading
from dataclasses import dataclass

from rich.console import Console
from textual import on, work
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import ContentSwitcher, DataTable, Footer, Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from console import redact, runbook
from console.compare import history
from console.compare.engine import compare_live
from console.compare.model import CompareError
from console.errors import CutoverError
from console.governance import evidence as governance_evidence
from console.plan.steps import BY_ID, def_of, step_key
from console.runbook import Outcome
from console.scorecard import approvals
from console.scorecard.export import label
from console.store import Store
from console.store.audit import Verdict
from console.tui import commands, present
from console.tui.keymap import Keymap, keymap_path, load_keymap
from console.tui.messages import (
    Approved,
    ChainVerified,
    ComparisonProgressed,
    DecisionPrepared,
    GatePrepared,
    GovernanceDecided,
    LiveCompared,
    SafeDetailLoaded,
    SecretRevealed,
    StateLoaded,
    StepFinished,
    StepProgressed,
)
from console.tui.refresh import RefreshChain
from console.tui.screens.decision import DecisionDialog
from console.tui.screens.detail import DetailScreen
from console.tui.screens.gate import GateDialog
from console.tui.screens.help import HelpScreen
from console.views.header import HeaderInfo
from console.views.status import status
from widgets.audit_pane import AuditPane
from widgets.comparison_pane import ComparisonPane
from widgets.governance_pane import GovernancePane
from widgets.header_bar import HeaderBar
from widgets.inventory_pane import InventoryPane
from widgets.lag_pane import LagPane
from widgets.offsets_pane import OffsetsPane
from widgets.runbook_pane import RunbookPane
from widgets.safe_pane import SafePane
from widgets.scorecard_pane import ScorecardPane
from widgets.step_detail import StepDetailPane
from widgets.traffic_pane import TrafficPane

MIN_WIDTH, MIN_HEIGHT = 80, 24
POLL_SECONDS = 2.0
VERIFY_EVERY = 15
"""Every this many reads (about 30 s) the audit chain is verified again."""


@dataclass(frozen=True)
class PaneDef:
    """A data pane beside the runbook, and the phase whose steps it follows."""

    id: str
    phase: str
    shows_progress: bool = False
    """It shows a running step's progress (the steps of its phase)."""
    steps: tuple[str, ...] = ()
    """Steps it follows instead of their phase's pane."""


PANES = (
    PaneDef("inventory", "inventory"),
    PaneDef("lag", "shadow"),
    PaneDef("safe", "safe-consumers"),
    PaneDef("comparison", "comparison", shows_progress=True),
    PaneDef("governance", "", steps=("governance", "governance-apply")),
    PaneDef("traffic", ""),
    PaneDef("offsets", "cutover"),
    PaneDef("scorecard", "review"),
)
PANE_BY_ID = {pane.id: pane for pane in PANES}
PANE_FOR_PHASE = {pane.phase: pane for pane in PANES if pane.phase}
PANE_FOR_STEP = {step: pane for pane in PANES for step in pane.steps}


class CutoverApp(App[int]):
    """The operator's console for one run database."""

    CSS_PATH = ["styles/app.tcss", "styles/panes.tcss"]
    TITLE = "Cutover Console"
    BINDINGS = commands.bindings()
    COMMANDS = App.COMMANDS | {commands.CommandsProvider}

    def __init__(
        self,
        store: Store,
        *,
        blink: bool = True,
        poll: bool = True,
        keymap: Keymap | None = None,
        gate_guard_s: float = GateDialog.GUARD_S,
    ) -> None:
        super().__init__()
        self.store = store
        # Read (and cached) before the event loop starts, so the UI thread never waits on
        # SQLite; every later read happens in a worker.
        self.plan = store.plan
        self.replay = store.readonly
        self.blink = blink
        self.poll = poll
        self.keymap = keymap or Keymap()
        """The user's keys by binding id (applied on mount; the help screen shows them)."""
        self.db_shown = str(store.path.resolve())
        """The run database's path as the help shows it."""
        self.gate_guard_s = gate_guard_s
        """How long a new gate drops keys (seconds); tests that type at once set 0."""
        self.paused = False
        self._gate_pending = False
        """A gate was asked for and is being prepared or shown: no second one opens,
        and keys meant for it do nothing else meanwhile."""
        self._held: list[tuple[str, dict]] = []
        """Notices that arrived while a gate was open, shown when it closes."""
        self._cancel: threading.Event | None = None
        self._running_step: str | None = None
        self._progress: dict[str, str] = {}
        self._snapshot: present.Snapshot | None = None
        self.refresh_chain = RefreshChain(
            interval_s=POLL_SECONDS,
            start_read=self._read,
            arm=lambda delay, callback: self.arm_timer(delay, callback),
            polling=poll,
            verify_every=VERIFY_EVERY,
        )
        """The one chain of reads of the run database (:mod:`console.tui.refresh`)."""
        self._verified: tuple[Verdict, str] | None = None
        """The last verification of the audit chain and when it ran (UTC)."""
        self._chain_told: str | None = None
        """The verification note already shown as a notification (said once)."""
        self._chain_note: str | None = present.CHAIN_PENDING
        """What the audit footer says about a verification under way or failed."""
        self.chain_alert = ""
        """``CHAIN BROKEN: <what>`` once a verification found the chain broken: the header
        says it on the main screen, and every dialog in its top row (``ChainBanner``)."""
        self._verifying = False
        self._live: threading.Event | None = None
        self._live_timer = None
        self._at: int | None = None
        """In a replay: the audit entry whose state the panes show (None: the last)."""
        self._moves: list[str] = []
        """Replay moves asked for and not yet applied by a read (one key, one move)."""
        self._moves_lock = threading.Lock()
        self._gate_kind = "step"
        """What the open gate decides: a step (``step``) or an approval."""
        # Textual reports a crash with a traceback whose locals can hold credentials; it
        # goes here instead, and run_console says what happened in one line.
        self.crash_report = io.StringIO()
        self.error_console = Console(
            file=self.crash_report, width=200, color_system=None, markup=False, highlight=False
        )

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        with Vertical(id="main"):
            with Horizontal(id="body"):
                yield RunbookPane(id="runbook")
                with Vertical(id="right"):
                    yield StepDetailPane(id="detail")
                    with ContentSwitcher(initial=PANES[0].id, id="panes"):
                        yield InventoryPane(id="inventory")
                        yield LagPane(id="lag")
                        yield SafePane(id="safe")
                        yield ComparisonPane(id="comparison")
                        yield GovernancePane(id="governance")
                        yield TrafficPane(id="traffic")
                        yield OffsetsPane(id="offsets")
                        yield ScorecardPane(id="scorecard")
            yield AuditPane(id="audit")
        yield Static("", id="too-small")
        # In the flow above the footer, not docked: two widgets docked at the bottom
        # overlap, and the footer hid everything typed here.
        bar = Input(placeholder=":command  (? for help)", id="command-bar", compact=True)
        bar.cursor_blink = self.blink  # a blinking cursor made the bar's snapshot flaky
        yield bar
        yield Footer()

    def on_mount(self) -> None:
        if self.keymap.keys:
            self.set_keymap(self.keymap.keys)
        for problem in self.keymap.problems:
            self.notify(problem, title="Keymap", severity="warning", timeout=15)
        plan = self.plan
        self._header_info = HeaderInfo(
            plan.name,
            plan.clusters.source.bootstrap_servers,
            plan.clusters.target.bootstrap_servers,
        )
        self._show_header()
        self.query_one(ScorecardPane).read_only = self.replay
        self.query_one(RunbookPane).focus()
        self._check_size(self.size.width, self.size.height)
        self.refresh_chain.now(verify=True)

    def _show_header(self) -> None:
        """The header, with the mode as it is now: replay (at which entry), paused or live."""
        mode = "PAUSED" if self.paused else "LIVE"
        if self.replay:
            pos = self._snapshot.position if self._snapshot else None
            mode = f"REPLAY #{pos.seq}/{pos.head} {pos.ts[11:19]}" if pos else "REPLAY (read-only)"
        self.query_one(HeaderBar).show(dataclasses.replace(self._header_info, mode=mode))

    def on_resize(self, event) -> None:
        self._check_size(event.size.width, event.size.height)

    def _check_size(self, width: int, height: int) -> None:
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        self.screen.set_class(small, "-too-small")
        if small:
            self.query_one("#too-small", Static).update(
                f"The terminal is {width}x{height}; Cutover Console needs at least "
                f"{MIN_WIDTH}x{MIN_HEIGHT}.\nEnlarge the window. Nothing is lost: "
                "running work goes on and the screen returns when there is room."
            )

    # -- loading --------------------------------------------------------------------------

    def arm_timer(self, delay: float, callback) -> Timer:
        """The refresh chain's timer: the app's own (tests put a clock of theirs here)."""
        return self.set_timer(delay, callback)

    def refresh_now(self, verify: bool = False) -> None:
        """Bring the panes up to date now, through the one refresh chain."""
        self.refresh_chain.now(verify=verify)

    def _read(self, verify: bool) -> None:
        """The refresh chain's read: the run database now, and (every so often, on ``r``)
        the audit chain in a worker of its own, so a long walk never holds the panes."""
        self._read_db()
        # A replay's first read verifies every entry itself (the scorecard as of each
        # entry rests on it), and says so: no second walk of the same file.
        if verify and not (self.replay and self._verified is None):
            self._verify()

    @work(thread=True, exclusive=True, group="load", exit_on_error=False, description="read db")
    def _read_db(self) -> None:
        recover_steps = not (self.store.readonly or self._running_step)
        verdict = self._verified[0] if self._verified else None
        at, note = None, ""
        if self.replay:
            with self._moves_lock:
                moves, self._moves = self._moves, []
            start = self._at if self._at is not None else self.store.history.head()
            at, note = present.move(self.store, start, moves)
        if self.replay and verdict is None:
            verdict, verified_at = present.verify_chain(self.store, full=True)
            self.post_message(ChainVerified(verdict, verified_at))
        snapshot = present.load_snapshot(
            self.store, recover_steps=recover_steps, at=at, verdict=verdict
        )
        if get_current_worker().is_cancelled:
            return  # the console is closing (or the read was superseded): show nothing
        self.post_message(StateLoaded(snapshot, note))

    def on_state_loaded(self, message: StateLoaded) -> None:
        snap = message.snapshot
        self._snapshot = snap
        for note in snap.recovered:
            self.notify(note, title="Step interrupted", severity="warning", timeout=10)
        if snap.position is not None:
            self._at = snap.position.seq
        if message.note:
            self.notify(message.note, title="Replay")
        self._render_snapshot()
        if self.replay:
            self._show_header()
        self.refresh_chain.finished()

    def _verify(self, full: bool = False) -> None:
        """Start a verification unless one is running: a walk cannot be interrupted, and two
        at once would only share the CPU and finish later."""
        if self._verifying:
            if full:
                self.notify("The audit chain is being verified; ask again when it is done.")
            return
        self._verifying = True
        if full:
            self._show_chain(present.CHAIN_PENDING_FULL)
        self.verify_chain(full)

    @work(thread=True, group="verify", exit_on_error=False, description="verify audit chain")
    def verify_chain(self, full: bool = False) -> None:
        """A worker of its own, on a database connection of its own: step states draw at
        once however long the chain is, and the verdict follows when the walk ends."""
        verdict, verified_at = present.verify_chain(self.store, full=full)
        self.post_message(ChainVerified(verdict, verified_at))

    def on_chain_verified(self, message: ChainVerified) -> None:
        self._verifying = False
        if not message.verdict.ok:
            self.notify(message.verdict.problem or "", title="Audit chain broken", severity="error")
        elif message.verdict.note and message.verdict.note != self._chain_told:
            # An older run database: what its verification could not check, said once.
            self._chain_told = message.verdict.note
            self.notify(message.verdict.note, title="Audit chain", severity="warning", timeout=30)
        self._verified = (message.verdict, message.verified_at)
        # The header is on every screen: a broken chain is never out of sight.
        problem = message.verdict.problem
        self.chain_alert = "" if message.verdict.ok else f"CHAIN BROKEN: {problem}"
        chain = "" if message.verdict.ok else "CHAIN BROKEN"
        if chain != self._header_info.chain:
            self._header_info = dataclasses.replace(self._header_info, chain=chain)
            self._show_header()
        self._show_chain(None)
        if self._snapshot is not None:
            # The scorecard's governance area rests on the verdict: fold it in now.
            self._snapshot = present.with_verdict(self._snapshot, message.verdict)
            self.query_one(ScorecardPane).show(self._snapshot.scorecard)

    def _show_chain(self, note: str | None) -> None:
        self._chain_note = note
        self.query_one(AuditPane).append([], footer=self._audit_footer())

    def _audit_footer(self) -> str:
        entries = self._snapshot.audit if self._snapshot else []
        return present.audit_footer(entries, self._verified, self._chain_note)

    def _render_snapshot(self) -> None:
        snap = self._snapshot
        if snap is None:
            return
        pane = self.query_one(RunbookPane)
        pane.show(present.step_views(snap))
        audit = self.query_one(AuditPane)
        if snap.position is not None:
            audit.show_upto(present.audit_rows(snap), footer=self._audit_footer())
        else:
            audit.append(present.audit_rows(snap), footer=self._audit_footer())
        self.query_one(InventoryPane).show(present.inventory_view(snap.inventory))
        self.query_one(LagPane).show(snap.lag)
        self.query_one(SafePane).show(snap.safe)
        self.query_one(GovernancePane).show(snap.governance)
        self.query_one(TrafficPane).show(snap.traffic)
        self.query_one(ComparisonPane).show(snap.comparison)
        self.query_one(OffsetsPane).show(snap.offsets)
        self.query_one(ScorecardPane).show(snap.scorecard)
        if snap.inventory is not None:
            self._header_info = present.with_releases(self._header_info, snap.inventory)
            self._show_header()
        self._show_detail(pane.current_step)

    def _show_detail(self, step_id: str | None) -> None:
        if step_id is None or self._snapshot is None:
            return
        progress = self._progress.get(step_id, "") if self._running_step == step_id else ""
        detail = present.step_detail(self._snapshot, step_id, replay=self.replay, progress=progress)
        if detail is not None:
            self.query_one(StepDetailPane).show(detail)

    @on(RunbookPane.StepFocused)
    def _step_focused(self, message: RunbookPane.StepFocused) -> None:
        self._show_detail(message.step_id)
        step = def_of(message.step_id)
        pane = PANE_FOR_STEP.get(step.id) or PANE_FOR_PHASE.get(step.phase)
        if pane is not None:
            self.action_show_pane(pane.id)

    def action_show_pane(self, pane_id: str, focus: bool = False) -> None:
        """Show one of the data panes beside the runbook; with ``focus``, its table too."""
        self.query_one("#panes", ContentSwitcher).current = PANE_BY_ID[pane_id].id
        if focus:
            self.query_one(f"#{pane_id}").query_one(DataTable).focus()

    def action_focus_pane(self, pane_id: str) -> None:
        """Move the focus to the runbook or the audit log."""
        self.query_one(f"#{pane_id}").focus()

    def _progress_pane(self, step_id: str) -> ComparisonPane | None:
        """The pane that shows a running step's progress, if its phase has one."""
        pane = PANE_FOR_PHASE.get(def_of(step_id).phase)
        if pane is None or not pane.shows_progress:
            return None
        return self.query_one(f"#{pane.id}", ComparisonPane)

    @on(ComparisonPane.DetailRequested)
    def _comparison_detail(self, message: ComparisonPane.DetailRequested) -> None:
        self.push_screen(DetailScreen(message.title, message.lines))

    @on(AuditPane.EntryChosen)
    def _audit_detail(self, message: AuditPane.EntryChosen) -> None:
        entries = self._snapshot.audit if self._snapshot else []
        entry = next((e for e in entries if e.seq == message.seq), None)
        if entry is not None:
            self.push_screen(DetailScreen(*present.audit_detail(entry)))

    @on(InventoryPane.DetailRequested)
    def _inventory_detail(self, message: InventoryPane.DetailRequested) -> None:
        if self._snapshot is None or self._snapshot.inventory is None:
            return
        title, lines = present.inventory_detail(self._snapshot.inventory, message.kind, message.key)
        self.push_screen(DetailScreen(title, lines))

    @on(GovernancePane.DetailRequested)
    @on(TrafficPane.DetailRequested)
    def _pane_detail(self, message) -> None:
        self.push_screen(DetailScreen(message.title, message.lines))

    @on(GovernancePane.DecisionRequested)
    def _governance_decision(self, message: GovernancePane.DecisionRequested) -> None:
        if self.replay:
            self.notify("Replay is read-only: decisions cannot be made here.", severity="warning")
            return
        self._decide_governance(message.key, message.decision)

    @work(thread=True, group="decide", exit_on_error=False, description="record decision")
    def _decide_governance(self, key: str, decision: str) -> None:
        try:
            item = governance_evidence.decide(self.store, key, decision, via="console")
        except CutoverError as exc:
            self.post_message(GovernanceDecided(key, None, str(exc)))
            return
        self.post_message(GovernanceDecided(key, item["decision"], ""))

    def on_governance_decided(self, message: GovernanceDecided) -> None:
        if message.error:
            self.notify(message.error, title="Not recorded", severity="error")
        else:
            self.notify(f"{message.key}: {message.decision}", title="Decision recorded")
        self.refresh_now()

    @on(SafePane.DetailRequested)
    def _safe_detail(self, message: SafePane.DetailRequested) -> None:
        self._load_safe_detail(message.consumer)

    @work(thread=True, group="detail", exit_on_error=False, description="read errors")
    def _load_safe_detail(self, consumer: str) -> None:
        self.post_message(SafeDetailLoaded(*present.safe_detail(self.store, consumer)))

    def on_safe_detail_loaded(self, message: SafeDetailLoaded) -> None:
        self.push_screen(DetailScreen(message.title, message.lines))

    def on_secret_revealed(self, message: SecretRevealed) -> None:
        lines = [
            f"NEW {message.what}.",
            "Shown this once: cutover keeps it nowhere (not in the run database, the",
            "audit log or any log). Store it now, for example:",
            "  cutover credentials set shadow:NAME --db RUN.db",
            "",
            f"  {message.secret}",
        ]
        self.push_screen(DetailScreen("Shown once", lines))

    # -- gates and steps ------------------------------------------------------------------

    @on(ScorecardPane.DetailRequested)
    def _scorecard_detail(self, message: ScorecardPane.DetailRequested) -> None:
        self.push_screen(DetailScreen(f"Scorecard: {message.area}", list(message.lines)))

    @on(RunbookPane.StepChosen)
    def _step_chosen(self, message: RunbookPane.StepChosen) -> None:
        if def_of(message.step_id).id == "scorecard":
            # A decision needs more than a word: it is recorded from the scorecard pane.
            self._focus_area(message.step_id.partition(":")[2])
            return
        self.open_gate(message.step_id)

    def _focus_area(self, area: str) -> None:
        self.action_show_pane("scorecard", True)
        table = self.query_one(ScorecardPane).query_one(DataTable)
        if area in table.rows:
            table.move_cursor(row=table.get_row_index(area))
        self.notify(f"{area}: o owner and retest · w waive · u withdraw · m judge · enter detail")

    # -- scorecard decisions and approvals --------------------------------------------------

    @on(ScorecardPane.DecisionRequested)
    def _decision_requested(self, message: ScorecardPane.DecisionRequested) -> None:
        self.action_decide(message.area, message.action)

    def action_decide(self, area: str, action: str) -> None:
        """Record a decision on a scorecard area: a form, then the gate."""
        if self._gate_pending:
            return
        self._gate_pending = True
        self._prepare_decision(area, action)

    @work(thread=True, group="gate", exit_on_error=False, description="prepare decision")
    def _prepare_decision(self, area: str, action: str) -> None:
        snap = self._snapshot
        card = snap.areas.get(area) if snap else None
        ident = approvals.identity(self.plan)
        about = [
            f"{area} is {label(card.colour)}: {card.summary}" if card else area,
            f"You are {ident.describe()}.",
        ]
        self.post_message(DecisionPrepared(area, action, about))

    def on_decision_prepared(self, message: DecisionPrepared) -> None:
        self.push_screen(
            DecisionDialog(message.area, message.action, message.about),
            lambda params: self._decision_entered(message.area, params),
        )

    def _decision_entered(self, area: str, params: dict | None) -> None:
        if params is None:
            self._gate_pending = False
            return
        self._prepare_gate(step_key("scorecard", area), params)

    def action_approve(self, subject: str | None = None) -> None:
        """Approve a cutover step or a waiver as this login, behind its own gate."""
        if not subject:
            self.notify("':approve' needs what to approve: move-group:NAME or waiver:N")
            return
        if self._gate_pending:
            return
        self._gate_pending = True
        self._prepare_approval(subject)

    @work(thread=True, group="gate", exit_on_error=False, description="prepare approval")
    def _prepare_approval(self, subject: str) -> None:
        gate = approvals.approval_gate(self.store, subject)
        self.post_message(GatePrepared(gate, kind="approval"))

    @work(thread=True, group="step", exit_on_error=False, description="approve")
    def _approve(self, subject: str, typed: str | None) -> None:
        result = approvals.approve(self.store, subject, typed, via="console")
        self.post_message(Approved(result.granted, result.message))

    def on_approved(self, message: Approved) -> None:
        severity = "information" if message.granted else "warning"
        self.notify(message.message, title="Approval", severity=severity)
        self.refresh_now()

    def action_gate(self, step_id: str | None = None) -> None:
        """Open the gate of a step: the highlighted one, or the one named."""
        if step_id is None:
            step_id = self.query_one(RunbookPane).current_step
        elif not present.known_step(self._snapshot, step_id):
            self.notify(
                f"No step '{step_id}'. Steps: {', '.join(present.step_keys(self._snapshot))}",
                severity="error",
            )
            return
        if step_id:
            self.open_gate(step_id)

    def open_gate(self, step_id: str) -> None:
        step = def_of(step_id)
        if step.target and ":" not in step_id:
            self.notify(
                f"'{step.title}' runs on one {step.target} at a time: highlight one under it "
                f"and press enter, or :run {step.id}:NAME",
                severity="warning",
            )
            return
        if self.replay:
            self.notify("Replay is read-only: steps cannot run here.", severity="warning")
            return
        if self._gate_pending:
            return  # an enter pressed again while the first gate is being prepared
        self._gate_pending = True
        self._prepare_gate(step_id)

    @work(thread=True, group="gate", exit_on_error=False, description="prepare gate")
    def _prepare_gate(self, step_id: str, params: dict | None = None) -> None:
        gate = (
            runbook.preview(self.store, step_id, params)
            if params
            else runbook.preview(self.store, step_id)
        )
        self.post_message(GatePrepared(gate, params))

    def on_gate_prepared(self, message: GatePrepared) -> None:
        gate, params, kind = message.gate, message.params, message.kind
        self._gate_kind = kind
        self.push_screen(
            GateDialog(gate, blink=self.blink, guard_s=self.gate_guard_s),
            lambda typed: self._gate_closed(gate.step, typed, params, kind),
        )

    @on(GateDialog.Refused)
    def _gate_refused(self, message: GateDialog.Refused) -> None:
        if self._gate_kind == "approval":
            self._approve(message.step, message.typed)
            return
        self._record_refusal(message.step, message.typed)

    @work(thread=True, group="step", exit_on_error=False, description="record refusal")
    def _record_refusal(self, step_id: str, typed: str) -> None:
        runbook.decide(self.store, step_id, typed, via="console")
        self.call_from_thread(self.refresh_now)

    def _gate_closed(
        self, step_id: str, typed: str | None, params: dict | None = None, kind: str = "step"
    ) -> None:
        self._gate_pending = False
        held, self._held = self._held, []
        for message, kwargs in held:
            self.notify(message, **kwargs)
        if kind == "approval":
            self._approve(step_id, typed)
            return
        self._decide_and_run(step_id, typed, params)

    def notify(self, message: str, **kwargs) -> None:
        """A notice; while a gate is open it is held (a toast would hide the gate's
        buttons or what it says) and shown when the gate closes."""
        if isinstance(self.screen, GateDialog):
            self._held.append((message, kwargs))
            self.screen.held(len(self._held))
            return
        super().notify(message, **kwargs)

    @work(thread=True, group="step", exit_on_error=False, description="run step")
    def _decide_and_run(self, step_id: str, typed: str | None, params: dict | None = None) -> None:
        decision = runbook.decide(self.store, step_id, typed, via="console", params=params)
        if not decision.opened:
            self.post_message(StepFinished(step_id, decision.outcome, decision.message, gate=True))
            return
        cancel = threading.Event()
        self._cancel, self._running_step = cancel, step_id
        try:
            self.call_from_thread(self.refresh_now)
            outcome = runbook.run(
                self.store,
                step_id,
                cancel=cancel,
                progress=lambda text: self.post_message(StepProgressed(step_id, text)),
                reveal=lambda what, secret: self.post_message(SecretRevealed(what, secret)),
                notes=decision.notes,
                params=params,
            )
        finally:
            self._cancel, self._running_step = None, None
        self.post_message(StepFinished(step_id, outcome.outcome, outcome.reason, gate=False))

    def on_step_progressed(self, message: StepProgressed) -> None:
        self._progress[message.step_id] = message.text
        self._show_detail(message.step_id)
        pane = self._progress_pane(message.step_id)
        if pane is not None:
            pane.show_progress(message.text)

    def on_step_finished(self, message: StepFinished) -> None:
        self._progress.pop(message.step_id, None)
        pane = self._progress_pane(message.step_id)
        if pane is not None:
            pane.show_progress(None)
        title = message.step_id
        word = status(message.outcome.value).word
        if message.gate:
            self.notify(message.reason, title=f"Gate: {title}", severity="warning")
        elif message.outcome is Outcome.PASSED:
            self.notify(f"{title}: {word}", title="Step finished")
        elif message.outcome is Outcome.CANCELLED:
            self.notify(
                f"{title}: {word}: {message.reason}", title="Step finished", severity="warning"
            )
        else:
            self.notify(
                f"{title}: {word}: {message.reason}",
                title="Step finished",
                severity="error",
                timeout=15,
            )
        self.refresh_now()

    def action_cancel_step(self) -> None:
        if self._cancel is None and self._live is None:
            self.notify("No step or live comparison is running.")
            return
        if self._cancel is not None:
            self._cancel.set()
        if self._live is not None:
            self._stop_live()
        self.notify("Cancelling after the current request…")

    # -- live comparison --------------------------------------------------------------------

    def action_live(self) -> None:
        """Toggle live comparison: re-compare only what is new, one increment at a time."""
        if self._live is not None:
            self._stop_live()
            self.notify("Live comparison off")
            return
        self._live = threading.Event()
        self.action_show_pane("comparison")
        self.notify("Live comparison on (l or x stops it)")
        self._live_increment()

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.set()
        self._live = None
        if self._live_timer is not None:
            self._live_timer.stop()
        self.query_one(ComparisonPane).show_progress(None)
        self._audit_live()

    @work(thread=True, group="live-audit", exit_on_error=False, description="audit live")
    def _audit_live(self) -> None:
        # Live increments are audited in groups; stopping closes the group now.
        history.flush_live_audit(self.store)

    @work(thread=True, exclusive=True, group="live", exit_on_error=False, description="compare")
    def _live_increment(self) -> None:
        cancel = self._live
        if cancel is None or cancel.is_set():
            return
        try:
            compare_live(
                self.store,
                cancel=cancel,
                progress=lambda text: self.post_message(ComparisonProgressed(text)),
            )
        except CompareError as exc:
            self.post_message(LiveCompared(str(exc), cancel))
            return
        except Exception as exc:  # noqa: BLE001 - Cancelled and cluster trouble end the round
            self.post_message(LiveCompared(None if cancel.is_set() else str(exc), cancel))
            return
        self.post_message(LiveCompared(None, cancel))

    def on_comparison_progressed(self, message: ComparisonProgressed) -> None:
        if self._live is not None:
            self.query_one(ComparisonPane).show_progress(message.text)

    def on_live_compared(self, message: LiveCompared) -> None:
        if message.run is not self._live:
            return  # an increment of a live comparison switched off since: its chain ended
        self.query_one(ComparisonPane).show_progress(None)
        if message.error:
            self._stop_live()
            self.notify(
                redact.text(message.error), title="Live comparison stopped", severity="error"
            )
            return
        self.refresh_now()
        if self._live is not None and not self._live.is_set():
            # Re-arm only after this increment finished, so slow reads never stack up.
            self._live_timer = self.set_timer(POLL_SECONDS * 2, self._live_increment)

    # -- keys and commands ------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # While a gate is being prepared the operator may type ahead: keys meant for it
        # (its word has r, p, l, x in it) must not refresh, pause or cancel meanwhile.
        if self._gate_pending and not isinstance(self.screen, (GateDialog, DecisionDialog)):
            return action == "quit"
        # The timeline keys exist only in a replay; what changes anything is off the
        # footer there (and refused at once if pressed: see run_action).
        if action in commands.REPLAY_ONLY:
            return self.replay
        return not (self.replay and action in commands.MUTATING)

    async def run_action(self, action, default_namespace=None, namespaces=None) -> bool:
        """Every key, ``:`` command and palette entry comes through here: in a replay,
        what would change anything is refused at once, in words, before anything is
        looked up (no password, no connection, no form)."""
        if self.replay and isinstance(action, str):
            name = action.rpartition(".")[2].partition("(")[0]
            if name in commands.MUTATING:
                self.notify(
                    "Replay is read-only: nothing can run or be recorded here. "
                    "Open the run database without --replay to act.",
                    title="Read-only",
                    severity="warning",
                )
                return True
        return await super().run_action(action, default_namespace, namespaces)

    def action_replay(self, where: str | None = None) -> None:
        """Move along the audit timeline: one entry, to a gate, to a failure, to entry N."""
        if not self.replay:
            return
        where = (where or "").strip().lower()
        if not (where in present.MOVES or where in ("first", "last") or where.isdigit()):
            self.notify("':at' needs an entry number, 'first' or 'last'", severity="error")
            return
        with self._moves_lock:
            self._moves.append(where)
        self.refresh_now()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(commands.help_rows(self.keymap.keys), db=self.db_shown))

    def action_refresh(self) -> None:
        self.refresh_now(verify=True)

    def action_verify(self) -> None:
        self._verify(full=True)
        self.refresh_now()

    def action_pause(self) -> None:
        self.action_set_paused(not self.paused)

    def action_set_paused(self, paused: bool) -> None:
        if paused == self.paused:
            return
        self.paused = paused
        if paused:
            self.refresh_chain.pause()
        else:
            self.refresh_chain.resume()
        self._show_header()
        self.query_one(AuditPane).border_title = (
            "Audit log (PAUSED)" if self.paused else "Audit log"
        )
        self.notify("Live refresh paused (p resumes)" if self.paused else "Live refresh on")

    def action_command_bar(self) -> None:
        bar = self.query_one("#command-bar", Input)
        bar.value = ""
        self._show_command_bar(True)
        bar.focus()

    def _show_command_bar(self, show: bool) -> None:
        # The bar takes the footer's row while it is open (the footer then only says
        # ctrl+q), so the panes above do not shrink and re-wrap each time it opens.
        self.query_one("#command-bar", Input).set_class(show, "-open")
        self.query_one(Footer).display = not show

    def action_back(self) -> None:
        bar = self.query_one("#command-bar", Input)
        if bar.has_class("-open"):
            self._show_command_bar(False)
            self.query_one(RunbookPane).focus()

    @on(Input.Blurred, "#command-bar")
    def _command_bar_left(self) -> None:
        self._show_command_bar(False)

    @on(Input.Submitted, "#command-bar")
    async def _command(self, event: Input.Submitted) -> None:
        self._show_command_bar(False)
        self.query_one(RunbookPane).focus()
        if not event.value.strip().lstrip(":"):
            return
        command, args = commands.find(event.value)
        if command is None:
            self.notify(
                f"Unknown command ':{event.value.strip().lstrip(':')}'. Press ? for help.",
                severity="error",
            )
            return
        if command.args and not args:
            self.notify(
                f"':{command.verbs[0]}' needs {command.args}, e.g. :{command.verbs[0]} "
                f"{next(iter(BY_ID))}",
                severity="error",
            )
            return
        await self.run_action(commands.action_with(command, args))

    # -- errors -----------------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            self.notify(
                redact.text(f"{event.worker.description} failed: {type(error).__name__}: {error}"),
                title="Error",
                severity="error",
                timeout=20,
            )
            if event.worker.group == "gate":
                self._gate_pending = False
            if event.worker.group == "load":
                self.refresh_chain.finished(ok=False)
            if event.worker.group == "verify":
                self._verifying = False
                self._show_chain(present.CHAIN_FAILED)
        elif event.state is WorkerState.CANCELLED and event.worker.group == "load":
            self.refresh_chain.finished()

    def crash_summary(self) -> str:
        """The last line of a crash report (``ErrorType: message``), secrets masked."""
        lines = [line.strip() for line in self.crash_report.getvalue().splitlines()]
        lines = [line for line in lines if line]
        return redact.text(lines[-1]) if lines else "no details"


def known_binding_ids() -> list[str]:
    """Every binding id a keymap may name: the app's and its screens' and panes'."""
    owners = (
        CutoverApp,
        HelpScreen,
        DetailScreen,
        GateDialog,
        ComparisonPane,
        SafePane,
        GovernancePane,
        TrafficPane,
        DecisionDialog,
        ScorecardPane,
    )
    return [b.id for owner in owners for b in owner.BINDINGS if getattr(b, "id", None)]


def run_console(store: Store, *, headless: bool = False) -> int:
    """Run the console on an open run database (read-only means replay); the exit code.

    The user's keymap (:mod:`console.tui.keymap`) applies. A crash ends the console with
    one line, never a traceback.
    """
    keymap = load_keymap(keymap_path(), known_binding_ids())
    app = CutoverApp(store, keymap=keymap)
    result = app.run(headless=headless)
    if app.return_code == 1 and app.crash_report.getvalue():
        raise CutoverError(
            f"the console stopped on an internal error ({app.crash_summary()})",
            "the run database is intact — reopen it with 'cutover run', and please report this",
        )
    return int(result or 0)
