"""Reading gridshare's contract events from the chain, decoded."""

from __future__ import annotations

from eth_typing import ABIEvent
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3._utils.events import get_event_data
from web3.exceptions import BlockNotFound

from gridshare.ledger.compiled import load_artifact
from gridshare.ledger.deployment import Deployment
from gridshare.model.chain import ChainEvent, JsonScalar


def _plain(value: object) -> JsonScalar:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, bool | int):
        return value
    text = str(value)
    if Web3.is_address(text):
        return str(to_checksum_address(text))
    return text


class EventReader:
    """Decodes every event of the deployed gridshare contracts within a block range."""

    def __init__(self, web3: Web3, deployment: Deployment) -> None:
        self.web3 = web3
        self.deployment = deployment
        self._by_address: dict[str, str] = {
            to_checksum_address(c.address): name for name, c in deployment.contracts.items()
        }
        self._abis: dict[tuple[str, bytes], ABIEvent] = {}
        codec = web3.codec
        for name in deployment.contracts:
            for item in load_artifact(name).abi:
                if item["type"] == "event":
                    types = ",".join(i["type"] for i in item.get("inputs", ()))
                    topic = Web3.keccak(text=f"{item['name']}({types})")
                    self._abis[(name, bytes(topic))] = item
        self._codec = codec

    def block_hash(self, number: int) -> str:
        """0x-hash of block ``number``; "" when the chain has no such block."""
        try:
            block = self.web3.eth.get_block(number)
        except BlockNotFound:
            return ""
        return "0x" + bytes(block["hash"]).hex()

    def read(self, from_block: int, to_block: int) -> list[ChainEvent]:
        """Events in blocks ``from_block..to_block`` (inclusive), in chain order."""
        if to_block < from_block:
            return []
        logs = self.web3.eth.get_logs(
            {
                "fromBlock": from_block,
                "toBlock": to_block,
                "address": list(self._by_address),  # type: ignore[typeddict-item]
            }
        )
        events = []
        for log in logs:
            contract = self._by_address[to_checksum_address(log["address"])]
            abi = self._abis.get((contract, bytes(log["topics"][0])))
            if abi is None:
                continue  # not a gridshare event (cannot happen for our own contracts)
            decoded = get_event_data(self._codec, abi, log)
            events.append(
                ChainEvent(
                    chain_id=self.deployment.chain_id,
                    block_number=int(log["blockNumber"]),
                    log_index=int(log["logIndex"]),
                    tx_hash="0x" + bytes(log["transactionHash"]).hex(),
                    contract=contract,
                    event=str(decoded["event"]),
                    args=tuple(
                        (i["name"], _plain(decoded["args"][i["name"]]))
                        for i in abi.get("inputs", ())
                    ),
                )
            )
        return sorted(events, key=lambda e: (e.block_number, e.log_index))
