"""The Textual console: wires the run database and the engine to the panes.

Only wiring lives here. Every read of the run database and every Kafka call runs in
a thread worker that posts a past-tense message back (``StateLoaded``,
``GatePrepared``, ``StepFinished``); widgets get plain view objects. The poll loop
re-arms only after the previous read finished, so a slow disk never stacks reads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import ContentSwitcher, Footer, Input, Static
from textual.worker import Worker, WorkerState

from console import processes, redact
from console import runbook as steps
from console.plan.steps import BY_ID, StepState
from console.shadow import lag
from console.store import Evidence, StepRow, Store
from console.store.audit import Entry, Verdict
from console.tui.screens.gate import GateDialog
from console.tui.screens.help import DetailScreen, HelpScreen
from console.views.audit import AuditRow
from console.views.gate import GateView
from console.views.header import HeaderInfo
from console.views.inventory import GroupRow, InventoryView, TopicRow
from console.views.lag import LagRow, LagView
from console.views.runbook import StepDetail, StepView
from widgets.audit_pane import AuditPane
from widgets.comparison_pane import ComparisonPane
from widgets.header_bar import HeaderBar
from widgets.inventory_pane import InventoryPane
from widgets.lag_pane import LagPane
from widgets.runbook_pane import RunbookPane
from widgets.step_detail import StepDetailPane

MIN_WIDTH, MIN_HEIGHT = 80, 24
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Snapshot:
    """One read of the run database."""

    steps: list[StepRow]
    audit: list[Entry]
    inventory: Evidence | None
    verdict: Verdict | None
    recovered: list[str]
    lag: LagView | None = None
    comparison: object | None = None  # console.compare_view.ComparisonView


class StateLoaded(Message):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        super().__init__()


class GatePrepared(Message):
    def __init__(self, gate: GateView) -> None:
        self.gate = gate
        super().__init__()


class StepProgressed(Message):
    def __init__(self, step_id: str, text: str) -> None:
        self.step_id = step_id
        self.text = text
        super().__init__()


class ComparisonProgressed(Message):
    """A live comparison increment got further (posted from its worker thread)."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__()


class LiveCompared(Message):
    """One live comparison increment ended (``error`` says why when it could not run)."""

    def __init__(self, error: str | None) -> None:
        self.error = error
        super().__init__()


class StepFinished(Message):
    def __init__(self, step_id: str, state: str, reason: str) -> None:
        self.step_id = step_id
        self.state = state
        self.reason = reason
        super().__init__()


class CutoverApp(App[int]):
    """The operator's console for one run database."""

    CSS_PATH = "styles/app.tcss"
    TITLE = "Cutover Console"
    BINDINGS = [
        Binding("question_mark", "help", "Help", id="help"),
        Binding("colon", "command_bar", "Command", id="command"),
        Binding("g", "gate", "Run step", id="run-step"),
        Binding("1", "pane('inventory')", "Inventory", id="pane-inventory", show=False),
        Binding("2", "pane('lag')", "Lag", id="pane-lag", show=False),
        Binding("3", "pane('comparison')", "Comparison", id="pane-comparison", show=False),
        Binding("l", "live", "Live compare", id="live-compare", show=False),
        Binding("r", "refresh", "Refresh", id="refresh"),
        Binding("p", "pause", "Pause", id="pause"),
        Binding("x", "cancel_step", "Cancel step", id="cancel-step", show=False),
        Binding("escape", "back", "Back", show=False, id="back"),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
    ]

    def __init__(self, store: Store, *, blink: bool = True, poll: bool = True) -> None:
        super().__init__()
        self.store = store
        # Read (and cached) before the event loop starts, so the UI thread never waits on
        # SQLite; every later read happens in a worker.
        self.plan = store.plan
        self.replay = store.readonly
        self.blink = blink
        self.poll = poll
        self.paused = False
        self._cancel: threading.Event | None = None
        self._running_step: str | None = None
        self._progress: dict[str, str] = {}
        self._snapshot: Snapshot | None = None
        self._timer = None
        self._verdict_text: str | None = None
        self._live: threading.Event | None = None
        self._live_timer = None

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        with Vertical(id="main"):
            with Horizontal(id="body"):
                yield RunbookPane(id="runbook")
                with Vertical(id="right"):
                    yield StepDetailPane(id="detail")
                    with ContentSwitcher(initial="inventory", id="panes"):
                        yield InventoryPane(id="inventory")
                        yield LagPane(id="lag")
                        yield ComparisonPane(id="comparison")
            yield AuditPane(id="audit")
        yield Static("", id="too-small")
        yield Input(placeholder=":command  (? for help)", id="command-bar")
        yield Footer()

    def on_mount(self) -> None:
        plan = self.plan
        self._header_info = HeaderInfo(
            plan.name,
            plan.clusters.source.bootstrap_servers,
            plan.clusters.target.bootstrap_servers,
            mode="REPLAY (read-only)" if self.replay else "LIVE",
        )
        self.query_one(HeaderBar).show(self._header_info)
        self.query_one(RunbookPane).focus()
        self._check_size(self.size.width, self.size.height)
        self.load(verify=True)

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

    @work(thread=True, exclusive=True, group="load", exit_on_error=False, description="read db")
    def load(self, verify: bool = False) -> None:
        store = self.store
        recovered = [] if store.readonly or self._running_step else steps.recover(store)
        snapshot = Snapshot(
            steps=store.steps(),
            audit=store.audit_latest(200),
            inventory=store.latest_evidence("inventory", "inventory"),
            verdict=store.audit_verify() if verify else None,
            recovered=recovered,
            lag=_lag_view(store),
            comparison=_comparison_view(store),
        )
        self.post_message(StateLoaded(snapshot))

    def on_state_loaded(self, message: StateLoaded) -> None:
        snap = message.snapshot
        self._snapshot = snap
        for note in snap.recovered:
            self.notify(note, title="Step interrupted", severity="warning", timeout=10)
        if snap.verdict is not None:
            v = snap.verdict
            stamp = snap.audit[-1].ts[11:19] if snap.audit else "--:--:--"
            self._verdict_text = (
                f"chain OK, {v.count} entries, verified {stamp} UTC"
                if v.ok
                else f"CHAIN BROKEN: {v.problem}"
            )
            if not v.ok:
                self.notify(v.problem or "", title="Audit chain broken", severity="error")
        self._render_snapshot()
        if self.poll and not self.paused:
            self._timer = self.set_timer(POLL_SECONDS, self.load)

    def _render_snapshot(self) -> None:
        snap = self._snapshot
        if snap is None:
            return
        pane = self.query_one(RunbookPane)
        pane.show(
            [
                StepView(r.id, r.phase, BY_ID[r.id].title, r.state.value, steps.available(r.id))
                for r in snap.steps
            ]
        )
        self.query_one(AuditPane).append(
            [
                AuditRow(
                    e.seq, e.ts[11:19], e.actor, e.action, e.step or "", _short(e.outcome or "")
                )
                for e in snap.audit
            ],
            verified=self._verdict_text,
        )
        view = _inventory_view(snap.inventory)
        self.query_one(InventoryPane).show(view)
        self.query_one(LagPane).show(snap.lag)
        self.query_one(ComparisonPane).show(snap.comparison)
        if snap.inventory is not None:
            self.query_one(HeaderBar).show(_with_releases(self._header_info, snap.inventory))
        self._show_detail(pane.current_step)

    def _show_detail(self, step_id: str | None) -> None:
        if step_id is None or self._snapshot is None:
            return
        row = next((r for r in self._snapshot.steps if r.id == step_id), None)
        if row is None:
            return
        d = BY_ID[step_id]
        self.query_one(StepDetailPane).show(
            StepDetail(
                d.title,
                d.phase_title,
                d.summary,
                row.state.value,
                row.reason,
                row.updated_at,
                steps.available(step_id) and not self.replay,
                d.confirm,
                self._progress.get(step_id, "") if self._running_step == step_id else "",
            )
        )

    @on(RunbookPane.StepFocused)
    def _step_focused(self, message: RunbookPane.StepFocused) -> None:
        self._show_detail(message.step_id)
        pane = _PHASE_PANES.get(BY_ID[message.step_id].phase)
        if pane:
            self.action_pane(pane)

    def action_pane(self, name: str) -> None:
        """Show one of the data panes beside the runbook."""
        self.query_one("#panes", ContentSwitcher).current = name

    @on(ComparisonPane.DetailRequested)
    def _comparison_detail(self, message: ComparisonPane.DetailRequested) -> None:
        self.push_screen(DetailScreen(message.title, message.lines))

    @on(InventoryPane.DetailRequested)
    def _inventory_detail(self, message: InventoryPane.DetailRequested) -> None:
        if self._snapshot is None or self._snapshot.inventory is None:
            return
        title, lines = _inventory_detail(self._snapshot.inventory, message.kind, message.key)
        self.push_screen(DetailScreen(title, lines))

    # -- gates and steps ------------------------------------------------------------------

    @on(RunbookPane.StepChosen)
    def _step_chosen(self, message: RunbookPane.StepChosen) -> None:
        self.open_gate(message.step_id)

    def action_gate(self) -> None:
        step_id = self.query_one(RunbookPane).current_step
        if step_id:
            self.open_gate(step_id)

    def open_gate(self, step_id: str) -> None:
        if self.replay:
            self.notify("Replay is read-only: steps cannot run here.", severity="warning")
            return
        self._prepare_gate(step_id)

    @work(thread=True, group="gate", exit_on_error=False, description="prepare gate")
    def _prepare_gate(self, step_id: str) -> None:
        self.post_message(GatePrepared(steps.preview(self.store, step_id)))

    def on_gate_prepared(self, message: GatePrepared) -> None:
        gate = message.gate
        self.push_screen(
            GateDialog(gate, blink=self.blink),
            lambda typed: self._decided(gate.step, typed),
        )

    def _decided(self, step_id: str, typed: str | None) -> None:
        self._decide_and_run(step_id, typed)

    @work(thread=True, group="step", exit_on_error=False, description="run step")
    def _decide_and_run(self, step_id: str, typed: str | None) -> None:
        opened, message = steps.decide(self.store, step_id, typed, via="console")
        if not opened:
            self.post_message(StepFinished(step_id, "", message))
            return
        cancel = threading.Event()
        self._cancel, self._running_step = cancel, step_id
        try:
            self.load()
            outcome = steps.run(
                self.store,
                step_id,
                cancel=cancel,
                progress=lambda text: self.post_message(StepProgressed(step_id, text)),
            )
        finally:
            self._cancel, self._running_step = None, None
        self.post_message(StepFinished(step_id, outcome.state.value, outcome.reason))

    def on_step_progressed(self, message: StepProgressed) -> None:
        self._progress[message.step_id] = message.text
        self._show_detail(message.step_id)
        if message.step_id == "compare":
            self.query_one(ComparisonPane).show_progress(message.text)

    def on_step_finished(self, message: StepFinished) -> None:
        self._progress.pop(message.step_id, None)
        if message.step_id == "compare":
            self.query_one(ComparisonPane).show_progress(None)
        title = BY_ID[message.step_id].title
        if not message.state:
            self.notify(message.reason, title=f"Gate: {title}", severity="warning")
        elif message.state == StepState.PASSED.value:
            self.notify(f"{title}: PASSED", title="Step finished")
        else:
            self.notify(
                f"{title}: {message.state.upper()}: {message.reason}",
                title="Step finished",
                severity="error",
                timeout=15,
            )
        self.load()

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
        self.action_pane("comparison")
        self.notify("Live comparison on (l or x stops it)")
        self._live_increment()

    def _stop_live(self) -> None:
        if self._live is not None:
            self._live.set()
        self._live = None
        if self._live_timer is not None:
            self._live_timer.stop()
        self.query_one(ComparisonPane).show_progress(None)

    @work(thread=True, exclusive=True, group="live", exit_on_error=False, description="compare")
    def _live_increment(self) -> None:
        from console.compare.engine import compare_live
        from console.compare.model import CompareError

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
            self.post_message(LiveCompared(str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - Cancelled and cluster trouble end the round
            self.post_message(LiveCompared(None if cancel.is_set() else str(exc)))
            return
        self.post_message(LiveCompared(None))

    def on_comparison_progressed(self, message: ComparisonProgressed) -> None:
        if self._live is not None:
            self.query_one(ComparisonPane).show_progress(message.text)

    def on_live_compared(self, message: LiveCompared) -> None:
        self.query_one(ComparisonPane).show_progress(None)
        if message.error:
            self._stop_live()
            self.notify(
                redact.text(message.error), title="Live comparison stopped", severity="error"
            )
            return
        self.load()
        if self._live is not None and not self._live.is_set():
            # Re-arm only after this increment finished, so slow reads never stack up.
            self._live_timer = self.set_timer(POLL_SECONDS * 2, self._live_increment)

    # -- keys and commands ------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        # Replay can look at everything and change nothing, and opens no connection:
        # running steps and live comparison do not exist there.
        return not (self.replay and action in ("gate", "cancel_step", "live"))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_refresh(self) -> None:
        self.load(verify=True)

    def action_pause(self) -> None:
        self.paused = not self.paused
        if self.paused and self._timer is not None:
            self._timer.stop()
        if not self.paused:
            self.load()
        self.query_one(AuditPane).border_title = (
            "Audit log (PAUSED)" if self.paused else "Audit log"
        )
        self.notify("Live refresh paused (p resumes)" if self.paused else "Live refresh on")

    def action_command_bar(self) -> None:
        bar = self.query_one("#command-bar", Input)
        bar.add_class("-open")
        bar.value = ""
        bar.focus()

    def action_back(self) -> None:
        bar = self.query_one("#command-bar", Input)
        if bar.has_class("-open"):
            bar.remove_class("-open")
            self.query_one(RunbookPane).focus()

    @on(Input.Submitted, "#command-bar")
    def _command(self, event: Input.Submitted) -> None:
        event.input.remove_class("-open")
        self.query_one(RunbookPane).focus()
        words = event.value.strip().lstrip(":").split()
        if not words:
            return
        verb, args = words[0].lower(), words[1:]
        if verb in ("q", "quit"):
            self.exit(0)
        elif verb == "run" and args:
            if args[0] not in BY_ID:
                self.notify(f"No step '{args[0]}'. Steps: {', '.join(BY_ID)}", severity="error")
            else:
                self.open_gate(args[0])
        elif verb in ("runbook", "audit"):
            self.query_one(RunbookPane if verb == "runbook" else AuditPane).focus()
        elif verb == "live":
            self.action_live()
        elif verb in ("inventory", "lag", "comparison"):
            self.action_pane(verb)
            self.query_one(f"#{verb}").query_one("DataTable").focus()
        elif verb == "refresh":
            self.action_refresh()
        elif verb in ("pause", "resume"):
            if (verb == "pause") != self.paused:
                self.action_pause()
        elif verb == "verify":
            self.load(verify=True)
        elif verb == "help":
            self.action_help()
        else:
            self.notify(
                f"Unknown command ':{event.value.strip()}'. Press ? for help.", severity="error"
            )

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
            if event.worker.group == "load" and self.poll and not self.paused:
                self._timer = self.set_timer(POLL_SECONDS * 2, self.load)

    def _fatal_error(self) -> None:
        # Textual's default prints a traceback with local variables, which can hold
        # credentials. Say what happened in one line instead.
        error = self._exception
        self._exit_renderables.append(
            Text(
                redact.text(
                    f"cutover: the console stopped on an internal error "
                    f"({type(error).__name__}: {error}); the run database is intact — "
                    "reopen it with 'cutover run', and please report this"
                )
            )
        )
        self._close_messages_no_wait()


_SIDE = {"source": "src", "target": "tgt"}
_PHASE_PANES = {"inventory": "inventory", "shadow": "lag", "comparison": "comparison"}


def _comparison_view(store: Store):
    """The comparison pane's view of the latest window, or None before any."""
    from console.compare.history import load_view

    view = load_view(store)
    return view if view.window is not None else None


def _lag_view(store: Store) -> LagView | None:
    """The lag pane's view: topic totals over their partitions, worst first."""
    procs = [p for p in processes.all_processes(store) if p.name in ("mirror", "sampler", "mm2")]
    trends = lag.latest_trends(store, store.plan)
    if not procs and not trends:
        return None
    as_of = lag.last_sample_time(store)
    lines = []
    for p in procs:
        age = p.heartbeat_age_s
        if p.name == "mm2":  # connectors on a Connect cluster: no process of ours
            seen = f" as of {age:.0f} s ago" if age is not None else ""
            lines.append(f"MM2 {p.state.upper()}{seen}: {_short(p.detail, 120)}")
            continue
        beat = f", heartbeat {age:.0f} s ago" if age is not None else ""
        lines.append(f"{p.name} {p.status} pid {p.pid}{beat}: {_short(p.detail, 50)}")
    rank = {"RED": 0, "NO_DATA": 1, "WARN": 2, "OK": 3}
    by_topic: dict[str, list] = {}
    for t in trends:
        by_topic.setdefault(t.topic, []).append(t)
    rows: list[LagRow] = []
    for topic, parts in sorted(
        by_topic.items(), key=lambda kv: min(rank[t.verdict] for t in kv[1])
    ):
        known = [t.lag_records for t in parts if t.lag_records is not None]
        seconds = [t.lag_seconds for t in parts if t.lag_seconds is not None]
        worst = min(parts, key=lambda t: rank[t.verdict])
        rows.append(
            LagRow(
                topic,
                None,
                worst.verdict,
                f"{len(parts)} partitions",
                sum(known) if known else None,
                max(seconds) if seconds else None,
                None,
                None,
            )
        )
        rows.extend(
            LagRow(
                t.topic,
                t.partition,
                t.verdict,
                t.trend,
                t.lag_records,
                t.lag_seconds,
                t.source_end,
                t.mirrored,
                t.history,
                t.eta_seconds,
            )
            for t in parts
        )
    stale = False
    if as_of:
        sampler = next((p for p in procs if p.name == "sampler"), None)
        stale = sampler is None or sampler.status != "RUNNING"
    return LagView(
        as_of, stale, store.plan.shadow.path, lines, rows, store.plan.shadow.path != "external"
    )


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _inventory_view(evidence: Evidence | None) -> InventoryView | None:
    """Turn stored inventory evidence into what the pane shows."""
    if evidence is None:
        return None
    body = evidence.body
    sides = {name: body.get(name) for name in ("source", "target")}
    clusters = []
    for name, inv in sides.items():
        if not inv:
            clusters.append(f"{name}: not read")
            continue
        releases = sorted({b["release"] for b in inv["brokers"]})
        topics = sum(1 for t in inv["topics"] if not t["internal"])
        clusters.append(
            f"{_SIDE[name]} {'/'.join(releases)}: {len(inv['brokers'])} broker(s), "
            f"{topics} topics, {len(inv['groups'])} groups"
        )

    def topic(side, name):
        inv = sides.get(side)
        return next((t for t in inv["topics"] if t["name"] == name), None) if inv else None

    def records(t):
        if t is None or any(p["latest"] is None or p["earliest"] is None for p in t["partitions"]):
            return None
        return sum(p["latest"] - p["earliest"] for p in t["partitions"])

    topic_rows = []
    for name, risk in body.get("risk", {}).items():
        s, t = topic("source", name), topic("target", name)
        topic_rows.append(
            TopicRow(
                name,
                risk,
                len(s["partitions"]) if s else None,
                len(t["partitions"]) if t else None,
                records(s),
                records(t),
            )
        )
    group_rows = []
    for side, inv in sides.items():
        if not inv:
            continue
        ends = {
            f"{t['name']}:{p['id']}": p["latest"]
            for t in inv["topics"]
            for p in t["partitions"]
            if p["latest"] is not None
        }
        for g in inv["groups"]:
            lags = [ends[k] - v for k, v in g["offsets"].items() if k in ends]
            group_rows.append(
                GroupRow(side, g["id"], g["state"], len(g["members"]), sum(lags) if lags else None)
            )
    return InventoryView(
        evidence.created_at, clusters, topic_rows, group_rows, body["problems"], body["notes"]
    )


def _inventory_detail(evidence: Evidence, kind: str, key: str) -> tuple[str, list[str]]:
    """All problems and notes, then everything known about one topic or group."""
    body = evidence.body
    lines = [f"Inventory as of {evidence.created_at}", ""]
    lines += [f"RED   {p}" for p in body["problems"]] or ["No problems."]
    lines += [f"NOTE  {n}" for n in body["notes"]]
    lines.append("")
    for side in ("source", "target"):
        inv = body.get(side)
        if not inv:
            lines.append(f"{side}: not read")
            continue
        if kind == "topic":
            topic = next((t for t in inv["topics"] if t["name"] == key), None)
            if topic is None:
                lines.append(f"{side}: topic '{key}' is not there")
                continue
            lines.append(f"{side}: {len(topic['partitions'])} partitions")
            for p in topic["partitions"]:
                lines.append(
                    f"  p{p['id']:<3} leader {p['leader']}  replicas {p['replicas']}  "
                    f"isr {p['isr']}  offsets {p['earliest']}..{p['latest']}"
                )
            for name, value in sorted(topic["configs"].items()):
                lines.append(f"  {name} = {value}")
        else:
            side_name, _, group_id = key.partition("/")
            if side != side_name:
                continue
            group = next((g for g in inv["groups"] if g["id"] == group_id), None)
            if group is None:
                continue
            lines.append(f"{side}: group {group_id}, {group['state']}")
            for m in group["members"]:
                lines.append(
                    f"  member {m['client_id']} on {m['host']}: {', '.join(m['partitions'])}"
                )
            for tp, offset in group["offsets"].items():
                lines.append(f"  committed {tp} = {offset}")
    return f"{kind} {key}", lines


def _with_releases(info: HeaderInfo, evidence: Evidence) -> HeaderInfo:
    def release(side):
        inv = evidence.body.get(side)
        if not inv or not inv["brokers"]:
            return "?"
        return "/".join(sorted({b["release"] for b in inv["brokers"]}))

    return HeaderInfo(
        info.plan, info.source, info.target, release("source"), release("target"), info.mode
    )


def run_console(store: Store) -> int:
    """Run the console on an open run database (read-only means replay); the exit code."""
    return int(CutoverApp(store).run() or 0)
