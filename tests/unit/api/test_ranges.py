"""Ranges and bounds of the read endpoints (gridshare.api.ranges)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gridshare.api.ranges import Resolution, at_most, parse_range, parse_window
from gridshare.api.refusals import Refused

DAY = ("2025-06-02T00:00:00Z", "2025-06-03T00:00:00Z")
START_S = 1_748_822_400


def _refused(call: Callable[..., object], *args: object) -> Refused:
    with pytest.raises(Refused) as caught:
        call(*args)
    assert caught.value.status == 422
    return caught.value


def test_a_window_is_aligned_to_the_metering_interval_and_bounded() -> None:
    span = parse_window(*DAY, interval_s=900, max_intervals=96)
    assert (span.start_s, span.end_s, span.bucket_s) == (START_S, START_S + 86_400, 900)
    refusal = _refused(parse_window, *DAY, 900, 95)
    assert refusal.code == "range_too_large"
    assert "96 metering intervals of 900 s; the limit is 95" in refusal.detail
    refusal = _refused(parse_window, "2025-06-02T00:05:00Z", DAY[1], 900, 96)
    assert (refusal.code, "900 s metering interval" in refusal.detail) == ("invalid_range", True)
    assert _refused(parse_window, DAY[1], DAY[0], 900, 96).code == "invalid_range"


def test_a_bucketed_range_still_says_to_ask_for_a_coarser_resolution() -> None:
    refusal = _refused(parse_range, *DAY, Resolution.QUARTER, 900, 95)
    assert refusal.code == "range_too_large"
    assert "96 buckets of 15min; the limit is 95" in refusal.detail
    assert "coarser resolution" in refusal.detail
    assert parse_range(*DAY, Resolution.HOUR, 900, 24).bucket_s == 3600


def test_at_most_refuses_one_row_more_than_the_limit() -> None:
    assert at_most([1, 2, 3], 3, "rows") == [1, 2, 3]
    refusal = _refused(at_most, [1, 2, 3, 4], 3, "alerts")
    assert refusal.code == "too_many_rows"
    assert "more than 3 alerts" in refusal.detail
