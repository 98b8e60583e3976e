"""Stored rows read back as records, each column as its field's type."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from gridshare.pipeline.frames import records_of


@dataclass(frozen=True, slots=True)
class _Row:
    start_s: int
    hash_hex: str
    participant_id: str | None
    settled: bool
    signature: bytes


def test_columns_become_the_fields_types_and_nulls_only_where_optional() -> None:
    frame = pd.DataFrame(
        {
            "start_s": np.array([900, 1800], dtype=np.int64),
            "hash_hex": ["0xaa", "0xbb"],
            "participant_id": ["c:m-1", None],
            "settled": np.array([1, 0], dtype=np.int64),
            "signature": [b"\x01\x02", memoryview(b"\x03")],
            "extra": [1.5, 2.5],
        }
    )
    rows = records_of(frame, _Row)
    assert rows == [
        _Row(900, "0xaa", "c:m-1", True, b"\x01\x02"),
        _Row(1800, "0xbb", None, False, b"\x03"),
    ]
    assert type(rows[0].start_s) is int  # not numpy's: records compare and hash as Python's


def test_a_nan_in_an_optional_column_is_null() -> None:
    frame = pd.DataFrame(
        {
            "start_s": [0],
            "hash_hex": ["0x"],
            "participant_id": [float("nan")],
            "settled": [True],
            "signature": [b""],
        }
    )
    assert records_of(frame, _Row)[0].participant_id is None


def test_a_field_type_without_a_conversion_is_refused() -> None:
    @dataclass
    class Odd:
        values: list[int]

    with pytest.raises(TypeError, match="no column conversion"):
        records_of(pd.DataFrame({"values": [[1]]}), Odd)
