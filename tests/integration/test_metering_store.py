"""The metering tables on SQLite and on the real PostgreSQL server: signed bundles kept
once, provenance read back, quarantine, commitments and the rows the audit recomputes."""

from __future__ import annotations

import numpy as np

from gridshare.ingest.service import IngestService, Offered
from gridshare.metering.commitment import trees_of_rows
from gridshare.metering.evidence import audit_signed_readings
from gridshare.metering.wire import make_bundle, sign_bundle
from gridshare.model import ReadingBatch
from gridshare.model.records import CommitmentRecord
from gridshare.simulator.meters import SimulatedMeterFleet
from gridshare.storage import open_store
from gridshare.units import Interval, from_unix_seconds
from tests.factories import QUARTER, small_community

T0 = 1_748_822_400


def test_ingest_tables_work_on_both_databases(database_url: str) -> None:
    community = small_community(3, "ms")
    fleet = SimulatedMeterFleet(community, seed=3)
    store = open_store(database_url)
    try:
        store.register_community(community)
        store.set_meter_devices(fleet.devices())
        service = IngestService.for_store(store, now=lambda: T0 + 900 * 10)
        offered = []
        for k in range(3):
            interval = Interval(from_unix_seconds(T0 + 900 * k), QUARTER)
            n = len(community.meters)
            batch = ReadingBatch(
                interval,
                np.arange(n),
                np.full(n, 100 + k, np.int64),
                np.zeros(n, np.int64),
                np.full(n, -1, np.int64),
            )
            offered += [Offered(b) for b in fleet.bundles(batch)]
        forged = sign_bundle(
            make_bundle(community.meters[1].meter_id, [T0 + 900 * 5], [99], [1], [0], [10**6], [0]),
            bytes(range(1, 33)),
        )
        counts = service.submit([*offered, Offered(forged)], "test")
        again = service.submit(offered, "test")  # redelivered: duplicates, bundles kept once
        assert (counts.inserted, counts.rejected) == (12, {"bad_signature": 1})
        assert (again.inserted, again.duplicates) == (0, 12)
        assert store.count("reading_bundles") == 12
        assert store.rejection_counts() == {"bad_signature": 1}

        meter = community.meters[2].meter_id
        record = store.provenance(meter, T0 + 900)
        assert record is not None
        assert (record.seq, record.import_wh, record.import_register_wh) == (2, 101, 201)
        assert record.voltage_v is not None

        bundles = list(store.signed_bundles("ms"))
        evidence = audit_signed_readings(bundles, store.stored_energy("ms"), require_all=True)
        assert (evidence.ok, evidence.readings_proven) == (True, 12)

        rows = store.leaf_rows("ms", T0 + 900)
        trees = trees_of_rows(T0 + 900, rows)
        assert trees.commitment.readings == 4
        assert trees.commitment.consumption_wh == 3 * 101  # the members' grid meters
        with store.transaction() as tx:
            tx.write_commitment(
                CommitmentRecord(
                    community_id="ms",
                    interval_start_s=T0 + 900,
                    production_root="0x" + trees.commitment.production_root.hex(),
                    consumption_root="0x" + trees.commitment.consumption_root.hex(),
                    production_wh=0,
                    consumption_wh=303,
                    import_wh=101,
                    export_wh=0,
                    readings=4,
                    certified_wh=0,
                    tx_hash=None,
                )
            )
        assert store.committed_communities() == ["ms"]
        assert store.commitments("ms")["interval_start_s"].tolist() == [T0 + 900]
    finally:
        store.delete_community("ms")
        store.close()
