"""Signed reading bundles: what a meter sends, how it is signed and how it travels.

A *bundle* is one meter's readings of one or more consecutive intervals, signed once by
the meter's device key (the secp256k1 key whose address the operator registered in
ParticipantRegistry). A meter publishing every interval sends bundles of one reading; a
meter or gateway catching up after an outage, or uploading a day's load profile, sends
many readings under one signature. Each reading in a bundle is still individually
attributable: the stored signature covers it.

The signed digest is SHA-256 of a canonical binary encoding (:func:`bundle_digest`; the
hash secure elements in meters compute natively),
independent of the JSON transport; the signature is 65 bytes ``r || s || v`` (``v`` in
{0, 1}), recoverable, so the verifier learns the signing address without a key lookup.

JSON wire format (MQTT payload, HTTP body item), columns of equal length::

    {"v": 1, "meter": "demo:homes-001/grid",
     "start": [1748822400, ...],            interval starts, unix seconds UTC
     "seq": [41, ...],                      the device's monotonic sequence numbers
     "import_wh": [120, ...], "export_wh": [0, ...],            energy in the interval
     "import_register_wh": [..], "export_register_wh": [..],    cumulative at its end
     "voltage_v": [..], "frequency_hz": [..], "power_factor": [..], "thd_pct": [..],
                                            optional power-quality columns
     "stored_wh": [..],                     optional: storage meters' stored energy
     "sig": "0x<130 hex>"}
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import coincurve
import numpy as np
import orjson
from numpy.typing import NDArray

from gridshare.evm import address_of_public_key, recover_address
from gridshare.units import FloatArray, IntArray

WIRE_VERSION = 1
_DOMAIN = b"gridshare.readings.v1"
ENERGY_COLUMNS = (
    "start",
    "seq",
    "import_wh",
    "export_wh",
    "import_register_wh",
    "export_register_wh",
)
QUALITY_COLUMNS = ("voltage_v", "frequency_hz", "power_factor", "thd_pct")
MAX_BUNDLE_READINGS = 10_000
MAX_INT = (1 << 63) - 1


class MalformedBundle(ValueError):
    """The payload is not a well-formed bundle; ``detail`` says what is wrong."""

    def __init__(self, detail: str, meter_id: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.meter_id = meter_id


@dataclass(frozen=True, slots=True, eq=False)
class ReadingBundle:
    """One meter's readings, as columns (unsigned until :func:`sign_bundle`)."""

    meter_id: str
    start: IntArray
    seq: IntArray
    import_wh: IntArray
    export_wh: IntArray
    import_register_wh: IntArray
    export_register_wh: IntArray
    quality: dict[str, FloatArray] = field(default_factory=dict)
    signature: bytes = b""
    stored_wh: IntArray | None = None
    """Energy stored at the interval's end (storage meters only)."""

    def __len__(self) -> int:
        return int(self.start.size)

    def with_signature(self, signature: bytes) -> ReadingBundle:
        return ReadingBundle(
            self.meter_id,
            self.start,
            self.seq,
            self.import_wh,
            self.export_wh,
            self.import_register_wh,
            self.export_register_wh,
            self.quality,
            signature,
            self.stored_wh,
        )

    def column(self, name: str) -> IntArray:
        value: IntArray = getattr(self, name)
        return value


def make_bundle(
    meter_id: str,
    start: object,
    seq: object,
    import_wh: object,
    export_wh: object,
    import_register_wh: object,
    export_register_wh: object,
    quality: Mapping[str, object] | None = None,
    stored_wh: object = None,
) -> ReadingBundle:
    """A bundle from any int sequences (checked for shape and integer type): lists or
    tuples of ints, or 1-d integer arrays; ``quality`` maps power-quality column names to
    sequences of numbers."""
    columns = [
        _int_column(value, name)
        for value, name in zip(
            (start, seq, import_wh, export_wh, import_register_wh, export_register_wh),
            ENERGY_COLUMNS,
            strict=True,
        )
    ]
    pq = {name: _float_column(value, name) for name, value in (quality or {}).items()}
    stored = None if stored_wh is None else _int_column(stored_wh, "stored_wh")
    if unknown := set(pq) - set(QUALITY_COLUMNS):
        raise MalformedBundle(f"unknown power-quality field(s) {sorted(unknown)}", meter_id)
    sizes = {c.size for c in columns} | {c.size for c in pq.values()}
    if stored is not None:
        sizes.add(stored.size)
    if len(sizes) != 1:
        raise MalformedBundle(f"columns differ in length: {sorted(sizes)}", meter_id)
    if not columns[0].size:
        raise MalformedBundle("a bundle holds at least one reading", meter_id)
    if columns[0].size > MAX_BUNDLE_READINGS:
        raise MalformedBundle(f"a bundle holds at most {MAX_BUNDLE_READINGS} readings", meter_id)
    if not meter_id or len(meter_id) > 200:
        raise MalformedBundle("meter must be a non-empty string of at most 200 characters")
    start_c, seq_c, imp_c, exp_c, reg_i_c, reg_e_c = columns
    return ReadingBundle(
        meter_id, start_c, seq_c, imp_c, exp_c, reg_i_c, reg_e_c, pq, stored_wh=stored
    )


def _int_column(value: object, name: str) -> IntArray:
    if not isinstance(value, list | tuple | np.ndarray):
        raise MalformedBundle(f"{name} must be a list of integers")
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or (value.size and not np.issubdtype(value.dtype, np.integer)):
            raise MalformedBundle(f"{name} must be a list of integers")
        return value.astype(np.int64, copy=False)
    if len(value) == 1 and type(value[0]) is int and -MAX_INT <= value[0] <= MAX_INT:
        return np.array(value, dtype=np.int64)  # the one-reading fast path
    if value and set(map(type, value)) != {int}:  # bool is not int here: type() is exact
        item = next(v for v in value if type(v) is not int)
        raise MalformedBundle(f"{name} must be a list of integers, found {item!r}")
    if value and not (min(value) >= -MAX_INT and max(value) <= MAX_INT):
        item = next(v for v in value if not -MAX_INT <= v <= MAX_INT)
        raise MalformedBundle(f"{name}: {item} does not fit a 64-bit integer")
    return np.array(value, dtype=np.int64)


def _float_column(value: object, name: str) -> FloatArray:
    if not isinstance(value, list | tuple | np.ndarray):
        raise MalformedBundle(f"{name} must be a list of numbers")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise MalformedBundle(f"{name} must be a list of numbers") from None
    if array.ndim != 1 or not np.isfinite(array).all():
        raise MalformedBundle(f"{name} must be a list of finite numbers")
    return array


def _packed(column: NDArray[Any], code: str) -> bytes:
    if column.size > 8:  # numpy's byte swap beats struct for all but the shortest columns
        return column.astype(">i8" if code == "q" else ">f8").tobytes()
    values = column.tolist()
    return struct.pack(f">{len(values)}{code}", *values)


def canonical_message(bundle: ReadingBundle) -> bytes:
    """The canonical binary encoding of a bundle: what its signature covers.

    Domain tag, meter id length and reading count, the meter id (UTF-8), the six energy
    columns as big-endian int64, then for each power-quality column and ``stored_wh`` a
    presence byte followed by its values (big-endian float64 / int64). The store keeps
    this message with the signature, so any stored reading can be re-proven later.
    """
    meter = bundle.meter_id.encode()
    n = len(bundle)
    parts = [_DOMAIN, struct.pack(">HI", len(meter), n), meter]
    if n <= 8:  # one pack of all six columns (column after column), the common case
        values: list[int] = []
        for name in ENERGY_COLUMNS:
            values += bundle.column(name).tolist()
        parts.append(struct.pack(f">{6 * n}q", *values))
    else:
        parts.extend(_packed(bundle.column(name), "q") for name in ENERGY_COLUMNS)
    for name in QUALITY_COLUMNS:
        column = bundle.quality.get(name)
        parts.append(b"\x00" if column is None else b"\x01" + _packed(column, "d"))
    stored = bundle.stored_wh
    parts.append(b"\x00" if stored is None else b"\x01" + _packed(stored, "q"))
    return b"".join(parts)


def bundle_digest(bundle: ReadingBundle) -> bytes:
    """SHA-256 of :func:`canonical_message`: what the device key signs."""
    return hashlib.sha256(canonical_message(bundle)).digest()


def bundle_from_message(message: bytes, signature: bytes = b"") -> ReadingBundle:
    """The bundle a canonical message encodes (the inverse of :func:`canonical_message`)."""
    try:
        if not message.startswith(_DOMAIN):
            raise MalformedBundle("not a gridshare reading message")
        at = len(_DOMAIN)
        meter_len, count = struct.unpack_from(">HI", message, at)
        at += 6
        meter = message[at : at + meter_len].decode()
        at += meter_len
        columns = []
        for _ in ENERGY_COLUMNS:
            columns.append(np.frombuffer(message, ">i8", count, at).astype(np.int64))
            at += 8 * count
        quality = {}
        for name in QUALITY_COLUMNS:
            present = message[at]
            at += 1
            if present:
                quality[name] = np.frombuffer(message, ">f8", count, at).astype(np.float64)
                at += 8 * count
        stored = None
        if message[at]:
            stored = np.frombuffer(message, ">i8", count, at + 1).astype(np.int64)
            at += 8 * count
        at += 1
        if at != len(message):
            raise MalformedBundle("trailing bytes after the message")
    except (struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:
        raise MalformedBundle(f"unreadable reading message: {exc}") from None
    start, seq, imp, exp, reg_i, reg_e = columns
    return ReadingBundle(meter, start, seq, imp, exp, reg_i, reg_e, quality, signature, stored)


def sign_bundle(bundle: ReadingBundle, private_key: bytes) -> ReadingBundle:
    """The bundle signed with a device's 32-byte secp256k1 private key."""
    signature = coincurve.PrivateKey(private_key).sign_recoverable(
        bundle_digest(bundle), hasher=None
    )
    return bundle.with_signature(signature)


def device_address(private_key: bytes) -> bytes:
    """The 20-byte address of a device's private key."""
    return address_of_public_key(coincurve.PrivateKey(private_key).public_key.format(False))


def recover_signer(bundle: ReadingBundle) -> bytes | None:
    """The address that signed the bundle, or None when the signature is unusable."""
    return recover_message_signer(canonical_message(bundle), bundle.signature)


def recover_message_signer(message: bytes, signature: bytes) -> bytes | None:
    """The address that signed a canonical message, or None for an unusable signature."""
    if len(signature) != 65:
        return None
    # recover_address takes only the canonical low-s form, so one reading has one signature.
    return recover_address(hashlib.sha256(message).digest(), signature[:64], signature[64])


BundleJson = dict[str, int | str | list[int] | list[float]]
"""A bundle's JSON object as sent: version, meter id, one list per column, signature."""


def bundle_to_json(bundle: ReadingBundle) -> BundleJson:
    data: BundleJson = {"v": WIRE_VERSION, "meter": bundle.meter_id}
    for name in ENERGY_COLUMNS:
        data[name] = bundle.column(name).tolist()
    for name, column in bundle.quality.items():
        data[name] = column.tolist()
    if bundle.stored_wh is not None:
        data["stored_wh"] = bundle.stored_wh.tolist()
    data["sig"] = "0x" + bundle.signature.hex()
    return data


def encode_bundle(bundle: ReadingBundle) -> bytes:
    """The JSON payload of a signed bundle."""
    return orjson.dumps(bundle_to_json(bundle))


def bundle_from_json(data: object) -> ReadingBundle:
    """A bundle from parsed JSON; :class:`MalformedBundle` says what is wrong."""
    if not isinstance(data, dict):
        raise MalformedBundle("a bundle must be a JSON object")
    meter = data.get("meter")
    if not isinstance(meter, str):
        raise MalformedBundle("meter must be a string")
    if data.get("v") != WIRE_VERSION:
        raise MalformedBundle(f"unsupported version {data.get('v')!r} (expected 1)", meter)
    allowed = {"v", "meter", "sig", "stored_wh", *ENERGY_COLUMNS, *QUALITY_COLUMNS}
    if unknown := set(data) - allowed:
        raise MalformedBundle(f"unknown field(s) {sorted(unknown)}", meter)
    missing = [name for name in ENERGY_COLUMNS if name not in data]
    if missing:
        raise MalformedBundle(f"missing field(s) {missing}", meter)
    sig = data.get("sig")
    if not isinstance(sig, str) or not sig.startswith("0x") or len(sig) != 132:
        raise MalformedBundle("sig must be 0x followed by 130 hex digits", meter)
    try:
        signature = bytes.fromhex(sig[2:])
    except ValueError:
        raise MalformedBundle("sig is not hex", meter) from None
    try:
        bundle = make_bundle(
            meter,
            data["start"],
            data["seq"],
            data["import_wh"],
            data["export_wh"],
            data["import_register_wh"],
            data["export_register_wh"],
            quality={name: data[name] for name in QUALITY_COLUMNS if name in data},
            stored_wh=data.get("stored_wh"),
        )
    except MalformedBundle as exc:
        raise MalformedBundle(exc.detail, meter) from None
    return bundle.with_signature(signature)


def decode_bundle(payload: bytes) -> ReadingBundle:
    """A bundle from its JSON payload."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise MalformedBundle(f"not JSON: {exc}") from None
    return bundle_from_json(data)


def quality_in_range(name: str, column: FloatArray) -> NDArray[np.bool_]:
    """Which power-quality values are physically plausible."""
    low, high = QUALITY_RANGES[name]
    return (column >= low) & (column <= high)


QUALITY_RANGES: dict[str, tuple[float, float]] = {
    "voltage_v": (0.0, 1000.0),
    "frequency_hz": (40.0, 70.0),
    "power_factor": (-1.0, 1.0),
    "thd_pct": (0.0, 100.0),
}
