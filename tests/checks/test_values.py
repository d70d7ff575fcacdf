"""checks.values: the one coercion rule every check, view and collector reads numbers with."""

from __future__ import annotations

import pytest

from checks.values import as_float, as_int, as_port, leading_int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (80, 80), ("80", 80), (" 80 ", 80), ("-1", -1), ("+3", 3), (80.0, 80), (0, 0),
        (8.5, None), ("8.5", None), ("http", None), ("", None), (None, None), (True, None), (False, None),
        ([], None), ({}, None), ("８０", None), ("9" * 19, None), ("9" * 5000, None),
    ],
)
def test_as_int_rule(value, expected):
    assert as_int(value) == expected
    assert as_int(value, 7) == (7 if expected is None else expected)


def test_as_port_bounds():
    assert [as_port(v) for v in (1, "65535", 0, 65536, -1, "http", True)] == [1, 65535, None, None, None, None, None]


def test_as_float_and_leading_int():
    assert [as_float(v, 5.0) for v in (2, "2.5", 0.5, True, None, "x", [])] == [2.0, 2.5, 0.5, 5.0, 5.0, 5.0, 5.0]
    assert [leading_int(v) for v in ("1", "32768\t60999", "10s", " 2 ", "x", "", 5, True, None, "9" * 5000)] == [
        1, 32768, 10, 2, None, None, 5, None, None, None]
