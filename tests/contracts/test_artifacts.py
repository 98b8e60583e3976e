"""The committed artifacts are what the contract sources compile to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gridshare.ledger.compiled import (
    CONTRACT_NAMES,
    ArtifactError,
    compile_contracts,
    load_artifact,
)

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"


def test_committed_artifacts_match_the_sources() -> None:
    fresh = compile_contracts(CONTRACTS)
    for name in CONTRACT_NAMES:
        committed = load_artifact(name)
        assert committed.source_sha256 == fresh[name].source_sha256, (
            f"{name}.vy changed: run `python -m gridshare.ledger.compiled contracts`"
        )
        assert committed.bytecode == fresh[name].bytecode
        assert committed.abi == fresh[name].abi


def test_every_external_function_has_natspec() -> None:
    """Each external function's first statement is a docstring with a @notice."""
    signature = re.compile(r"def (\w+)\([^\"]*?\)(\s*->\s*[\w\[\], ]+)?:\s*")
    for name in CONTRACT_NAMES:
        source = (CONTRACTS / f"{name}.vy").read_text()
        blocks = source.split("@external\n")[1:]
        assert len(blocks) >= 5, name
        for block in blocks:
            head, _, rest = block.partition('"""')
            match = signature.fullmatch(head)
            assert match is not None, f"{name}: no docstring right after {head[:60]!r}"
            assert "@notice" in rest.partition('"""')[0], f"{name}.{match.group(1)}: no @notice"


def test_unknown_artifact_is_a_clear_error() -> None:
    with pytest.raises(ArtifactError, match="known: ParticipantRegistry, CommunityCredit"):
        load_artifact("Nope")
