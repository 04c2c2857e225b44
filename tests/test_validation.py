"""Tests of the shared input checks in ccnn._validation."""

import pytest

from ccnn._validation import check_choice


def test_check_choice_returns_a_valid_choice_and_names_a_bad_one():
    assert check_choice("gcn", "encoder", ("gcn", "gat")) == "gcn"
    with pytest.raises(ValueError, match=r"encoder: expected one of \('gcn', 'gat'\), got str 'gin'"):
        check_choice("gin", "encoder", ("gcn", "gat"))
    with pytest.raises(ValueError, match=r"encoder: expected one of .*, got int 3"):
        check_choice(3, "encoder", ("gcn", "gat"))
