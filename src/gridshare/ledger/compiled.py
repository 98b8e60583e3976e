"""Compiled contract artifacts: the one set of ABI and bytecode the app and tests use.

The Vyper sources live in ``contracts/``; their compiled artifacts are committed as JSON
under ``gridshare/ledger/artifacts/`` so the app needs no compiler at run time. Regenerate
them with ``python -m gridshare.ledger.compiled contracts`` after editing a contract; a
test compiles the sources afresh and fails when the committed artifacts are stale.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from eth_typing import ABIElement

from gridshare.errors import ConfigurationError

CONTRACT_NAMES = (
    "ParticipantRegistry",
    "CommunityCredit",
    "EnergyMonitoring",
    "EnergyCertificate",
    "P2PTrading",
    "GridBalancing",
)
ARTIFACTS_PACKAGE = "gridshare.ledger.artifacts"


class ArtifactError(ConfigurationError):
    """A compiled artifact is missing, unreadable or does not match its source."""


@dataclass(frozen=True)
class Artifact:
    """ABI and bytecode of one compiled contract."""

    name: str
    abi: list[ABIElement]
    bytecode: str
    """Init code (hex, 0x-prefixed) that deploys the contract."""
    runtime_bytecode: str
    """Code (hex, 0x-prefixed) the deployed contract holds; its hash is checked on reuse."""
    source_sha256: str
    compiler: str

    def as_json(self) -> str:
        return json.dumps(
            {
                "name": self.name,
                "compiler": self.compiler,
                "source_sha256": self.source_sha256,
                "abi": self.abi,
                "bytecode": self.bytecode,
                "runtime_bytecode": self.runtime_bytecode,
            },
            indent=1,
            sort_keys=True,
        )


def load_artifact(name: str) -> Artifact:
    """The committed artifact of contract ``name``."""
    if name not in CONTRACT_NAMES:
        raise ArtifactError(f"no contract {name!r}; known: {', '.join(CONTRACT_NAMES)}")
    try:
        text = resources.files(ARTIFACTS_PACKAGE).joinpath(f"{name}.json").read_text("utf-8")
        data = json.loads(text)
        return Artifact(
            name=data["name"],
            abi=data["abi"],
            bytecode=data["bytecode"],
            runtime_bytecode=data["runtime_bytecode"],
            source_sha256=data["source_sha256"],
            compiler=data["compiler"],
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ArtifactError(
            f"the compiled artifact of {name} is missing or broken ({exc}); regenerate it with "
            "`python -m gridshare.ledger.compiled contracts`"
        ) from None


def compile_contracts(contracts_dir: Path) -> dict[str, Artifact]:
    """Compile every gridshare contract in ``contracts_dir`` with the installed Vyper."""
    import vyper
    from vyper.cli.vyper_compile import compile_files

    paths = [contracts_dir / f"{name}.vy" for name in CONTRACT_NAMES]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ArtifactError(f"contract sources not found: {', '.join(missing)}")
    output = compile_files(paths, ("abi", "bytecode", "bytecode_runtime"), paths=[contracts_dir])
    artifacts = {}
    for name, path in zip(CONTRACT_NAMES, paths, strict=True):
        compiled = next(v for k, v in output.items() if Path(k).name == path.name)
        artifacts[name] = Artifact(
            name=name,
            abi=compiled["abi"],
            bytecode=compiled["bytecode"],
            runtime_bytecode=compiled["bytecode_runtime"],
            source_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            compiler=f"vyper {vyper.__version__}",
        )
    return artifacts


def write_artifacts(artifacts: dict[str, Artifact], out_dir: Path) -> list[Path]:
    """Write artifacts as ``<name>.json`` into ``out_dir``."""
    written = []
    for name, artifact in artifacts.items():
        path = out_dir / f"{name}.json"
        path.write_text(artifact.as_json() + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    source_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "contracts")
    target = Path(__file__).parent / "artifacts"
    for written_path in write_artifacts(compile_contracts(source_dir), target):
        print(f"wrote {written_path}")
