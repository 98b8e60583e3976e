"""The balance monitor: warnings near a limit, critical alerts across it, the order of
the alerts, and the limits' own checks."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.balancing.monitor import (
    Alert,
    AlertKind,
    BalanceLimits,
    BalanceSnapshot,
    Severity,
    assess,
)
from gridshare.errors import DataError

LIMITS = BalanceLimits(import_limit_kw=100.0, export_limit_kw=50.0, warn_fraction=0.8)
CALM = BalanceSnapshot(
    interval_start_s=1_700_000_100,
    supply_kw=40.0,
    demand_kw=40.0,
    import_kw=10.0,
    export_kw=0.0,
    reserve_kw=20.0,
)


def kinds(alerts: list[Alert]) -> list[tuple[AlertKind, Severity]]:
    return [(a.kind, a.severity) for a in alerts]


def only(alerts: list[Alert], kind: AlertKind) -> list[Alert]:
    return [a for a in alerts if a.kind is kind]


def test_a_calm_interval_raises_nothing() -> None:
    assert assess(CALM, LIMITS) == []


@pytest.mark.parametrize(
    ("import_kw", "expected"),
    [
        (79.9, None),
        (80.0, None),  # at the warning threshold, not beyond it
        (80.1, Severity.WARNING),
        (100.0, Severity.WARNING),  # at the limit is close to it, not across
        (100.1, Severity.CRITICAL),
        (250.0, Severity.CRITICAL),
    ],
)
def test_import_warning_and_critical_thresholds(
    import_kw: float, expected: Severity | None
) -> None:
    alerts = only(assess(replace(CALM, import_kw=import_kw), LIMITS), AlertKind.IMPORT_LIMIT)
    if expected is None:
        assert alerts == []
    else:
        assert [a.severity for a in alerts] == [expected]
        assert alerts[0].value == import_kw
        assert alerts[0].limit == 100.0
        assert alerts[0].interval_start_s == CALM.interval_start_s


@pytest.mark.parametrize(
    ("export_kw", "expected"),
    [(40.0, None), (40.5, Severity.WARNING), (50.0, Severity.WARNING), (50.5, Severity.CRITICAL)],
)
def test_export_warning_and_critical_thresholds(
    export_kw: float, expected: Severity | None
) -> None:
    alerts = only(assess(replace(CALM, export_kw=export_kw), LIMITS), AlertKind.EXPORT_LIMIT)
    assert [a.severity for a in alerts] == ([] if expected is None else [expected])
    if alerts:
        assert alerts[0].limit == 50.0
        assert "export" in alerts[0].message


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.0, 500.0),
    st.floats(0.0, 500.0),
    st.floats(1.0, 200.0),
    st.floats(1.0, 200.0),
    st.floats(0.05, 1.0),
    st.booleans(),
)
def test_exchange_alerts_follow_their_definition(
    import_kw: float,
    export_kw: float,
    import_limit: float,
    export_limit: float,
    warn: float,
    islanded: bool,
) -> None:
    """critical iff value > limit; warning iff warn * limit < value <= limit; nothing
    about the exchange while islanded (there is none to limit)."""
    limits = BalanceLimits(import_limit, export_limit, warn_fraction=warn)
    snap = replace(CALM, import_kw=import_kw, export_kw=export_kw, islanded=islanded)
    alerts = assess(snap, limits)
    for kind, value, limit in (
        (AlertKind.IMPORT_LIMIT, import_kw, import_limit),
        (AlertKind.EXPORT_LIMIT, export_kw, export_limit),
    ):
        got = [a.severity for a in only(alerts, kind)]
        if islanded or value <= warn * limit:
            assert got == []
        elif value > limit:
            assert got == [Severity.CRITICAL]
        else:
            assert got == [Severity.WARNING]


def test_islanded_raises_the_island_warning_and_no_exchange_alerts() -> None:
    snap = replace(CALM, islanded=True, import_kw=500.0, export_kw=500.0)
    alerts = assess(snap, LIMITS)
    assert kinds(alerts) == [(AlertKind.ISLANDED, Severity.WARNING)]


@pytest.mark.parametrize(
    ("reserve_kw", "expected"),
    [
        (10.0, None),  # margin 0.25 >= 0.1
        (4.0, None),  # exactly the minimum
        (3.9, Severity.WARNING),
        (2.0, Severity.WARNING),  # exactly half the minimum is not below it
        (1.9, Severity.CRITICAL),
        (0.0, Severity.CRITICAL),
    ],
)
def test_reserve_margin_warning_and_critical(reserve_kw: float, expected: Severity | None) -> None:
    snap = replace(CALM, demand_kw=40.0, reserve_kw=reserve_kw)
    alerts = only(assess(snap, LIMITS), AlertKind.RESERVE)
    assert [a.severity for a in alerts] == ([] if expected is None else [expected])
    if alerts:
        assert alerts[0].value == pytest.approx(reserve_kw / 40.0)
        assert alerts[0].limit == LIMITS.min_reserve_margin


def test_no_reserve_margin_without_demand() -> None:
    snap = replace(CALM, demand_kw=0.0, reserve_kw=0.0)
    assert snap.reserve_margin is None
    assert only(assess(snap, LIMITS), AlertKind.RESERVE) == []


@pytest.mark.parametrize(
    ("frequency_hz", "limit"),
    [(49.79, 49.8), (50.21, 50.2), (47.0, 49.8)],
)
def test_frequency_outside_the_band_is_critical(frequency_hz: float, limit: float) -> None:
    alerts = assess(replace(CALM, frequency_hz=frequency_hz), LIMITS)
    assert kinds(alerts) == [(AlertKind.FREQUENCY, Severity.CRITICAL)]
    assert alerts[0].value == frequency_hz
    assert alerts[0].limit == limit


@pytest.mark.parametrize("frequency_hz", [49.8, 50.0, 50.2])
def test_frequency_inside_the_band_is_quiet(frequency_hz: float) -> None:
    assert assess(replace(CALM, frequency_hz=frequency_hz), LIMITS) == []


def test_voltage_under_and_over_are_both_reported() -> None:
    alerts = assess(replace(CALM, vm_min_pu=0.93, vm_max_pu=1.07), LIMITS)
    voltage = only(alerts, AlertKind.VOLTAGE)
    assert [(a.severity, a.value, a.limit) for a in voltage] == [
        (Severity.CRITICAL, 0.93, 0.95),
        (Severity.CRITICAL, 1.07, 1.05),
    ]
    assert "below" in voltage[0].message
    assert "above" in voltage[1].message


def test_voltage_at_the_band_edges_is_quiet() -> None:
    assert assess(replace(CALM, vm_min_pu=0.95, vm_max_pu=1.05), LIMITS) == []


@pytest.mark.parametrize(
    ("loading", "expected"),
    [(80.0, None), (85.0, Severity.WARNING), (100.0, Severity.WARNING), (120.0, Severity.CRITICAL)],
)
def test_line_loading(loading: float, expected: Severity | None) -> None:
    alerts = assess(replace(CALM, max_line_loading_percent=loading), LIMITS)
    assert kinds(alerts) == ([] if expected is None else [(AlertKind.LINE_LOADING, expected)])


def test_a_power_flow_that_did_not_converge_is_critical() -> None:
    alerts = assess(replace(CALM, power_flow_converged=False), LIMITS)
    assert kinds(alerts) == [(AlertKind.POWER_FLOW, Severity.CRITICAL)]


def test_shed_load_is_a_warning() -> None:
    alerts = assess(replace(CALM, shed_kw=3.5), LIMITS)
    assert kinds(alerts) == [(AlertKind.LOAD_SHED, Severity.WARNING)]
    assert alerts[0].value == 3.5


def test_unserved_critical_load_comes_first() -> None:
    snap = replace(
        CALM,
        import_kw=150.0,
        export_kw=60.0,
        reserve_kw=0.0,
        frequency_hz=49.0,
        vm_min_pu=0.9,
        vm_max_pu=1.1,
        max_line_loading_percent=130.0,
        power_flow_converged=False,
        shed_kw=5.0,
        unserved_critical_kw=2.0,
    )
    alerts = assess(snap, LIMITS)
    assert alerts[0].kind is AlertKind.UNSERVED_CRITICAL
    assert alerts[0].severity is Severity.CRITICAL
    assert alerts[0].value == 2.0
    assert [a.kind for a in alerts] == [
        AlertKind.UNSERVED_CRITICAL,
        AlertKind.LOAD_SHED,
        AlertKind.IMPORT_LIMIT,
        AlertKind.EXPORT_LIMIT,
        AlertKind.RESERVE,
        AlertKind.FREQUENCY,
        AlertKind.POWER_FLOW,
        AlertKind.VOLTAGE,
        AlertKind.VOLTAGE,
        AlertKind.LINE_LOADING,
    ]
    islanded = assess(replace(snap, islanded=True), LIMITS)
    assert [a.kind for a in islanded[:3]] == [
        AlertKind.UNSERVED_CRITICAL,
        AlertKind.ISLANDED,
        AlertKind.LOAD_SHED,
    ]
    assert not only(islanded, AlertKind.IMPORT_LIMIT)
    assert not only(islanded, AlertKind.EXPORT_LIMIT)


def test_alert_json_rounds_figures() -> None:
    (alert,) = assess(replace(CALM, import_kw=123.4567891), LIMITS)
    assert alert.as_json() == {
        "interval_start_s": CALM.interval_start_s,
        "kind": "import_limit",
        "severity": "critical",
        "value": 123.456789,
        "limit": 100.0,
        "message": "import from the main grid 123.46 kW exceeds the limit of 100.00 kW",
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {"import_limit_kw": 0.0},
        {"import_limit_kw": -5.0},
        {"export_limit_kw": 0.0},
        {"warn_fraction": 0.0},
        {"warn_fraction": 1.01},
        {"v_min_pu": 1.05, "v_max_pu": 1.05},
        {"v_min_pu": 1.1, "v_max_pu": 0.9},
        {"f_low_hz": 50.2, "f_high_hz": 50.2},
        {"f_low_hz": 51.0, "f_high_hz": 49.0},
    ],
)
def test_invalid_limits_raise(kwargs: dict[str, float]) -> None:
    base: dict[str, float] = {"import_limit_kw": 100.0, "export_limit_kw": 50.0}
    with pytest.raises(DataError):
        BalanceLimits(**(base | kwargs))


def test_warn_fraction_one_is_allowed_and_leaves_only_critical_alerts() -> None:
    limits = BalanceLimits(100.0, 50.0, warn_fraction=1.0)
    assert kinds(assess(replace(CALM, import_kw=100.0), limits)) == []
    assert kinds(assess(replace(CALM, import_kw=100.5), limits)) == [
        (AlertKind.IMPORT_LIMIT, Severity.CRITICAL)
    ]
