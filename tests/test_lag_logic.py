"""Lag trend verdicts, judged over a window of samples like Burrow, not from one reading."""

from __future__ import annotations

from console.plan import Thresholds
from console.shadow.lag import Sample, judge

LIMITS = Thresholds(max_shadow_lag_records=1000, max_shadow_lag_seconds=30)


def series(lags, *, positions=None, seconds=1.0):
    positions = positions or [100 * i for i in range(len(lags))]
    return [
        Sample(i, f"t{i}", "orders", 0, pos + lag, pos, lag, seconds)
        for i, (lag, pos) in enumerate(zip(lags, positions, strict=True))
    ]


def test_too_few_samples_is_no_data_never_ok():
    trend = judge(series([5, 5]), LIMITS, interval_s=2)
    assert trend.verdict == "NO_DATA" and trend.trend == "no data"


def test_caught_up_is_steady_ok():
    trend = judge(series([40, 0, 10, 0]), LIMITS, interval_s=2)
    assert (trend.trend, trend.verdict) == ("steady", "OK")


def test_position_not_moving_with_lag_is_stalled_red():
    trend = judge(series([10, 20, 30, 40], positions=[500] * 4), LIMITS, interval_s=2)
    assert (trend.trend, trend.verdict) == ("stalled", "RED")
    assert "stuck at 500" in trend.reason


def test_lag_rising_every_sample_is_growing():
    small = judge(series([10, 20, 30, 40]), LIMITS, interval_s=2)
    assert (small.trend, small.verdict) == ("growing", "WARN")
    big = judge(series([900, 1000, 1100, 1200]), LIMITS, interval_s=2)
    assert (big.trend, big.verdict) == ("growing", "RED")


def test_falling_lag_is_catching_up_with_an_estimate():
    trend = judge(series([4000, 3000, 2000, 1000]), LIMITS, interval_s=2)
    assert trend.trend == "catching up"
    assert trend.verdict == "OK"  # at the limit, not over it
    assert trend.eta_seconds == 2.0  # 1000 records left at 500 rec/s


def test_level_lag_over_the_limit_is_red_and_says_the_limit():
    trend = judge(series([5000, 5100, 5000, 5050]), LIMITS, interval_s=2)
    assert (trend.trend, trend.verdict) == ("steady", "RED")
    assert "limits of 1,000 rec / 30 s" in trend.reason


def test_lag_in_seconds_over_the_limit_is_red():
    trend = judge(series([5, 6, 5, 6], seconds=45.0), LIMITS, interval_s=2)
    assert trend.verdict == "RED"
