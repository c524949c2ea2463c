"""How long the lag pane takes to apply one round of samples, by partition count.

Runs headless (Textual's test driver), no Kafka: it measures the widget's own cost of
an update where every partition's lag changed, the worst case of a busy mirror.
Prints per-size medians and the ratio to the smallest size.

    python bench/lag_pane.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual.app import App, ComposeResult  # noqa: E402

from console.views.lag import LagRow, LagView  # noqa: E402
from widgets.lag_pane import LagPane  # noqa: E402


class PaneApp(App):
    def compose(self) -> ComposeResult:
        yield LagPane()


def rows(count: int, shift: int) -> list[LagRow]:
    return [
        LagRow("orders", p, "OK", "steady", (p + shift) % 97, 0.1, 10_000 + p, 9_900 + p, [1, 2])
        for p in range(count)
    ]


async def measure(count: int, rounds: int) -> float:
    app = PaneApp()
    timings = []
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.query_one(LagPane)
        pane.show(LagView("2026-01-01T00:00:00Z", False, "builtin", [], rows(count, 0)))
        await pilot.pause()
        for shift in range(1, rounds + 1):
            started = time.perf_counter()
            pane.show(LagView("2026-01-01T00:00:00Z", False, "builtin", [], rows(count, shift)))
            await pilot.pause()
            timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    results = {n: asyncio.run(measure(n, args.rounds)) for n in (10, 100, 1000)}
    base = results[10]
    for n, seconds in results.items():
        ms, ratio = seconds * 1000, seconds / base
        print(f"partitions={n:5d} update_ms_median={ms:8.1f} ratio_vs_10={ratio:6.1f}")
    print(" ".join(f"update_ms_{n}={s * 1000:.1f}" for n, s in results.items()))


if __name__ == "__main__":
    main()
