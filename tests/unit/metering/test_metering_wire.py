"""Signed reading bundles: canonical digest, recoverable signatures and the JSON wire format."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridshare.metering.wire import (
    ENERGY_COLUMNS,
    MAX_BUNDLE_READINGS,
    MAX_INT,
    QUALITY_COLUMNS,
    MalformedBundle,
    ReadingBundle,
    bundle_digest,
    bundle_from_json,
    bundle_to_json,
    decode_bundle,
    device_address,
    encode_bundle,
    make_bundle,
    recover_signer,
    sign_bundle,
)

KEY = bytes.fromhex("11" * 32)
OTHER_KEY = bytes.fromhex("22" * 32)
B0 = 1_748_822_400  # 2025-06-02T00:00:00Z


def _bundle(n: int = 2, **quality: list[float]) -> ReadingBundle:
    return make_bundle(
        "demo:homes-001/grid",
        [B0 + 900 * i for i in range(n)],
        [41 + i for i in range(n)],
        [120 + i for i in range(n)],
        list(range(n)),
        [5_000 + 120 * (i + 1) for i in range(n)],
        [10 * i for i in range(n)],
        quality=quality or None,
    )


def _payload(**changes: Any) -> dict[str, Any]:
    """A valid signed JSON bundle with ``changes`` applied (None removes a field)."""
    data = bundle_to_json(sign_bundle(_bundle(), KEY))
    for name, value in changes.items():
        if value is None:
            del data[name]
        else:
            data[name] = value
    return data


def _same(a: ReadingBundle, b: ReadingBundle) -> None:
    assert a.meter_id == b.meter_id
    for name in ENERGY_COLUMNS:
        assert a.column(name).tolist() == b.column(name).tolist(), name
        assert b.column(name).dtype == np.int64
    assert {k: v.tolist() for k, v in a.quality.items()} == {
        k: v.tolist() for k, v in b.quality.items()
    }
    assert (None if a.stored_wh is None else a.stored_wh.tolist()) == (
        None if b.stored_wh is None else b.stored_wh.tolist()
    )
    assert a.signature == b.signature


# -- building bundles -------------------------------------------------------------------


def test_make_bundle_holds_int64_columns_and_length() -> None:
    """Columns become int64 arrays; len() counts readings; unsigned until signed."""
    bundle = _bundle(3, voltage_v=[230.1, 229.9, 231.0])
    assert len(bundle) == 3
    assert bundle.seq.tolist() == [41, 42, 43]
    assert bundle.quality["voltage_v"].dtype == np.float64
    assert bundle.signature == b""
    assert recover_signer(bundle) is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start": [B0, B0 + 900]}, r"columns differ in length: \[1, 2\]"),
        ({"quality": {"voltage_v": [230.0, 231.0]}}, r"differ in length: \[1, 2\]"),
        ({"stored_wh": [1, 2]}, r"differ in length: \[1, 2\]"),
        ({"quality": {"current_a": [5.0]}}, r"unknown power-quality field\(s\) \['current_a'\]"),
        ({"quality": {"voltage_v": [float("nan")]}}, "voltage_v must be a list of finite"),
        ({"quality": {"thd_pct": ["high"]}}, "thd_pct must be a list of numbers"),
        ({"quality": {"thd_pct": 3.0}}, "thd_pct must be a list of numbers"),
        ({"seq": [1.0]}, r"seq must be a list of integers, found 1\.0"),
        ({"seq": [True]}, "seq must be a list of integers, found True"),
        ({"import_wh": "12"}, "import_wh must be a list of integers"),
        ({"export_wh": np.array([1.5])}, "export_wh must be a list of integers"),
        ({"export_wh": np.array([[1]])}, "export_wh must be a list of integers"),
        ({"import_register_wh": [MAX_INT + 1]}, "does not fit a 64-bit integer"),
        ({"export_register_wh": [-MAX_INT - 1]}, "does not fit a 64-bit integer"),
        ({"meter_id": ""}, "meter must be a non-empty string"),
        ({"meter_id": "m" * 201}, "at most 200 characters"),
    ],
)
def test_make_bundle_refuses_bad_columns(kwargs: dict[str, Any], match: str) -> None:
    """Shape, type and range problems raise MalformedBundle with a detail naming them."""
    args: dict[str, Any] = {"meter_id": "m", **{name: [1] for name in ENERGY_COLUMNS}}
    args.update(kwargs)
    with pytest.raises(MalformedBundle, match=match) as caught:
        make_bundle(**args)
    assert caught.value.detail == str(caught.value)


def test_make_bundle_refuses_empty_and_oversized_bundles() -> None:
    """A bundle holds between 1 and MAX_BUNDLE_READINGS readings."""
    with pytest.raises(MalformedBundle, match="at least one reading"):
        make_bundle("m", [], [], [], [], [], [])
    too_many = np.zeros(MAX_BUNDLE_READINGS + 1, dtype=np.int64)
    with pytest.raises(MalformedBundle, match=f"at most {MAX_BUNDLE_READINGS} readings"):
        make_bundle("m", too_many, too_many, too_many, too_many, too_many, too_many)


# -- digest and signature ---------------------------------------------------------------


def test_signature_recovers_the_device_address() -> None:
    """The signer recovered from a signed bundle is the address of the signing key."""
    signed = sign_bundle(_bundle(), KEY)
    assert len(signed.signature) == 65
    assert signed.signature[64] in (0, 1)
    assert recover_signer(signed) == device_address(KEY)
    assert recover_signer(sign_bundle(_bundle(), OTHER_KEY)) == device_address(OTHER_KEY)
    assert device_address(KEY) != device_address(OTHER_KEY)
    assert len(device_address(KEY)) == 20


def test_device_address_is_the_ethereum_address_of_the_key() -> None:
    """Known vector: private key 1 has address 0x7e5f4552091a69125d5dfcb7b8c2659029395bdf."""
    assert device_address((1).to_bytes(32, "big")).hex() == (
        "7e5f4552091a69125d5dfcb7b8c2659029395bdf"
    )


@pytest.mark.parametrize(
    "signature",
    [b"", b"\x01" * 64, b"\x01" * 66, b"\x01" * 64 + b"\x02", b"\x00" * 65, b"\xff" * 65],
)
def test_unusable_signature_recovers_nobody(signature: bytes) -> None:
    """Wrong length, recovery id above 1 or an invalid point: no signer, no exception."""
    assert recover_signer(_bundle().with_signature(signature)) is None


def test_tampered_bundle_recovers_another_address() -> None:
    """Changing a value after signing makes the signature point at someone else."""
    signed = sign_bundle(_bundle(), KEY)
    data = bundle_to_json(signed)
    data["import_wh"][1] += 1
    tampered = bundle_from_json(data)
    assert tampered.signature == signed.signature
    assert recover_signer(tampered) != device_address(KEY)


def _perturbations(bundle: ReadingBundle) -> list[tuple[str, ReadingBundle]]:
    """Every single-field change of ``bundle``: each column value, presence and the meter."""
    base = bundle_to_json(bundle)
    out: list[tuple[str, ReadingBundle]] = []

    def variant(label: str, **changes: Any) -> None:
        data = {**base, **changes}
        for name in [k for k, v in changes.items() if v is None]:
            del data[name]
        out.append((label, bundle_from_json(data)))

    variant("meter", meter=bundle.meter_id + "x")
    for name in ENERGY_COLUMNS:
        for row in range(len(bundle)):
            column = list(base[name])
            column[row] += 1
            variant(f"{name}[{row}]", **{name: column})
    for name in QUALITY_COLUMNS:
        if name in base:
            variant(f"drop {name}", **{name: None})
            for row in range(len(bundle)):
                column = list(base[name])
                column[row] = column[row] + 0.5
                variant(f"{name}[{row}]", **{name: column})
        else:
            variant(f"add {name}", **{name: [0.0] * len(bundle)})
    if "stored_wh" in base:
        variant("drop stored_wh", stored_wh=None)
        for row in range(len(bundle)):
            column = list(base["stored_wh"])
            column[row] += 1
            variant(f"stored_wh[{row}]", stored_wh=column)
    else:
        variant("add stored_wh", stored_wh=[0] * len(bundle))
    return out


def test_digest_changes_with_every_field() -> None:
    """Any single change of meter, value, power-quality or stored column changes the digest."""
    for bundle in (_bundle(3, voltage_v=[230.0, 231.0, 229.5]), _bundle(1)):
        digest = bundle_digest(bundle)
        assert len(digest) == 32
        variants = _perturbations(bundle.with_signature(b"\x00" * 65))
        assert len(variants) >= 1 + 6 * len(bundle) + len(QUALITY_COLUMNS) + 1
        for label, changed in variants:
            assert bundle_digest(changed) != digest, label
        digests = {bundle_digest(v) for _, v in variants}
        assert len(digests) == len(variants)


def test_digest_does_not_depend_on_signature_or_quality_order() -> None:
    """The digest covers content only: not the signature, not the dict order of columns."""
    one = _bundle(2, voltage_v=[230.0, 231.0], thd_pct=[1.0, 2.0])
    two = make_bundle(
        one.meter_id,
        one.start,
        one.seq,
        one.import_wh,
        one.export_wh,
        one.import_register_wh,
        one.export_register_wh,
        quality={"thd_pct": [1.0, 2.0], "voltage_v": [230.0, 231.0]},
    )
    assert bundle_digest(one) == bundle_digest(two)
    assert bundle_digest(sign_bundle(one, KEY)) == bundle_digest(one)


def test_readings_cannot_move_between_columns_without_changing_the_digest() -> None:
    """Swapping import and export (or two readings) changes the digest: positions count."""
    bundle = make_bundle("m", [B0, B0 + 900], [1, 2], [5, 7], [7, 5], [5, 12], [7, 12])
    swapped_columns = make_bundle("m", [B0, B0 + 900], [1, 2], [7, 5], [5, 7], [5, 12], [7, 12])
    swapped_rows = make_bundle("m", [B0 + 900, B0], [2, 1], [7, 5], [5, 7], [12, 5], [12, 7])
    assert len({bundle_digest(b) for b in (bundle, swapped_columns, swapped_rows)}) == 3


# -- JSON wire format -------------------------------------------------------------------

INT64 = st.integers(-MAX_INT, MAX_INT)
FINITE = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def bundles(draw: st.DrawFn) -> ReadingBundle:
    n = draw(st.integers(1, 6))
    column = st.lists(INT64, min_size=n, max_size=n)
    quality_names = draw(st.lists(st.sampled_from(QUALITY_COLUMNS), unique=True))
    quality = {name: draw(st.lists(FINITE, min_size=n, max_size=n)) for name in quality_names}
    stored = draw(st.none() | column)
    meter = draw(st.text(min_size=1, max_size=200))
    start, seq, imp, exp, reg_i, reg_e = (draw(column) for _ in ENERGY_COLUMNS)
    return make_bundle(meter, start, seq, imp, exp, reg_i, reg_e, quality, stored)


@settings(max_examples=150, deadline=None)
@given(bundle=bundles(), key=st.binary(min_size=32, max_size=32))
def test_encode_decode_round_trip(bundle: ReadingBundle, key: bytes) -> None:
    """decode(encode(b)) == b for every field, so the digest and the signer survive."""
    try:
        signed = sign_bundle(bundle, key)
    except ValueError:  # the zero key and keys above the curve order are not keys
        signed = bundle.with_signature(bytes(range(65)))
    decoded = decode_bundle(encode_bundle(signed))
    _same(signed, decoded)
    assert bundle_digest(decoded) == bundle_digest(signed)
    assert recover_signer(decoded) == recover_signer(signed)


def test_wire_format_is_the_documented_json() -> None:
    """Field names, version, column lists and a 0x-prefixed 130-hex signature."""
    signed = sign_bundle(_bundle(2, voltage_v=[230.0, 231.5]), KEY)
    data = orjson.loads(encode_bundle(signed))
    assert data["v"] == 1
    assert data["meter"] == "demo:homes-001/grid"
    assert data["start"] == [B0, B0 + 900]
    assert data["voltage_v"] == [230.0, 231.5]
    assert "stored_wh" not in data
    assert data["sig"] == "0x" + signed.signature.hex()
    assert len(data["sig"]) == 132


@pytest.mark.parametrize(
    ("payload", "match", "names_meter"),
    [
        (b"{not json", "not JSON", False),
        (b"", "not JSON", False),
        (b"[1, 2]", "must be a JSON object", False),
        (orjson.dumps(_payload(meter=7)), "meter must be a string", False),
        (orjson.dumps(_payload(meter=None)), "meter must be a string", False),
        (orjson.dumps(_payload(v=2)), r"unsupported version 2 \(expected 1\)", True),
        (orjson.dumps(_payload(v=None)), "unsupported version None", True),
        (orjson.dumps(_payload(extra=1)), r"unknown field\(s\) \['extra'\]", True),
        (orjson.dumps(_payload(seq=None)), r"missing field\(s\) \['seq'\]", True),
        (orjson.dumps(_payload(sig=None)), "sig must be 0x followed by 130 hex", True),
        (orjson.dumps(_payload(sig="0x1234")), "sig must be 0x followed by 130 hex", True),
        (orjson.dumps(_payload(sig="zz" + "a" * 130)), "sig must be 0x followed", True),
        (orjson.dumps(_payload(sig="0x" + "zz" * 65)), "sig is not hex", True),
        (orjson.dumps(_payload(start=[B0])), r"columns differ in length: \[1, 2\]", True),
        (orjson.dumps(_payload(seq=["41", "42"])), "seq must be a list of integers", True),
        (orjson.dumps(_payload(seq=41)), "seq must be a list of integers", True),
        (orjson.dumps(_payload(import_wh=[1.5, 2])), "import_wh must be a list of integers", True),
        (orjson.dumps(_payload(export_wh=[None, 0])), "export_wh must be a list of integers", True),
        (orjson.dumps(_payload(voltage_v=["a", "b"])), "voltage_v must be a list of numbers", True),
        (orjson.dumps(_payload(voltage_v=[None, 1.0])), "voltage_v must be a list of finite", True),
        (orjson.dumps(_payload(stored_wh=[1])), r"differ in length", True),
        (orjson.dumps(_payload(import_wh=[2**63, 0])), "does not fit a 64-bit integer", True),
    ],
)
def test_decode_refuses_malformed_payloads(payload: bytes, match: str, names_meter: bool) -> None:
    """Each malformation raises MalformedBundle whose detail says what is wrong and
    which meter it claims to be from, when that much could be read."""
    with pytest.raises(MalformedBundle, match=match) as caught:
        decode_bundle(payload)
    expected = "demo:homes-001/grid" if names_meter else None
    assert caught.value.meter_id == expected
