"""ccnn._format: numbers in messages are never rounded into something they are not."""

import math

import pytest

from ccnn._format import format_duration, format_metric


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.99997, "0.99997"), (1.0, "1"), (0.8222, "0.8222"), (0.99999999, "0.99999999"), (-0.99996, "-0.99996"),
     (1697.3, "1697.3"), (2.0, "2"), (0.123456, "0.1235")],
)  # fmt: skip
def test_format_metric(value, text):
    assert format_metric(value) == text
    assert float(format_metric(value)) != round(value) or value == round(value)


def test_format_metric_nan():
    assert format_metric(math.nan) == "nan"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.42, "0.42 s"), (7.34, "7.3 s"), (42.4, "42 s"), (185, "3 min 05 s"), (3725, "1 h 02 min")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
