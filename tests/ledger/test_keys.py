"""The keystore: encrypted key files, passwords, and clear errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from eth_account import Account

from gridshare.ledger.keys import PASSWORD_ENV, Keystore, KeystoreError


@pytest.fixture
def keystore(tmp_path: Path) -> Keystore:
    return Keystore(tmp_path / "keys", kdf_iterations=2)  # fast KDF for tests only


def test_created_key_loads_back_with_its_password(keystore: Keystore) -> None:
    address = keystore.create("operator", "s3cret")
    assert keystore.names() == ["operator"]
    assert keystore.address("operator") == address
    signer = keystore.load("operator", "s3cret")
    assert signer.address == address
    raw = signer.sign_transaction(
        {
            "chainId": 7,
            "from": address,
            "gas": 21_000,
            "nonce": 0,
            "type": 2,
            "value": 1,
            "maxFeePerGas": 2,
            "maxPriorityFeePerGas": 1,
            "to": address,
        }
    )
    assert Account.recover_transaction(raw) == address


def test_key_file_is_encrypted_and_private(keystore: Keystore) -> None:
    keystore.create("device.meter-1", "pw")
    path = keystore.directory / "device.meter-1.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "crypto" in path.read_text()


def test_wrong_password_missing_key_and_bad_names_are_explained(keystore: Keystore) -> None:
    keystore.create("operator", "right")
    with pytest.raises(KeystoreError, match="wrong password for key 'operator'"):
        keystore.load("operator", "wrong")
    with pytest.raises(KeystoreError, match="no key named 'nobody'"):
        keystore.load("nobody", "x")
    with pytest.raises(KeystoreError, match="must be lower-case"):
        keystore.create("Bad Name", "x")
    with pytest.raises(KeystoreError, match="exists already"):
        keystore.create("operator", "again")
    with pytest.raises(KeystoreError, match="set a password"):
        keystore.create("empty", "")


def test_password_from_environment(keystore: Keystore, monkeypatch: pytest.MonkeyPatch) -> None:
    address = keystore.import_key("operator", b"\x07" * 32, "from-env")
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    assert keystore.load("operator").address == address
    monkeypatch.delenv(PASSWORD_ENV)
    with pytest.raises(KeystoreError, match=PASSWORD_ENV):
        keystore.load("operator")
