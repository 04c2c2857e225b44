"""Module paths from before a move still import, as the same module objects: ccnn.data before
its split into connectomes/, activity/ and tasks/; the dynamics GNN's solvers before they left
ccnn.analysis. ``python -m ccnn.data.simulate`` still runs."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from ccnn._moved import MOVED


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_module_path_is_the_new_module(old, new):
    assert importlib.import_module(old) is importlib.import_module(new)


def test_names_import_from_old_paths():
    from ccnn.data.connectome import Connectome as old_connectome
    from ccnn.data.connectome_datasets import load_connectome as old_loader
    from ccnn.data.recording import Recording as old_recording

    import ccnn.data as package
    from ccnn.data.activity import ActivityDataModule as new_activity

    assert old_connectome is package.Connectome and old_loader is package.load_connectome
    assert old_recording is package.Recording and new_activity is package.ActivityDataModule


@pytest.mark.slow
def test_python_m_on_the_old_simulator_path_runs():
    result = subprocess.run(
        [sys.executable, "-m", "ccnn.data.simulate", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "usage: ccnn-simulate" in result.stdout
