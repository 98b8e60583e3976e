"""The embedded chain: py-evm through web3.py, persisted to a SQLite file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from gridshare.ledger.embedded import EMBEDDED_CHAIN_ID, ChainError, EmbeddedChain, WrongChainError
from gridshare.ledger.keys import LocalSigner
from gridshare.ledger.transactions import TransactionError, TransactionManager

ETHER = 10**18


def _transfer(
    chain: EmbeddedChain, sender: LocalAccount, to: str, wei: int, chain_id: int | None = None
) -> bytes:
    w3 = chain.web3
    tx = {
        "to": to,
        "value": wei,
        "gas": 21_000,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
        "nonce": w3.eth.get_transaction_count(sender.address),
        "chainId": chain_id if chain_id is not None else chain.chain_id,
        "type": 2,
    }
    return bytes(w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction))


def test_new_chain_starts_at_genesis_with_funded_accounts(tmp_path: Path) -> None:
    operator = Account.create()
    chain = EmbeddedChain(tmp_path, {operator.address: 5 * ETHER})
    try:
        assert chain.web3.eth.chain_id == EMBEDDED_CHAIN_ID
        assert chain.web3.eth.block_number == 0
        assert chain.web3.eth.get_balance(operator.address) == 5 * ETHER
    finally:
        chain.close()


def test_state_blocks_and_receipts_survive_a_restart(tmp_path: Path) -> None:
    operator, member = Account.create(), Account.create()
    chain = EmbeddedChain(tmp_path, {operator.address: 5 * ETHER})
    hashes = [_transfer(chain, operator, member.address, 1_000) for _ in range(5)]
    head = chain.web3.eth.get_block("latest")
    chain.close()

    reopened = EmbeddedChain(tmp_path, {operator.address: 5 * ETHER})
    try:
        w3 = reopened.web3
        assert w3.eth.block_number == 5
        assert w3.eth.get_block("latest")["hash"] == head["hash"]
        assert w3.eth.get_balance(member.address) == 5_000
        assert all(w3.eth.get_transaction_receipt(h)["status"] == 1 for h in hashes)
        _transfer(reopened, operator, member.address, 1)  # the nonce continues
        assert w3.eth.get_balance(member.address) == 5_001
    finally:
        reopened.close()


def test_transaction_for_another_chain_is_refused(tmp_path: Path) -> None:
    operator = Account.create()
    chain = EmbeddedChain(tmp_path, {operator.address: ETHER})
    try:
        with pytest.raises(WrongChainError, match="chain id 1, this chain is"):
            _transfer(chain, operator, operator.address, 1, chain_id=1)
        assert chain.web3.eth.block_number == 0
    finally:
        chain.close()


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from eth_account import Account
    from gridshare.ledger.embedded import EmbeddedChain

    key, directory, member = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    operator = Account.from_key(key)
    chain = EmbeddedChain(directory, {operator.address: 10**18})
    w3 = chain.web3
    nonce = w3.eth.get_transaction_count(operator.address)
    for i in range(10_000):
        tx = {"to": member, "value": 1, "gas": 21_000, "maxFeePerGas": 10**10,
              "maxPriorityFeePerGas": 10**9, "nonce": nonce + i, "chainId": chain.chain_id,
              "type": 2}
        w3.eth.send_raw_transaction(operator.sign_transaction(tx).raw_transaction)
        if i == 20:
            print("ready", flush=True)
    """
)


def test_hard_kill_between_blocks_keeps_a_consistent_chain(tmp_path: Path) -> None:
    """kill -9 a process that is writing blocks; the reopened chain is whole and usable."""
    operator, member = Account.create(), Account.create()
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    directory = tmp_path / "chain"
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(script), operator.key.hex(), str(directory), member.address],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()

    chain = EmbeddedChain(directory, {operator.address: 10**18})
    try:
        w3 = chain.web3
        blocks = w3.eth.block_number
        assert blocks > 20
        # one transfer of 1 wei per block: the balance and the nonce agree with the chain
        assert w3.eth.get_balance(member.address) == blocks
        assert w3.eth.get_transaction_count(operator.address) == blocks
        _transfer(chain, operator, member.address, 1)
        assert w3.eth.get_balance(member.address) == blocks + 1
    finally:
        chain.close()


def test_a_second_opener_is_refused(tmp_path: Path) -> None:
    operator = Account.create()
    chain = EmbeddedChain(tmp_path, {operator.address: ETHER})
    try:
        with pytest.raises(ChainError, match="open in another process"):
            EmbeddedChain(tmp_path, {operator.address: ETHER})
    finally:
        chain.close()
    EmbeddedChain(tmp_path, {operator.address: ETHER}).close()  # free again once closed


def test_a_failed_block_leaves_the_chain_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    operator, member = Account.create(), Account.create()
    chain = EmbeddedChain(tmp_path, {operator.address: ETHER})
    try:
        _transfer(chain, operator, member.address, 1)
        original = chain.backend.chain.mine_block
        calls = {"n": 0}

        def failing_once(*args: object, **kwargs: object) -> object:
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("disk full")
            return original(*args, **kwargs)

        monkeypatch.setattr(chain.backend.chain, "mine_block", failing_once)
        with pytest.raises(RuntimeError, match="disk full"):
            _transfer(chain, operator, member.address, 1)
        assert chain.web3.eth.block_number == 1
        _transfer(chain, operator, member.address, 1)  # the chain was rebuilt from disk
        assert chain.web3.eth.get_balance(member.address) == 2
    finally:
        chain.close()


def test_a_stale_nonce_is_resynchronised(tmp_path: Path) -> None:
    signer = LocalSigner.generate()
    chain = EmbeddedChain(tmp_path, {signer.address: ETHER})
    try:
        first = TransactionManager(chain.web3, signer)
        second = TransactionManager(chain.web3, signer)
        second.send({"to": signer.address, "value": 1}, gas=21_000)
        first.send({"to": signer.address, "value": 1}, gas=21_000)
        with pytest.raises(TransactionError, match="refused transaction"):
            second.send({"to": signer.address, "value": 1}, gas=21_000)  # its nonce is stale
        second.send({"to": signer.address, "value": 1}, gas=21_000)  # resynchronised
        assert chain.web3.eth.get_transaction_count(signer.address) == 3
    finally:
        chain.close()
