"""What every layer shares about failing: one error base, the exit codes it maps to,
the operator's cancel, and the progress callback.

Every error an operator can meet derives from :class:`CutoverError`: it carries a
one-line ``message`` saying what went wrong, an optional ``hint`` saying what to do,
and the ``exit_code`` the command line ends with. The command line has one handler
that turns any of them into ``cutover: <message>; <hint>`` on stderr and that code
(see :mod:`console.cli.main`), so no command needs its own ``except`` ladder and no
traceback ever reaches the terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum

Progress = Callable[[str], None]
"""Where long work reports how far it got: one short line at a time."""


class ExitCode(IntEnum):
    """The exit codes of ``cutover``; the one table (documented in the README)."""

    OK = 0
    """The command did what was asked and found nothing wrong."""
    FAILED = 1
    """It ran and found a problem (a RED check, a failed step, a broken audit chain),
    or an error stopped it (a plan, store, credential, cluster or copy problem)."""
    USAGE = 2
    """It could not run as asked: a gate stayed shut, arguments that cannot work
    together, a comparison that could not start, the sandbox that could not."""
    NO_DATA = 3
    """It ran and found nothing RED, but a required check had nothing to judge (one side
    empty, a topic absent, too few lag samples): missing evidence, never a pass."""
    INTERRUPTED = 130
    """Ctrl-C or a cancel: stopped after the request in flight (128 + SIGINT)."""
    BROKEN_PIPE = 141
    """The reader of our output went away, e.g. ``| head`` (128 + SIGPIPE)."""


class CutoverError(Exception):
    """Base of every error an operator can meet; the message is one line.

    ``hint`` (optional) says what to do; many messages already end with it after a
    semicolon, which is the same thing. ``exit_code`` is the class's unless given.
    """

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, hint: str = "", *, exit_code: int | None = None) -> None:
        # The args survive a trip between processes (the comparison's workers).
        super().__init__(*((message, hint) if hint else (message,)))
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = ExitCode(exit_code)

    def one_line(self) -> str:
        """Message and hint on a single line, for the terminal."""
        text = f"{self.message}; {self.hint}" if self.hint else self.message
        return " ".join(text.split())

    def lines(self) -> list[str]:
        """What the command line prints, one ``cutover:`` line each (usually one)."""
        return [self.one_line()]

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


class Cancelled(CutoverError):
    """The operator cancelled; the work stopped after its current request."""

    exit_code = ExitCode.INTERRUPTED
