"""Lag trend verdicts, judged over a window of samples like Burrow, not from one reading."""

from __future__ import annotations

import random

from console.cli.main import main
from console.errors import ExitCode
from console.plan import Thresholds, parse_plan
from console.shadow import lag
from console.shadow.lag import Sample, judge
from console.store import Store
from tests.helpers import demo_plan_text

LIMITS = Thresholds(max_shadow_lag_records=1000, max_shadow_lag_seconds=30)


def judged(lags, limits=LIMITS, **kw):
    """The verdict over a window exactly as long as the series."""
    window = limits.model_copy(update={"lag_trend_window_samples": max(3, len(lags))})
    return judge(series(lags, **kw), window, interval_s=2)


def series(lags, *, positions=None, seconds=1.0):
    positions = positions or [100 * i for i in range(len(lags))]
    return [
        Sample(i, f"t{i}", "orders", 0, pos + lag, pos, lag, seconds)
        for i, (lag, pos) in enumerate(zip(lags, positions, strict=True))
    ]


def test_too_few_samples_is_no_data_never_ok():
    trend = judged([5, 5])
    assert trend.verdict == "NO_DATA" and trend.trend == "no data"


def test_caught_up_is_steady_ok():
    trend = judged([40, 0, 10, 0])
    assert (trend.trend, trend.verdict) == ("steady", "OK")


def test_position_not_moving_with_lag_is_stalled_red():
    trend = judged([10, 20, 30, 40], positions=[500] * 4)
    assert (trend.trend, trend.verdict) == ("stalled", "RED")
    assert "stuck at 500" in trend.reason


def test_lag_that_keeps_growing_is_red_whatever_its_size():
    """The runbook: shadow lag that grows under normal load blocks cutover."""
    small = judged([10, 20, 30, 40])
    assert (small.trend, small.verdict) == ("growing", "RED")
    assert "limits of 1,000 rec" in small.reason
    big = judged([900, 1000, 1100, 1200])
    assert (big.trend, big.verdict) == ("growing", "RED")


def test_growth_under_a_sawtooth_is_still_growth():
    """A copy committing in bursts that falls further behind: each tooth's floor is higher."""
    lags = [10, 150, 60, 250, 160, 320, 260, 420, 330, 520]
    trend = judged(lags)
    assert (trend.trend, trend.verdict) == ("growing", "RED")
    assert "floor rose 10 → 160 → 260 rec" in trend.reason


def test_accelerating_growth_is_growth():
    trend = judged([0, 0, 0, 1, 2, 4, 50, 100, 200, 400])
    assert (trend.trend, trend.verdict) == ("growing", "RED")


def sawtooth(rng: random.Random, n: int, periods: tuple[int, int]) -> list[int]:
    """A copy keeping up in bursts: a trough near zero every ``period`` samples, teeth
    of a random height between, with noise on both."""
    period = rng.randint(*periods)
    peak = rng.randint(50, 900)
    return [
        rng.randint(0, peak // 5) if i % period == 0 else rng.randint(peak // 2, peak)
        for i in range(n)
    ]


def test_a_sawtooth_that_keeps_coming_back_down_is_steady():
    """MirrorMaker 2 and the built-in mirror move a transaction at a time: lag rises
    between commits and falls at each one. Whatever the troughs' noise, that is not
    growth, even when the troughs happen to rise a little from third to third."""
    lags = [5, 120, 260, 8, 130, 250, 13, 110, 270, 16]
    trend = judged(lags)
    assert (trend.trend, trend.verdict) == ("steady", "OK")
    rng = random.Random(8)
    for _ in range(2_000):
        lags = sawtooth(rng, 10, periods=(2, 3))
        trend = judged(lags)
        assert trend.trend != "growing", lags
        assert trend.verdict in ("OK", "WARN"), (lags, trend.reason)


def test_a_single_step_up_then_level_is_not_growth():
    trend = judged([0, 0, 0, 300, 300, 300, 300, 300, 300])
    assert (trend.trend, trend.verdict) == ("steady", "OK")


def over(lags, window):
    """The verdict with a window of ``window`` samples on a longer series."""
    limits = LIMITS.model_copy(
        update={"lag_trend_window_samples": window, "max_shadow_lag_records": 100_000}
    )
    return judge(series(lags), limits, interval_s=2)


RISING = [0, 40, 90, 60, 160, 210, 180, 290, 330, 300, 400, 450]
DIPPED = [480, 530, 500, 610, 640, 420, 740, 780, 760, 850, 900, 880]


def test_a_rising_floor_with_one_deeper_catch_up_is_growth_over_two_windows():
    """Seen in CI under load: a copy falling behind whose window held one deeper
    catch-up was judged steady for a round, and the Shadow-lag step could have passed.
    The window alone still cannot tell; twice the window can."""
    assert over(DIPPED, 12).trend == "steady"  # the window's own test, unchanged
    trend = over(RISING + DIPPED, 12)
    assert (trend.trend, trend.verdict) == ("growing", "RED"), trend.reason
    assert "over 24 samples" in trend.reason


def test_a_copy_gaining_ground_now_is_catching_up_not_growing():
    """Lag that grew before and falls over the whole last window is catching up, even
    though it is still higher than two windows ago."""
    falling = [900, 880, 850, 820, 790, 760, 700, 650, 600, 560, 520, 500]
    trend = over(RISING + falling, 12)
    assert (trend.trend, trend.verdict) == ("catching up", "OK"), trend.reason


def test_over_two_windows_a_sawtooth_or_one_step_up_is_still_steady():
    assert over([0] * 7 + [300] * 13, 10).trend == "steady"
    assert over([0] * 10 + [300] * 10, 10).trend == "steady"
    rng = random.Random(11)
    for _ in range(2_000):
        lags = sawtooth(rng, 20, periods=(2, 4))
        trend = over(lags, 10)
        assert trend.trend != "growing", lags


def test_over_the_limit_is_never_ok():
    """Seen after MirrorMaker 2 was stopped: 'OK steady 11,823, caught up within the
    window' against a limit of 5,000. Caught up earlier is no excuse for now."""
    limits = Thresholds(max_shadow_lag_records=5_000, max_shadow_lag_seconds=60)
    lags = [0, 0, 0, 0, 0, 0, 0, 0, 0, 11_823]
    trend = judged(lags, limits, positions=[500] * 9 + [0])
    assert trend.verdict == "RED"
    assert "over the limit in records" in trend.reason and "5,000" in trend.reason
    rng = random.Random(3)
    for _ in range(2_000):
        lags = [rng.choice([0, rng.randint(0, 12_000)]) for _ in range(rng.randint(3, 12))]
        seconds = rng.choice([1.0, 90.0])
        trend = judged(lags, limits, seconds=seconds)
        if lags[-1] > 5_000 or seconds > 60:
            assert trend.verdict in ("RED", "WARN"), (lags, seconds, trend.reason)


def test_falling_lag_over_the_limit_warns_never_ok():
    trend = judged([9000, 7000, 5000, 3000, 1500])
    assert (trend.trend, trend.verdict) == ("catching up", "WARN")
    assert trend.eta_seconds is not None


def test_falling_lag_is_catching_up_with_an_estimate():
    trend = judged([4000, 3000, 2000, 1000])
    assert trend.trend == "catching up"
    assert trend.verdict == "OK"  # at the limit, not over it
    assert trend.eta_seconds == 2.0  # 1000 records left at 500 rec/s


def test_level_lag_over_the_limit_is_red_and_says_the_limit():
    trend = judged([5000, 5100, 5000, 5050])
    assert (trend.trend, trend.verdict) == ("steady", "RED")
    assert "limits of 1,000 rec / 30 s" in trend.reason


def test_lag_in_seconds_over_the_limit_is_red():
    trend = judged([5, 6, 5, 6], seconds=45.0)
    assert trend.verdict == "RED"


def test_until_the_window_is_full_lag_under_the_limits_is_not_ok():
    """Whether lag grows can only be told over the whole trend window."""
    ten = Thresholds(max_shadow_lag_records=1000, lag_trend_window_samples=10)
    early = judge(series([0, 40, 80, 120]), ten, interval_s=2)
    assert (early.trend, early.verdict) == ("no data", "NO_DATA")
    assert early.reason.startswith("4 of 10 samples")
    # What is plainly wrong is said at once.
    stuck = judge(series([10, 20, 30], positions=[7] * 3), ten, interval_s=2)
    assert stuck.verdict == "RED"
    over = judge(series([2000, 2100, 2200]), ten, interval_s=2)
    assert over.verdict == "RED"
    # A start-up ramp that then levels is steady once the window is full.
    ramp = judge(series([0, 40, 80, 120, 120, 110, 125, 118, 121, 119]), ten, interval_s=2)
    assert (ramp.trend, ramp.verdict) == ("steady", "OK")


def test_cutover_lag_exit_codes_never_pass_without_a_verdict(tmp_path, capsys):
    """0 only when every partition has a verdict and none is RED; 3 when evidence is
    missing (no samples, or a window not yet full); 1 when something is RED."""
    text = demo_plan_text()
    db = tmp_path / "run.db"
    Store.create(db, text, parse_plan(text)).close()
    assert main(["lag", str(db), "--json"]) == ExitCode.NO_DATA
    assert main(["lag", str(db)]) == ExitCode.NO_DATA
    store = Store.open(db)
    window = store.plan.thresholds.lag_trend_window_samples
    for i in range(window):
        lag.write_round(
            store, f"2026-11-25T12:00:{i:02d}Z", [("orders", 0, 100 + i, 100 + i, 0, 0.0)]
        )
        code = main(["lag", str(db), "--json"])
        assert code == (ExitCode.OK if i + 1 == window else ExitCode.NO_DATA), i
    lag.write_round(store, "2026-11-25T12:01:00Z", [("orders", 0, 90_000, 200, 89_800, 1.0)])
    store.close()
    assert main(["lag", str(db)]) == ExitCode.FAILED
    capsys.readouterr()
