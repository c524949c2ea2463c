"""``python -m console.cli``: how the console starts its own background processes
(mirror, sampler, workload) with the interpreter it runs on."""

import sys

from console.cli.main import main

sys.exit(main())
