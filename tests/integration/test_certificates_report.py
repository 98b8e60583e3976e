"""`gridshare certificates report`: the pure aggregation, and the command on a simulated run.

The run is a tiny community (three PV homes, two homes without generation, one day of
hourly intervals) on the embedded chain; afterwards a member transfers certificates to
another member and to an outside account, and two accounts retire some, signed with the
members' deterministic keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from typer.testing import CliRunner, Result

from gridshare.app.simulate import run_simulation
from gridshare.certificates.issuance import DEFAULT_AVOIDED_G_PER_KWH, split_token_id, token_id
from gridshare.certificates.report import (
    ZERO_ADDRESS,
    CertificateEvent,
    CertificateEventError,
    GeneratorRegistration,
    Mint,
    Retirement,
    Transfer,
    account_participants,
    certificate_report,
    decode_certificate_events,
)
from gridshare.cli import app
from gridshare.ledger.calls import calldata
from gridshare.ledger.chain import ChainConnection, open_chain
from gridshare.ledger.deployment import Deployment, contract
from gridshare.ledger.events import EventReader
from gridshare.ledger.keys import LocalSigner
from gridshare.ledger.transactions import TransactionManager
from gridshare.model.chain import ChainEvent, JsonScalar
from gridshare.model.summary import CertificateSummary, RunSummary
from gridshare.simulator.meters import simulated_device_key
from gridshare.simulator.run import prepare
from gridshare.storage import open_store

runner = CliRunner()

# -- the pure aggregation ---------------------------------------------------------------

ALICE = "0x" + "aa" * 20
BOB = "0x" + "bb" * 20
CAROL = "0x" + "cc" * 20
DEVICE = bytes.fromhex("11" * 20)
OTHER_DEVICE = bytes.fromhex("22" * 20)
HOUR = 3_600
T0 = 1_748_836_800  # 2025-06-02 04:00 UTC, an hour boundary


def _registration(device: bytes, owner: str, g_per_kwh: int) -> GeneratorRegistration:
    return GeneratorRegistration(device, owner, 1, 5_000, g_per_kwh)


def test_report_counts_issue_transfer_retire_and_hold_per_account() -> None:
    first, second = token_id(DEVICE, T0), token_id(DEVICE, T0 + HOUR)
    events: list[CertificateEvent] = [
        _registration(DEVICE, ALICE, 380),
        Mint(ALICE, first, 1_000),
        Mint(ALICE, second, 2_000),
        Transfer(ALICE, BOB, first, 400),
        Transfer(BOB, CAROL, first, 100),
        Retirement(BOB, first, 250, 1, "Bob's bakery", "Scope 2, June"),
    ]
    report = certificate_report(events, participant_ids={ALICE.upper(): "c:alice"})
    rows = {row.account: row for row in report.accounts}
    alice, bob, carol = rows[ALICE].flows, rows[BOB].flows, rows[CAROL].flows
    assert rows[ALICE].participant_id == "c:alice"  # looked up regardless of case
    assert rows[BOB].participant_id is None
    assert (alice.issued_wh, alice.transferred_out_wh, alice.held_wh) == (3_000, 400, 2_600)
    assert (bob.transferred_in_wh, bob.transferred_out_wh, bob.retired_wh) == (400, 100, 250)
    assert bob.held_wh == 50
    assert (carol.transferred_in_wh, carol.held_wh) == (100, 100)
    assert alice.avoided_co2_mg == 3_000 * 380
    assert alice.avoided_co2_g == 1_140
    assert bob.claimed_co2_mg == 250 * 380
    assert bob.avoided_co2_mg == 0
    totals = report.totals
    assert (totals.issued_wh, totals.retired_wh, totals.held_wh) == (3_000, 250, 2_750)
    assert totals.transferred_in_wh == totals.transferred_out_wh == 500
    assert [row.account for row in report.accounts] == [ALICE, BOB, CAROL]  # named first
    (claim,) = report.claims
    assert (claim.holder, claim.amount_wh, claim.beneficiary) == (BOB, 250, "Bob's bakery")
    assert claim.interval_start_s == T0
    assert claim.device == "0x" + DEVICE.hex()
    assert claim.as_json()["avoided_co2_kg"] == pytest.approx(250 * 380 / 1e6)
    assert claim.as_json()["interval_start"] == "2025-06-02T04:00:00+00:00"


def test_a_certificate_keeps_the_rate_registered_when_it_was_minted() -> None:
    early, late = token_id(DEVICE, T0), token_id(DEVICE, T0 + HOUR)
    events: list[CertificateEvent] = [
        _registration(DEVICE, ALICE, 380),
        Mint(ALICE, early, 1_000),
        _registration(DEVICE, ALICE, 500),  # updated metadata
        Mint(ALICE, late, 1_000),
        Retirement(ALICE, early, 10, 1, "x", "y"),
    ]
    report = certificate_report(events)
    (alice,) = report.accounts
    assert alice.flows.avoided_co2_mg == 1_000 * 380 + 1_000 * 500
    assert alice.flows.claimed_co2_mg == 10 * 380


def test_the_period_selects_certificates_by_their_interval_not_by_when_they_moved() -> None:
    before, inside = token_id(DEVICE, T0 - HOUR), token_id(DEVICE, T0)
    after = token_id(OTHER_DEVICE, T0 + 24 * HOUR)
    events: list[CertificateEvent] = [
        _registration(DEVICE, ALICE, 380),
        _registration(OTHER_DEVICE, CAROL, 380),
        Mint(ALICE, before, 7),
        Mint(ALICE, inside, 11),
        Mint(CAROL, after, 13),
        Transfer(ALICE, BOB, before, 7),
        Transfer(ALICE, BOB, inside, 5),
        Retirement(BOB, before, 7, 1, "x", "y"),
    ]
    report = certificate_report(events, start_s=T0, end_s=T0 + 24 * HOUR)
    rows = {row.account: row.flows for row in report.accounts}
    assert rows[ALICE].issued_wh == 11
    assert rows[BOB].transferred_in_wh == 5
    assert rows[BOB].retired_wh == 0
    assert rows[CAROL].issued_wh == 0  # a generator owner is listed, with nothing this day
    assert report.claims == []
    assert report.totals.issued_wh == 11
    nothing = certificate_report(events, start_s=T0 + 48 * HOUR)
    assert nothing.totals.issued_wh == nothing.totals.held_wh == 0
    assert nothing.totals.avoided_co2_mg == 0


def _chain_event(
    index: int, event: str, contract: str = "EnergyCertificate", **args: Any
) -> ChainEvent:
    values: tuple[tuple[str, JsonScalar], ...] = tuple(args.items())
    return ChainEvent(1, 10, index, "0x" + "00" * 32, contract, event, values)


def test_decoding_splits_mints_transfers_batches_and_retirements() -> None:
    device = "0x" + DEVICE.hex()
    ids = [token_id(DEVICE, T0), token_id(DEVICE, T0 + HOUR)]
    stored = [
        _chain_event(
            0,
            "GeneratorRegistered",
            device=device,
            participant=ALICE,
            source=1,
            capacity_w=5_000,
            latitude_e6=1,
            longitude_e6=2,
            avoided_g_per_kwh=380,
        ),
        _chain_event(
            1,
            "TransferSingle",
            operator=ALICE,
            sender=ZERO_ADDRESS,
            receiver=ALICE,
            id=ids[0],
            value=5,
        ),
        _chain_event(
            2,
            "TransferBatch",
            operator=ALICE,
            sender=ALICE,
            receiver=BOB,
            ids=f"({ids[0]}, {ids[1]})",
            values="[1, 2]",
        ),
        _chain_event(
            3,
            "TransferBatch",
            operator=ALICE,
            sender=ALICE,
            receiver=BOB,
            ids=f"({ids[1]},)",
            values="(3,)",
        ),
        _chain_event(
            4, "TransferSingle", operator=BOB, sender=BOB, receiver=ZERO_ADDRESS, id=ids[0], value=1
        ),
        _chain_event(
            5, "Retired", holder=BOB, id=ids[0], amount=1, claim_id=1, beneficiary="b", purpose="p"
        ),
        _chain_event(
            6, "Transfer", contract="CommunityCredit", sender=ALICE, receiver=BOB, value=9
        ),
    ]
    assert decode_certificate_events(stored) == [
        GeneratorRegistration(DEVICE, ALICE, 1, 5_000, 380),
        Mint(ALICE, ids[0], 5),
        Transfer(ALICE, BOB, ids[0], 1),
        Transfer(ALICE, BOB, ids[1], 2),
        Transfer(ALICE, BOB, ids[1], 3),
        Retirement(BOB, ids[0], 1, 1, "b", "p"),
    ]


@pytest.mark.parametrize(
    "event",
    [
        _chain_event(
            0, "TransferSingle", operator=ALICE, sender=ALICE, receiver=BOB, id="x", value=1
        ),
        _chain_event(
            0,
            "TransferBatch",
            operator=ALICE,
            sender=ALICE,
            receiver=BOB,
            ids="(1, 2)",
            values="(1,)",
        ),
        _chain_event(
            0, "TransferBatch", operator=ALICE, sender=ALICE, receiver=BOB, ids="(a)", values="(1)"
        ),
        _chain_event(
            0,
            "GeneratorRegistered",
            device="0x12",
            participant=ALICE,
            source=1,
            capacity_w=1,
            latitude_e6=0,
            longitude_e6=0,
            avoided_g_per_kwh=1,
        ),
    ],
)
def test_decoding_refuses_malformed_events(event: ChainEvent) -> None:
    with pytest.raises(CertificateEventError, match="block 10 log 0"):
        decode_certificate_events([event])


def test_accounts_are_named_through_their_registered_devices() -> None:
    stored = [
        _chain_event(
            0,
            "DeviceRegistered",
            "ParticipantRegistry",
            device="0xAB" + "00" * 19,
            participant=ALICE,
            meter_id="0x00",
        ),
        _chain_event(
            1,
            "DeviceRegistered",
            "ParticipantRegistry",
            device="0xCD" + "00" * 19,
            participant=ALICE,
            meter_id="0x00",
        ),
        _chain_event(
            2,
            "DeviceRegistered",
            "ParticipantRegistry",
            device="0xEF" + "00" * 19,
            participant=BOB,
            meter_id="0x00",
        ),
        _chain_event(
            3,
            "DeviceRegistered",
            "ParticipantRegistry",
            device="0x99" + "00" * 19,
            participant=CAROL,
            meter_id="0x00",
        ),
    ]
    devices = {
        "0xab" + "00" * 19: "c:alice",
        "0xcd" + "00" * 19: "c:alice",
        "0xef" + "00" * 19: "c:bob",
    }
    assert account_participants(stored, devices) == {ALICE: "c:alice", BOB: "c:bob"}


ACCOUNTS = [ALICE, BOB, CAROL]


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["mint", "transfer", "retire"]),
            st.integers(0, 2),
            st.integers(0, 2),
            st.integers(0, 5),
            st.integers(1, 10_000),
        ),
        max_size=60,
    ),
    start=st.integers(0, 6),
)
def test_no_certificate_is_created_or_lost(
    steps: list[tuple[str, int, int, int, int]], start: int
) -> None:
    """Whatever happens, issued = held + retired and transfers balance, in any period."""
    balances: dict[tuple[str, int], int] = {}
    events: list[CertificateEvent] = [_registration(DEVICE, ALICE, 380)]
    minted: set[int] = set()
    for kind, a, b, slot, amount in steps:
        token = token_id(DEVICE, T0 + slot * HOUR)
        holder, other = ACCOUNTS[a], ACCOUNTS[b]
        have = balances.get((holder, token), 0)
        if kind == "mint" and token not in minted:
            minted.add(token)
            balances[(holder, token)] = amount
            events.append(Mint(holder, token, amount))
        elif kind == "transfer" and have and holder != other:
            moved = min(amount, have)
            balances[(holder, token)] = have - moved
            balances[(other, token)] = balances.get((other, token), 0) + moved
            events.append(Transfer(holder, other, token, moved))
        elif kind == "retire" and have:
            retired = min(amount, have)
            balances[(holder, token)] = have - retired
            events.append(Retirement(holder, token, retired, len(events), "b", "p"))
    start_s = T0 + start * HOUR
    report = certificate_report(events, start_s=start_s)
    totals = report.totals
    assert totals.issued_wh == totals.held_wh + totals.retired_wh
    assert totals.transferred_in_wh == totals.transferred_out_wh
    assert totals.avoided_co2_mg == totals.issued_wh * 380
    assert sum(c.amount_wh for c in report.claims) == totals.retired_wh
    for row in report.accounts:
        expected = sum(
            wh
            for (account, token), wh in balances.items()
            if account == row.account and split_token_id(token)[1] >= start_s
        )
        assert row.flows.held_wh == expected


# -- the command on a simulated run -----------------------------------------------------

SCENARIO = """
[community]
id = "tiny"
name = "Tiny Solar Street"
time_zone = "America/New_York"
seed = 7

[simulation]
start = 2025-06-02
days = 1
interval_minutes = 60

[weather]
source = "pvlib:723170TYA.CSV"

[grid]
import_price_per_kwh = 0.28
export_price_per_kwh = 0.07
import_limit_kw = 100
export_limit_kw = 100

[[groups]]
name = "pv-homes"
count = 3
role = "prosumer"
load = { profile = "H0", annual_kwh = 4000 }
pv = { kwp = 5.0, variation = 0.2 }

[[groups]]
name = "homes"
count = 2
role = "consumer"
load = { profile = "H0", annual_kwh = 4000 }
"""
PRODUCER = "tiny:pv-homes-001"
RETIRING_PRODUCER = "tiny:pv-homes-002"
CONSUMER = "tiny:homes-001"
TO_CONSUMER_WH = 500
TO_OUTSIDER_WH = (100, 200)
CONSUMER_RETIRES_WH = 300
PRODUCER_RETIRES_WH = 1_000


@dataclass
class Run:
    directory: Path
    summary: RunSummary
    accounts: dict[str, str]
    """Chain account of the participants involved, and of "outsider"."""
    balances: dict[str, int]
    """Each involved account's on-chain balance of all its certificates, Wh."""


def _member(participant_id: str) -> LocalSigner:
    key = simulated_device_key("tiny", 7, f"participant:{participant_id}")
    return LocalSigner(Account.from_key(key))


def _send(
    connection: ChainConnection, deployment: Deployment, signer: LocalSigner, fn: str, *args: object
) -> None:
    tm = TransactionManager(connection.web3, signer)
    data = calldata("EnergyCertificate", fn, *args)
    tm.send({"to": deployment.address("EnergyCertificate"), "data": data}, gas=500_000)


def _minted_to(connection: ChainConnection, deployment: Deployment, account: str) -> dict[int, int]:
    reader = EventReader(connection.web3, deployment)
    return {
        int(e.arg("id")): int(e.arg("value"))
        for e in reader.read(0, connection.web3.eth.block_number)
        if e.event == "TransferSingle"
        and e.arg("sender") == ZERO_ADDRESS
        and e.arg("receiver") == account
    }


def _trade_and_retire(
    connection: ChainConnection, deployment: Deployment
) -> tuple[dict[str, str], dict[str, int]]:
    """Transfers and retirements; returns the accounts involved and their balances."""
    producer, retiring, consumer = (_member(p) for p in (PRODUCER, RETIRING_PRODUCER, CONSUMER))
    outsider = LocalSigner.generate().address
    for member in (producer, retiring, consumer):
        connection.transactions.send({"to": member.address, "value": 10**17}, gas=21_000)
    tokens = _minted_to(connection, deployment, producer.address)
    largest = sorted(tokens, key=lambda token: -tokens[token])[:3]
    _send(
        connection,
        deployment,
        producer,
        "safeTransferFrom",
        producer.address,
        consumer.address,
        largest[0],
        TO_CONSUMER_WH,
        b"",
    )
    _send(
        connection,
        deployment,
        producer,
        "safeBatchTransferFrom",
        producer.address,
        outsider,
        largest[1:],
        list(TO_OUTSIDER_WH),
        b"",
    )
    _send(
        connection,
        deployment,
        consumer,
        "retire",
        largest[0],
        CONSUMER_RETIRES_WH,
        "Greensboro Library",
        "Scope 2, June 2025",
    )
    own = _minted_to(connection, deployment, retiring.address)
    biggest = max(own, key=lambda token: own[token])
    _send(
        connection,
        deployment,
        retiring,
        "retire",
        biggest,
        PRODUCER_RETIRES_WH,
        "Household 2",
        "Own consumption",
    )
    certificate = contract(connection.web3, deployment, "EnergyCertificate")
    accounts = {
        PRODUCER: producer.address,
        RETIRING_PRODUCER: retiring.address,
        CONSUMER: consumer.address,
        "outsider": outsider,
    }
    held_tokens = {
        PRODUCER: list(tokens),
        RETIRING_PRODUCER: list(own),
        CONSUMER: [largest[0]],
        "outsider": largest[1:],
    }
    balances = {
        name: sum(certificate.functions.balanceOfBatch([accounts[name]] * len(ids), ids).call())
        for name, ids in held_tokens.items()
    }
    return accounts, balances


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    directory = tmp_path_factory.mktemp("certificates")
    scenario = directory / "tiny.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    operator = LocalSigner.generate()
    result = run_simulation(
        prepare(scenario), directory / "run", scenario_name="tiny", plots=False, operator=operator
    )
    assert result.summary.verified is True
    connection = open_chain(directory / "run", operator)
    try:
        deployment = Deployment.read(connection.deployment_file())
        accounts, balances = _trade_and_retire(connection, deployment)
    finally:
        connection.close()
    return Run(directory / "run", result.summary, accounts, balances)


def _invoke(directory: Path, *args: str) -> Result:
    env = {
        "GRIDSHARE_DATA_DIR": str(directory),
        "GRIDSHARE_DATABASE_URL": None,
        "GRIDSHARE_CHAIN_URL": None,
        "COLUMNS": "160",  # rich's width: no wrapped cells to search through
    }
    return runner.invoke(app, ["certificates", "report", *args], env=env)


def _report(run: Run, tmp_path: Path, *args: str) -> dict[str, Any]:
    out = tmp_path / "report.json"
    result = _invoke(run.directory, "--json", str(out), *args)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return document


def _production_wh(run: Run) -> dict[str, int]:
    store = open_store(f"sqlite:///{run.directory / 'gridshare.sqlite'}")
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT m.participant_id, SUM(r.export_wh) FROM readings r "
                    "JOIN meters m ON m.meter_pk = r.meter_pk WHERE m.kind = 'production' "
                    "GROUP BY m.participant_id"
                )
            ).all()
    finally:
        store.close()
    return {str(pid): int(wh) for pid, wh in rows}


def test_report_adds_up_to_the_certified_production(run: Run, tmp_path: Path) -> None:
    document = _report(run, tmp_path)
    rows = {row["participant_id"] or row["account"]: row for row in document["participants"]}
    totals = document["totals"]
    issued_wh = run.summary.section(CertificateSummary).certificates_issued_wh
    assert totals["issued_wh"] == issued_wh > 0
    assert sum(row["issued_wh"] for row in rows.values()) == totals["issued_wh"]
    production = _production_wh(run)
    assert set(production) == {"tiny:pv-homes-001", "tiny:pv-homes-002", "tiny:pv-homes-003"}
    for participant_id, export_wh in production.items():
        row = rows[participant_id]
        assert row["issued_wh"] == export_wh
        assert row["account"] in {a["account"] for a in document["participants"]}
        assert row["avoided_co2_g"] == export_wh * DEFAULT_AVOIDED_G_PER_KWH // 1000
        assert row["avoided_co2_kg"] == pytest.approx(export_wh * 380 / 1e6)
    assert totals["avoided_co2_g"] == totals["issued_wh"] * 380 // 1000


def test_report_shows_transfers_retirements_and_balances(run: Run, tmp_path: Path) -> None:
    document = _report(run, tmp_path)
    by_account = {row["account"]: row for row in document["participants"]}
    producer = by_account[run.accounts[PRODUCER]]
    consumer = by_account[run.accounts[CONSUMER]]
    retiring = by_account[run.accounts[RETIRING_PRODUCER]]
    outsider = by_account[run.accounts["outsider"]]
    assert producer["participant_id"] == PRODUCER
    assert consumer["participant_id"] == CONSUMER
    assert outsider["participant_id"] is None
    assert producer["transferred_out_wh"] == TO_CONSUMER_WH + sum(TO_OUTSIDER_WH)
    assert consumer["transferred_in_wh"] == TO_CONSUMER_WH
    assert consumer["issued_wh"] == 0
    assert consumer["retired_wh"] == CONSUMER_RETIRES_WH
    assert consumer["claimed_co2_g"] == CONSUMER_RETIRES_WH * 380 // 1000
    assert outsider["transferred_in_wh"] == sum(TO_OUTSIDER_WH)
    assert retiring["retired_wh"] == PRODUCER_RETIRES_WH
    for name, account in run.accounts.items():
        assert by_account[account]["held_wh"] == run.balances[name], name  # as on chain
    totals = document["totals"]
    assert totals["transferred_in_wh"] == totals["transferred_out_wh"] == 800
    assert totals["retired_wh"] == CONSUMER_RETIRES_WH + PRODUCER_RETIRES_WH
    assert totals["held_wh"] == totals["issued_wh"] - totals["retired_wh"]
    claims = [
        (c["claim_id"], c["participant_id"], c["beneficiary"], c["purpose"], c["amount_wh"])
        for c in document["claims"]
    ]
    assert claims == [
        (1, CONSUMER, "Greensboro Library", "Scope 2, June 2025", CONSUMER_RETIRES_WH),
        (2, RETIRING_PRODUCER, "Household 2", "Own consumption", PRODUCER_RETIRES_WH),
    ]
    assert document["claims"][0]["avoided_co2_kg"] == pytest.approx(0.114)


def test_period_is_the_community_local_day(run: Run, tmp_path: Path) -> None:
    everything = _report(run, tmp_path)
    day = _report(run, tmp_path, "--from", "2025-06-02", "--to", "2025-06-02")
    assert day["time_zone"] == "America/New_York"
    assert day["start"] == "2025-06-02T04:00:00+00:00"
    assert day["end"] == "2025-06-03T04:00:00+00:00"
    assert day["totals"] == everything["totals"]
    assert len(day["claims"]) == 2
    for excluded in (["--from", "2025-06-03"], ["--to", "2025-06-01"]):
        document = _report(run, tmp_path, *excluded)
        assert set(document["totals"].values()) == {0}, excluded
        assert document["claims"] == []
        assert all(row["issued_wh"] == row["held_wh"] == 0 for row in document["participants"])


def test_report_prints_tables_and_indexes_only_new_events(run: Run) -> None:
    _invoke(run.directory)
    result = _invoke(run.directory)
    assert result.exit_code == 0, result.output
    assert "(0 new events indexed)" in result.output
    assert "Certificates per participant" in result.output
    assert "Total" in result.output
    assert "Greensboro Library" in result.output


def test_report_refuses_a_reversed_period(run: Run) -> None:
    result = _invoke(run.directory, "--from", "2025-06-03", "--to", "2025-06-02")
    assert result.exit_code == 2
    assert "before --from" in result.output


def test_report_says_what_is_missing(tmp_path: Path) -> None:
    empty = _invoke(tmp_path / "nothing")
    assert empty.exit_code == 2
    assert "no chain in" in empty.output
    operator = LocalSigner.generate()
    open_chain(tmp_path / "bare", operator).close()
    bare = _invoke(tmp_path / "bare")
    assert bare.exit_code == 2
    assert "nothing deployed" in bare.output
    connection = open_chain(tmp_path / "deployed", operator)
    try:
        connection.deploy()
    finally:
        connection.close()
    deployed = _invoke(tmp_path / "deployed")
    assert deployed.exit_code == 2
    assert "no generators or certificates" in deployed.output
