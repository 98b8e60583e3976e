"""Simulated smart meters: device keys, cumulative registers, sequence numbers, signing.

The simulator's meter source produces a :class:`ReadingBatch` per interval. This fleet
turns a batch into what real meters would send: one signed bundle per meter, with the
meter's running registers and its next sequence number. Device keys are derived from the
community's seed and the meter id, so a scenario's devices are the same every run (these
keys are for simulation only; real devices keep their key in the meter).
"""

from __future__ import annotations

import numpy as np
from eth_hash.auto import keccak

from gridshare.metering.wire import ReadingBundle, device_address, make_bundle, sign_bundle
from gridshare.model import Community, MeterKind, ReadingBatch

NOMINAL_VOLTAGE_V = 230.0
NOMINAL_FREQUENCY_HZ = 50.0


def simulated_device_key(community_id: str, seed: int, meter_id: str) -> bytes:
    """A deterministic secp256k1 key for a simulated meter."""
    material = f"gridshare.simulated-device/{community_id}/{seed}/{meter_id}".encode()
    key = bytes(keccak(material))
    return key if key != bytes(32) else bytes(keccak(key))


class SimulatedMeterFleet:
    """Every meter of a community as a signing device."""

    def __init__(self, community: Community, seed: int) -> None:
        self.community = community
        self.keys = [
            simulated_device_key(community.community_id, seed, m.meter_id) for m in community.meters
        ]
        self.addresses = ["0x" + device_address(k).hex() for k in self.keys]
        n = len(community.meters)
        self.import_register_wh = np.zeros(n, dtype=np.int64)
        self.export_register_wh = np.zeros(n, dtype=np.int64)
        self.seq = np.zeros(n, dtype=np.int64)
        self._storage = np.array(
            [m.kind is MeterKind.STORAGE for m in community.meters], dtype=bool
        )
        self._rng = np.random.default_rng(seed)

    def devices(self) -> dict[str, str]:
        """Meter id -> device address, for registration."""
        return {m.meter_id: a for m, a in zip(self.community.meters, self.addresses, strict=True)}

    def bundles(self, batch: ReadingBatch) -> list[ReadingBundle]:
        """One signed bundle per meter in ``batch``; advances registers and sequence."""
        idx = batch.meter_index
        self.import_register_wh[idx] += batch.import_wh
        self.export_register_wh[idx] += batch.export_wh
        self.seq[idx] += 1
        voltage = NOMINAL_VOLTAGE_V + self._rng.normal(0.0, 2.0, idx.size)
        frequency = NOMINAL_FREQUENCY_HZ + self._rng.normal(0.0, 0.02, idx.size)
        start = batch.interval.start_s
        out = []
        for row, meter in enumerate(idx.tolist()):
            stored = [int(batch.stored_wh[row])] if self._storage[meter] else None
            bundle = make_bundle(
                self.community.meters[meter].meter_id,
                [start],
                [int(self.seq[meter])],
                [int(batch.import_wh[row])],
                [int(batch.export_wh[row])],
                [int(self.import_register_wh[meter])],
                [int(self.export_register_wh[meter])],
                quality={
                    "voltage_v": [round(float(voltage[row]), 1)],
                    "frequency_hz": [round(float(frequency[row]), 3)],
                },
                stored_wh=stored,
            )
            out.append(sign_bundle(bundle, self.keys[meter]))
        return out
