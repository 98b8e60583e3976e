"""Stored readings re-proven from the signed messages kept with them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.metering.evidence import audit_signed_readings
from gridshare.metering.wire import (
    MalformedBundle,
    ReadingBundle,
    bundle_from_message,
    canonical_message,
    device_address,
    make_bundle,
    sign_bundle,
)

KEY = bytes(range(1, 33))
OTHER = bytes(range(2, 34))
DEVICE = "0x" + device_address(KEY).hex()
T0 = 1_748_822_400


def bundle(values: list[tuple[int, int]], key: bytes = KEY, meter: str = "m/grid") -> ReadingBundle:
    n = len(values)
    imp = [v[0] for v in values]
    exp = [v[1] for v in values]
    return sign_bundle(
        make_bundle(
            meter,
            [T0 + 900 * k for k in range(n)],
            list(range(1, n + 1)),
            imp,
            exp,
            np.cumsum(imp, dtype=np.int64),
            np.cumsum(exp, dtype=np.int64),
            quality={"voltage_v": [230.5] * n},
        ),
        key,
    )


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 10**9), st.integers(0, 10**9)), min_size=1, max_size=20),
    st.booleans(),
)
def test_the_canonical_message_round_trips(values: list[tuple[int, int]], stored: bool) -> None:
    b = bundle(values)
    if stored:
        b = ReadingBundle(
            b.meter_id, b.start, b.seq, b.import_wh, b.export_wh, b.import_register_wh,
            b.export_register_wh, b.quality, b.signature, np.arange(len(values), dtype=np.int64),
        )  # fmt: skip
    back = bundle_from_message(canonical_message(b), b.signature)
    assert canonical_message(back) == canonical_message(b)
    assert back.meter_id == b.meter_id
    assert back.import_wh.tolist() == [v[0] for v in values]
    assert (back.stored_wh is None) is (not stored)


@pytest.mark.parametrize("cut", [1, 10, -1])
def test_a_damaged_message_is_refused(cut: int) -> None:
    message = canonical_message(bundle([(5, 0), (6, 0)]))
    with pytest.raises(MalformedBundle):
        bundle_from_message(message[:cut] if cut > 0 else message + b"\x00")


def test_stored_readings_matching_their_signed_bundle_are_proven() -> None:
    b = bundle([(100, 0), (120, 0), (90, 5)])
    stored = {("m/grid", T0 + 900 * k): v for k, v in enumerate([(100, 0), (120, 0), (90, 5)])}
    audit = audit_signed_readings([("m/grid", DEVICE, b)], stored)
    assert (audit.ok, audit.bundles_checked, audit.readings_proven) == (True, 1, 3)


def test_a_changed_stored_reading_is_pinpointed() -> None:
    b = bundle([(100, 0), (120, 0)])
    stored = {("m/grid", T0): (100, 0), ("m/grid", T0 + 900): (121, 0)}
    audit = audit_signed_readings([("m/grid", DEVICE, b)], stored)
    assert audit.readings_proven == 1
    assert len(audit.problems) == 1
    assert f"m/grid at {T0 + 900}" in audit.problems[0]
    assert "(121, 0)" in audit.problems[0]


def test_a_bundle_not_signed_by_the_registered_device_proves_nothing() -> None:
    forged = bundle([(100, 0)], key=OTHER)
    audit = audit_signed_readings([("m/grid", DEVICE, forged)], {("m/grid", T0): (100, 0)})
    assert audit.readings_proven == 0
    assert "not signed by the meter's device" in audit.problems[0]
    unregistered = audit_signed_readings([("m/grid", None, bundle([(1, 0)]))], {})
    assert not unregistered.ok


def test_readings_the_bundle_carried_but_the_store_refused_are_not_required() -> None:
    b = bundle([(100, 0), (120, 0)])
    audit = audit_signed_readings([("m/grid", DEVICE, b)], {("m/grid", T0): (100, 0)})
    assert (audit.ok, audit.readings_proven) == (True, 1)


def test_only_the_low_s_form_of_a_signature_is_accepted() -> None:
    from gridshare.metering.wire import recover_signer

    b = bundle([(100, 0)])
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    r, s, v = b.signature[:32], int.from_bytes(b.signature[32:64], "big"), b.signature[64]
    twin = r + (n - s).to_bytes(32, "big") + bytes([v ^ 1])  # recovers the same key
    assert recover_signer(b) == device_address(KEY)
    assert recover_signer(b.with_signature(twin)) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2025-06-02T16:30:00Z", 1_748_881_800), ("2025-06-02T18:30:00+02:00", 1_748_881_800)],
)
def test_times_on_the_command_line_state_their_offset(text: str, expected: int) -> None:
    from gridshare.units import UnitError, parse_utc_seconds

    assert parse_utc_seconds(text) == expected
    with pytest.raises(UnitError, match="no UTC offset"):
        parse_utc_seconds("2025-06-02T16:30:00")
