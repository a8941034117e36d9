"""The fast/full switch reads one environment variable and rejects anything else."""

import pytest

from scalinglab import mode


def test_fast_is_the_default(monkeypatch):
    monkeypatch.delenv(mode.MODE_VARIABLE, raising=False)
    assert mode.current_mode() == "fast"
    assert mode.pick(fast=1, full=2) == 1
    assert "fast" in mode.mode_banner()


def test_full_mode_is_chosen_by_the_variable(monkeypatch):
    monkeypatch.setenv(mode.MODE_VARIABLE, " Full ")
    assert mode.current_mode() == "full"
    assert mode.pick(fast=1, full=2) == 2
    assert "full" in mode.mode_banner()


def test_unknown_mode_is_rejected_by_name(monkeypatch):
    monkeypatch.setenv(mode.MODE_VARIABLE, "medium")
    with pytest.raises(ValueError, match="SCALINGLAB_MODE must be one of 'fast', 'full', got 'medium'"):
        mode.current_mode()
