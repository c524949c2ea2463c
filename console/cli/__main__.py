"""``python -m console.cli``: how the console starts its own background processes
(mirror, sampler, workload) with the interpreter it runs on."""

import sys

from console.cli import signals

# Before the command line's imports: a stop sent while a background process is still
# starting is then honoured when its loop starts, instead of killing it mid-import.
if sys.argv[1:2] and sys.argv[1] in signals.BACKGROUND:
    signals.remember_early()

from console.cli.main import main  # noqa: E402 - after the early stop handler, on purpose

sys.exit(main())
