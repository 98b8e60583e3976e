"""Ledger speed through the app's own code path (TransactionManager, deployed contracts).

    .venv/bin/python bench/bench_ledger.py                 # embedded chain
    .venv/bin/python bench/bench_ledger.py --anvil         # a fresh anvil node from .tools

Measures single credit transfers per second (one transaction each, signed, sent and
confirmed) and batched credit transfers per second (256 per transaction).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ledger.conftest import Anvil  # the tests' own anvil launcher
from web3.contract import Contract

from gridshare.ledger.calls import calldata
from gridshare.ledger.chain import ChainConnection, open_chain
from gridshare.ledger.deployment import Deployment, contract
from gridshare.ledger.keys import LocalSigner
from gridshare.ledger.transactions import TransactionManager

PROSUMER = 4
BATCH = 256


def _send(tm: TransactionManager, target: Contract, fn: str, *args: object, gas: int) -> None:
    name = "ParticipantRegistry" if fn.startswith("register") else "CommunityCredit"
    tm.send({"to": target.address, "data": calldata(name, fn, *args)}, gas=gas)


def run(connection: ChainConnection, singles: int, batches: int) -> None:
    deployment: Deployment = connection.deploy()
    tm = connection.transactions
    registry = contract(connection.web3, deployment, "ParticipantRegistry")
    credit = contract(connection.web3, deployment, "CommunityCredit")
    payer = LocalSigner.generate()
    members = [LocalSigner.generate().address for _ in range(BATCH)]
    _send(tm, registry, "register", payer.address, PROSUMER, gas=200_000)
    _send(tm, registry, "register_batch", members, [PROSUMER] * BATCH, gas=20_000_000)
    _send(tm, credit, "mint", payer.address, 10**12, b"\x00" * 32, gas=200_000)
    tm.send({"to": payer.address, "value": 10**20}, gas=21_000)
    payer_tm = TransactionManager(
        connection.web3,
        payer,
        poll_latency_s=tm.poll_latency_s,
        receipt_reader=tm.receipt_reader,
    )

    started = time.perf_counter()
    for i in range(singles):
        _send(payer_tm, credit, "transfer", members[i % BATCH], 1, gas=100_000)
    single_rate = singles / (time.perf_counter() - started)

    started = time.perf_counter()
    for _ in range(batches):
        _send(payer_tm, credit, "transfer_batch", members, [1] * BATCH, gas=15_000_000)
    batched_rate = batches * BATCH / (time.perf_counter() - started)
    if connection.embedded is not None:
        # The ceiling: the same transfer applied and mined by py-evm directly, with no
        # web3, eth-tester front end or transaction manager in between.
        backend = connection.embedded.backend
        data = calldata("CommunityCredit", "transfer", members[0], 1)
        nonce = connection.web3.eth.get_transaction_count(payer.address)
        raws = [
            payer.sign_transaction(
                {
                    "to": credit.address,
                    "data": data,
                    "gas": 100_000,
                    "maxFeePerGas": 10**11,
                    "maxPriorityFeePerGas": 10**9,
                    "nonce": nonce + i,
                    "chainId": tm.chain_id,
                    "type": 2,
                    "value": 0,
                }
            )
            for i in range(singles)
        ]
        started = time.perf_counter()
        for raw in raws:
            backend.send_raw_transaction(raw)
            backend.mine_blocks(1)
        ceiling = singles / (time.perf_counter() - started)
        print(f"py-evm alone, same transfer, one block each: {ceiling:,.0f} tx/s")
    print(f"backend={connection.backend}")
    print(f"single transfers: {single_rate:,.0f} tx/s ({singles} transactions)")
    print(f"batched transfers: {batched_rate:,.0f} transfers/s ({batches} x {BATCH})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--anvil", action="store_true")
    parser.add_argument("--singles", type=int, default=300)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    operator = LocalSigner.generate()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        if args.anvil:
            node = Anvil(directory)
            try:
                node.fund(operator.address, 10**24)
                connection = open_chain(directory, operator, node.url, poll_latency_s=0.001)
                run(connection, args.singles, args.batches)
            finally:
                node.stop()
        else:
            connection = open_chain(directory, operator)
            try:
                run(connection, args.singles, args.batches)
            finally:
                connection.close()


if __name__ == "__main__":
    main()
