"""The one error handler every ``cutover`` command runs under.

Each command function is wrapped with :func:`command` where its group module adds it
to the parser, so a command behaves the same whether ``cutover`` dispatches it or a
test calls ``args.func(args)`` on the group's own parser. Whatever a command raises
ends as ``cutover: <what>; <what to do>`` on stderr (secrets masked) and the exit code
from the one table, :class:`console.errors.ExitCode`:

* a :class:`~console.errors.CutoverError` (every operator-facing error derives from
  it): its lines and its ``exit_code``;
* Ctrl-C: ``interrupted`` and 130 (a group may say what to do next with
  ``set_defaults(on_interrupt=...)``);
* a reader that went away (``| head``): nothing more, 141;
* anything else is a bug: one line naming it, 1, and never a traceback, because a
  traceback's locals can carry credentials.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable

from console import redact
from console.errors import CutoverError, ExitCode

Command = Callable[..., int | None]


class CommandError(CutoverError):
    """A command could not do its job as asked; ``exit_code`` says how it ended."""

    def __init__(self, message: str, code: int = ExitCode.FAILED) -> None:
        super().__init__(message, exit_code=code)


def command(run: Command) -> Command:
    """Wrap a command function (``run(args) -> exit code``) in the one error handler."""

    @functools.wraps(run)
    def guarded(args) -> int:
        try:
            return int(run(args) or ExitCode.OK)
        except CutoverError as exc:
            for line in exc.lines():
                _say(line)
            return int(exc.exit_code)
        except KeyboardInterrupt:
            _say(f"interrupted; {getattr(args, 'on_interrupt', 'nothing more was done')}")
            return int(ExitCode.INTERRUPTED)
        except BrokenPipeError:
            # Stop writing, as `cat` would; point stdout at /dev/null so the interpreter's
            # final flush does not raise again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return int(ExitCode.BROKEN_PIPE)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: no tracebacks
            _say(
                f"internal error ({type(exc).__name__}: {exc}); nothing more was done — "
                "please report this with the command you ran"
            )
            return int(ExitCode.FAILED)

    return guarded


def _say(line: str) -> None:
    print(f"cutover: {redact.text(' '.join(line.split()))}", file=sys.stderr)
