"""The console's one refresh chain: reads of the run database, one at a time, re-armed
only when the previous read finished.

Everything that wants the panes current (the poll, ``r``, a finished step, a live
comparison increment, resuming after ``p``) asks this chain for a read *now*; nothing
starts a loop of its own. Asking while a read is in flight does not start a second
one: the chain reads once more as soon as the current read finishes. So however often
the operator presses ``r``, there is at most one read in flight and one timer armed.

Plain Python, no Textual: the app gives it a way to start a read (a thread worker) and
a way to arm a timer (its own ``set_timer``), and tells it when a read finished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    """What arming a timer returns: something that can be stopped."""

    def stop(self) -> None: ...


class RefreshChain:
    """One chain of reads; see the module docstring."""

    def __init__(
        self,
        *,
        interval_s: float,
        start_read: Callable[[bool], None],
        arm: Callable[[float, Callable[[], None]], Timer],
        polling: bool = True,
        verify_every: int = 15,
    ) -> None:
        self.interval_s = interval_s
        """Seconds between the end of one read and the start of the next."""
        self._start_read = start_read
        """Starts a read (argument: verify the audit chain too); must end in
        :meth:`finished` whichever way it goes."""
        self._arm = arm
        self.polling = polling
        """Whether reads repeat by themselves (off in tests and snapshots)."""
        self.verify_every = verify_every
        """Every this many reads also verify the audit chain (0: only when asked)."""
        self.paused = False
        self.reading = False
        self.reads = 0
        """Reads started so far."""
        self._again = False
        self._verify = False
        self._since_verify = 0
        self._timer: Timer | None = None

    @property
    def armed(self) -> bool:
        """Whether a timer is waiting to start the next read."""
        return self._timer is not None

    def now(self, *, verify: bool = False) -> None:
        """Read now; while a read is in flight, read once more when it finishes."""
        self._verify = self._verify or verify
        if self.reading:
            self._again = True
            return
        self._disarm()
        self._start()

    def finished(self, *, ok: bool = True) -> None:
        """The read in flight ended (``ok`` False: it failed; wait longer)."""
        self.reading = False
        if self._again:
            self._again = False
            self._start()
            return
        self._disarm()
        if self.polling and not self.paused:
            self._timer = self._arm(self.interval_s if ok else 2 * self.interval_s, self._tick)

    def pause(self) -> None:
        """No more reads by themselves (``r`` still reads once)."""
        self.paused = True
        self._disarm()

    def resume(self) -> None:
        """Reads repeat again, starting now."""
        self.paused = False
        self.now()

    def _tick(self) -> None:
        self._timer = None
        if not self.reading:
            self._start()

    def _start(self) -> None:
        verify = self._verify or (
            self.verify_every > 0 and self._since_verify + 1 >= self.verify_every
        )
        self._verify = False
        self._since_verify = 0 if verify else self._since_verify + 1
        self.reading = True
        self.reads += 1
        self._start_read(verify)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
