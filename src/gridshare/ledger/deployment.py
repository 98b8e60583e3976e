"""Deploying the community's contracts once per chain, and finding them again.

The deployment file (``deployments/<chain_id>.json``) records, for each contract, its
address, the keccak hash of the code the chain holds there and the block it was deployed
in. A second start reuses the contracts after checking that the chain still holds exactly
that code and that the code is what gridshare's artifacts compile to; a file that was
edited, or that belongs to another chain, is refused with an explanation.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract

from gridshare.errors import GridshareError
from gridshare.ledger.calls import calldata
from gridshare.ledger.compiled import CONTRACT_NAMES, Artifact, load_artifact
from gridshare.ledger.transactions import TransactionManager

DEPLOY_GAS = 8_000_000
CERTIFICATE_URI = "gridshare://certificate/{id}"
"""ERC-1155 metadata URI of the certificates; clients replace ``{id}`` with the hex id."""


class DeploymentError(GridshareError):
    """The recorded deployment does not match the chain or gridshare's contracts."""


@dataclass(frozen=True, slots=True)
class DeployedContract:
    name: str
    address: str
    code_hash: str
    block_number: int
    tx_hash: str


@dataclass(frozen=True, slots=True)
class Deployment:
    chain_id: int
    deployer: str
    contracts: dict[str, DeployedContract]

    def address(self, name: str) -> str:
        return self.contracts[name].address

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "chain_id": self.chain_id,
            "deployer": self.deployer,
            "contracts": {name: asdict(c) for name, c in self.contracts.items()},
        }
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        temporary.replace(path)

    @classmethod
    def read(cls, path: Path) -> Deployment:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                chain_id=int(data["chain_id"]),
                deployer=str(data["deployer"]),
                contracts={
                    name: DeployedContract(**entry) for name, entry in data["contracts"].items()
                },
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DeploymentError(f"deployment file {path} is unreadable: {exc}") from None


def deployment_path(directory: Path, chain_id: int) -> Path:
    return directory / "deployments" / f"{chain_id}.json"


def contract(web3: Web3, deployment: Deployment, name: str) -> Contract:
    """A web3 contract object for a deployed gridshare contract."""
    address = to_checksum_address(deployment.address(name))
    deployed: Contract = web3.eth.contract(address=address, abi=load_artifact(name).abi)
    return deployed


def initcode(artifact: Artifact, *args: object) -> str:
    """Hex code that deploys ``artifact`` with constructor arguments ``args``."""
    constructor = next((i for i in artifact.abi if i["type"] == "constructor"), None)
    types = [p["type"] for p in constructor["inputs"]] if constructor else []
    return artifact.bytecode + encode(types, list(args)).hex()


def _deploy_one(tm: TransactionManager, name: str, *args: object) -> DeployedContract:
    artifact = load_artifact(name)
    sent = tm.send({"data": initcode(artifact, *args)}, gas=DEPLOY_GAS)
    receipt = tm.web3.eth.get_transaction_receipt(sent.tx_hash)  # type: ignore[arg-type]
    address = str(receipt["contractAddress"])
    code = bytes(tm.web3.eth.get_code(address))  # type: ignore[arg-type]
    return DeployedContract(
        name, address, "0x" + keccak(code).hex(), sent.block_number, sent.tx_hash
    )


def verify_deployment(web3: Web3, deployment: Deployment) -> None:
    """Check that the chain holds, at each recorded address, exactly gridshare's code."""
    chain_id = int(web3.eth.chain_id)
    if deployment.chain_id != chain_id:
        raise DeploymentError(
            f"the deployment file is for chain id {deployment.chain_id}, the node serves "
            f"{chain_id}; point GRIDSHARE_CHAIN_URL at the right node or deploy afresh"
        )
    missing = [name for name in CONTRACT_NAMES if name not in deployment.contracts]
    if missing:
        raise DeploymentError(
            f"the recorded deployment predates {', '.join(missing)} (it holds only "
            f"{', '.join(deployment.contracts) or 'no contracts'}); remove the deployment "
            "file and deploy afresh on a new or reset chain"
        )
    for name, entry in deployment.contracts.items():
        code = bytes(web3.eth.get_code(entry.address))  # type: ignore[arg-type]
        if not code:
            raise DeploymentError(
                f"{name}: no contract at {entry.address} on chain {chain_id} (the chain was "
                "reset, or the deployment file was edited); remove the file to deploy afresh"
            )
        if "0x" + keccak(code).hex() != entry.code_hash:
            raise DeploymentError(
                f"{name}: the code at {entry.address} does not match the deployment file's "
                "code hash; the file was edited or points at another contract"
            )
        runtime = bytes.fromhex(load_artifact(name).runtime_bytecode.removeprefix("0x"))
        if not code.startswith(runtime):
            raise DeploymentError(
                f"{name}: the code at {entry.address} is not what gridshare's {name}.vy "
                "compiles to (a different version of the contract)"
            )
    for name, view, target in (
        ("CommunityCredit", "registry", "ParticipantRegistry"),
        ("EnergyMonitoring", "registry", "ParticipantRegistry"),
        ("EnergyCertificate", "registry", "ParticipantRegistry"),
        ("EnergyCertificate", "monitoring", "EnergyMonitoring"),
        ("P2PTrading", "registry", "ParticipantRegistry"),
        ("P2PTrading", "credit", "CommunityCredit"),
        ("P2PTrading", "monitoring", "EnergyMonitoring"),
        ("GridBalancing", "registry", "ParticipantRegistry"),
        ("GridBalancing", "credit", "CommunityCredit"),
        ("GridBalancing", "monitoring", "EnergyMonitoring"),
    ):
        linked = contract(web3, deployment, name).functions[view]().call()
        if to_checksum_address(linked) != to_checksum_address(deployment.address(target)):
            raise DeploymentError(
                f"{name} at {deployment.address(name)} belongs to the {target} at {linked}, "
                f"not to the recorded {target}; the deployment file mixes two communities"
            )


def deploy_or_load(
    tm: TransactionManager, directory: Path, *, interval_length_s: int = 900
) -> Deployment:
    """Reuse the recorded deployment of this chain, or deploy the contracts and record them.

    ``interval_length_s`` is the metering interval EnergyMonitoring is deployed for (900 s
    = 15 minutes); a recorded deployment keeps the length it was deployed with.
    """
    path = deployment_path(directory, tm.chain_id)
    if path.exists():
        deployment = Deployment.read(path)
        verify_deployment(tm.web3, deployment)
        recorded = contract(tm.web3, deployment, "EnergyMonitoring")
        recorded_length_s = int(recorded.functions.interval_length_s().call())
        if recorded_length_s != interval_length_s:
            raise DeploymentError(
                f"the recorded EnergyMonitoring meters {recorded_length_s} s intervals, not "
                f"the {interval_length_s} s asked for; keep the interval length, or deploy "
                "afresh on a new or reset chain"
            )
        return deployment
    registry = _deploy_one(tm, "ParticipantRegistry")
    credit = _deploy_one(tm, "CommunityCredit", registry.address)
    monitoring = _deploy_one(tm, "EnergyMonitoring", registry.address, interval_length_s)
    certificate = _deploy_one(
        tm, "EnergyCertificate", registry.address, monitoring.address, CERTIFICATE_URI
    )
    # The deployer (the operator) is the community fund until it names another.
    trading = _deploy_one(
        tm, "P2PTrading", registry.address, credit.address, monitoring.address, tm.signer.address
    )
    balancing = _deploy_one(
        tm, "GridBalancing", registry.address, credit.address, monitoring.address
    )
    # The market's escrow holds the members' credit and the balancing contract holds the
    # flexibility budget that pays demand response: CommunityCredit must trust both.
    for trusted in (trading, balancing):
        trust = calldata("CommunityCredit", "set_trusted", trusted.address, True)
        tm.send({"to": credit.address, "data": trust}, gas=100_000)
    deployment = Deployment(
        chain_id=tm.chain_id,
        deployer=tm.signer.address,
        contracts={
            "ParticipantRegistry": registry,
            "CommunityCredit": credit,
            "EnergyMonitoring": monitoring,
            "EnergyCertificate": certificate,
            "P2PTrading": trading,
            "GridBalancing": balancing,
        },
    )
    deployment.write(path)
    return deployment
