"""Planning a demand-response event: when to call it and on whom (:func:`plan_event`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta

import numpy as np
from numpy.typing import NDArray

from gridshare.balancing.demand_response.events import (
    DemandResponseError,
    DemandResponseEvent,
    Enrolment,
    EventKind,
)
from gridshare.units import (
    IntArray,
    energy_wh_to_mean_power_kw,
    from_unix_seconds,
)

KW_TOLERANCE = 1e-9
"""kW: how far float sums of requested power may fall short of the target (rounding only)."""


def _best_window(weight: IntArray, is_over: NDArray[np.bool_], max_len: int) -> tuple[int, int]:
    """The run of intervals over the limit (at most ``max_len`` long) with the largest weight."""
    best = (-1, 0, 0)  # (weight, -start, end); every run has weight >= 0
    edges = np.diff(np.concatenate(([0], is_over.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    cumulative = np.concatenate(([0], np.cumsum(weight, dtype=np.int64)))
    for run_start, run_end in zip(starts.tolist(), ends.tolist(), strict=True):
        length = min(run_end - run_start, max_len)
        first = np.arange(run_start, run_end - length + 1)
        sums = cumulative[first + length] - cumulative[first]
        pick = int(np.argmax(sums))  # the first of equal sums: the earliest window
        candidate = (int(sums[pick]), -int(first[pick]), int(first[pick]) + length)
        if candidate[:2] > best[:2]:
            best = candidate
    return -best[1], best[2]


def _checked_forecast(forecast_import_wh: Sequence[int] | IntArray) -> IntArray:
    """The forecast import as int64 Wh, refused unless a non-empty 1-D series of whole,
    non-negative Wh."""
    forecast = np.asarray(forecast_import_wh)
    if forecast.ndim != 1 or forecast.size == 0:
        raise DemandResponseError(
            "the forecast import must be a non-empty 1-D series, one value (Wh) per interval"
        )
    if not np.issubdtype(forecast.dtype, np.integer):
        raise DemandResponseError("the forecast import must be whole Wh (an integer array)")
    forecast = forecast.astype(np.int64)
    if forecast.min() < 0:
        raise DemandResponseError(
            f"the forecast import has a negative value ({int(forecast.min())} Wh); import is "
            ">= 0 (pass export separately)"
        )
    return forecast


def _check_plan_settings(
    import_limit_wh: int,
    interval_s: int,
    horizon_start_s: int,
    max_intervals: int | None,
    rebound_intervals: int | None,
) -> None:
    if import_limit_wh < 0:
        raise DemandResponseError(f"the import limit {import_limit_wh} Wh must be >= 0")
    if interval_s <= 0:
        raise DemandResponseError(f"the interval length {interval_s} s must be positive")
    if horizon_start_s % interval_s:
        raise DemandResponseError(
            f"the horizon start {from_unix_seconds(horizon_start_s).isoformat()} is not "
            f"aligned to the {interval_s} s interval"
        )
    if max_intervals is not None and max_intervals < 1:
        raise DemandResponseError(f"max_intervals {max_intervals} must be at least 1")
    if rebound_intervals is not None and rebound_intervals < 1:
        raise DemandResponseError(f"rebound_intervals {rebound_intervals} must be at least 1")


def _check_one_device_per_participant(enrolments: Sequence[Enrolment]) -> None:
    seen: dict[int, str] = {}
    for enrolment in enrolments:
        if enrolment.participant_index in seen:
            raise DemandResponseError(
                f"participant {enrolment.participant_index} is enrolled twice "
                f"({seen[enrolment.participant_index]!r}, {enrolment.device_id!r}); enrol one "
                "device per participant (an OpenADR VEN can stand for several loads)"
            )
        seen[enrolment.participant_index] = enrolment.device_id


def _window_weight(
    excess: IntArray, price_micros_per_kwh: Sequence[int] | IntArray | None
) -> IntArray:
    """What the window maximises: the excess Wh, or excess x price (the costliest peak)."""
    if price_micros_per_kwh is None:
        return excess
    price = np.asarray(price_micros_per_kwh)
    if price.shape != excess.shape or not np.issubdtype(price.dtype, np.integer):
        raise DemandResponseError(
            f"price_micros_per_kwh needs one integer per interval ({excess.size})"
        )
    if price.min() < 0:
        raise DemandResponseError("price_micros_per_kwh must be >= 0")
    return excess * price.astype(np.int64)


def _call_in_priority_order(
    enrolments: Sequence[Enrolment], target_kw: float
) -> tuple[list[int], list[float]]:
    """Who is called and for how many kW: in increasing priority, then participant index,
    each asked for ``min(flexible_kw, what is still missing)`` until ``target_kw`` is
    covered; loads with no flexibility are skipped."""
    called: list[int] = []
    requested: list[float] = []
    missing_kw = target_kw
    for enrolment in sorted(enrolments, key=lambda e: (e.priority, e.participant_index)):
        if missing_kw <= KW_TOLERANCE:
            break
        if enrolment.flexible_kw <= 0:
            continue
        ask_kw = min(enrolment.flexible_kw, missing_kw)
        called.append(enrolment.participant_index)
        requested.append(ask_kw)
        missing_kw = target_kw - math.fsum(requested)
    return called, requested


def plan_event(
    forecast_import_wh: Sequence[int] | IntArray,
    import_limit_wh: int,
    enrolments: Sequence[Enrolment],
    *,
    horizon_start_s: int,
    interval_s: int,
    event_id: str,
    rate_micros_per_kwh: int,
    kind: EventKind = EventKind.CURTAIL,
    price_micros_per_kwh: Sequence[int] | IntArray | None = None,
    max_intervals: int | None = None,
    rebound_intervals: int | None = None,
) -> DemandResponseEvent | None:
    """Decide whether to call an event, when, and on whom; ``None`` if it is not needed.

    ``forecast_import_wh[t]`` is the community's forecast import (Wh) in interval ``t`` of
    the horizon that starts at ``horizon_start_s``. The window is the run of consecutive
    intervals whose import exceeds ``import_limit_wh`` with the largest excess (excess Wh x
    ``price_micros_per_kwh`` when prices are given: the costliest peak), at most
    ``max_intervals`` long; ties go to the earliest. The target is the largest excess in the
    window as a mean power (kW): a constant curtailment of that much keeps every interval
    of the window under the limit.

    Enrolments are called in increasing ``priority``, then participant index, each asked for
    ``min(flexible_kw, what is still missing)`` until the target is covered; when the
    enrolled capacity is too small, every load is asked for its full ``flexible_kw`` and the
    event's ``target_kw`` shows the gap. Loads with no flexibility are not called. No event
    (``None``) when nothing exceeds the limit or no enrolled load can help.

    A shift event's rebound window is the ``rebound_intervals`` (default: as many as the
    event window) right after it.
    """
    forecast = _checked_forecast(forecast_import_wh)
    _check_plan_settings(
        import_limit_wh, interval_s, horizon_start_s, max_intervals, rebound_intervals
    )
    _check_one_device_per_participant(enrolments)

    excess = np.maximum(forecast - import_limit_wh, 0)
    is_over = excess > 0
    if not is_over.any():
        return None
    weight = _window_weight(excess, price_micros_per_kwh)
    first, stop = _best_window(weight, is_over, max_intervals or forecast.size)

    interval = timedelta(seconds=interval_s)
    target_kw = energy_wh_to_mean_power_kw(int(excess[first:stop].max()), interval)
    called, requested = _call_in_priority_order(enrolments, target_kw)
    if not called:
        return None

    start_s = horizon_start_s + first * interval_s
    end_s = horizon_start_s + stop * interval_s
    rebound_end_s = None
    if EventKind(kind) is EventKind.SHIFT:
        rebound_end_s = end_s + (rebound_intervals or (stop - first)) * interval_s
    return DemandResponseEvent(
        event_id,
        EventKind(kind),
        start_s,
        end_s,
        interval_s,
        target_kw,
        rate_micros_per_kwh,
        tuple(called),
        tuple(requested),
        rebound_end_s,
    )
