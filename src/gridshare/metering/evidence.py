"""Re-proving stored readings from the signed bundles kept with them.

The store keeps every accepted bundle exactly as signed (canonical message + signature).
:func:`audit_signed_readings` checks each bundle's signature against the meter's
registered device and then each stored reading against what its device signed: a stored
value no signed bundle attests is reported with both values, which pinpoints a reading
changed in the database after it arrived; in a community fed by signed meters, a stored
reading without any signed bundle is reported too (it was added, not received).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gridshare.metering.wire import ReadingBundle, canonical_message, recover_message_signer


@dataclass
class SignatureAudit:
    bundles_checked: int = 0
    readings_proven: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def audit_signed_readings(
    bundles: Iterable[tuple[str, str | None, ReadingBundle]],
    stored: Mapping[tuple[str, int], tuple[int, int]],
    *,
    require_all: bool = False,
) -> SignatureAudit:
    """``bundles``: (meter id, registered device 0x-address, bundle); ``stored``: the
    readings table's (import, export) per (meter id, interval start).

    With ``require_all`` (a community fed by signed meters), a stored reading no signed
    bundle carries is a problem too: it was added to the store, not received.
    """
    audit = SignatureAudit()
    signed: dict[tuple[str, int], set[tuple[int, int]]] = {}
    for meter_id, device, bundle in bundles:
        audit.bundles_checked += 1
        signer = recover_message_signer(canonical_message(bundle), bundle.signature)
        if device is None or signer is None or "0x" + signer.hex() != device.lower():
            audit.problems.append(
                f"{meter_id}: a stored bundle ({len(bundle)} readings from "
                f"{int(bundle.start[0])}) is not signed by the meter's device {device}"
            )
            continue
        for start, imp, exp in zip(
            bundle.start.tolist(), bundle.import_wh.tolist(), bundle.export_wh.tolist(), strict=True
        ):
            signed.setdefault((meter_id, start), set()).add((imp, exp))
    if require_all:
        for meter_id, start in sorted(set(stored) - set(signed)):
            audit.problems.append(
                f"{meter_id} at {start}: the store holds a reading no device signed"
            )
    for key, values in signed.items():
        value = stored.get(key)
        if value is None:
            continue  # refused or superseded readings of the bundle are not stored
        if value in values:
            audit.readings_proven += 1
        else:
            meter_id, start = key
            audit.problems.append(
                f"{meter_id} at {start}: the store holds import/export {value} Wh, but the "
                f"device signed {sorted(values)}"
            )
    return audit
