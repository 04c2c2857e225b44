"""Old module paths keep working after files move: ``import ccnn.data.recording`` gives the
module ``ccnn.data.activity.recording`` itself (the same object, so patches apply), and
``python -m ccnn.data.simulate`` still runs the simulator. The aliases resolve lazily (on
import of the old path), so an old path in a lower layer (``ccnn.analysis``) does not make
that layer import a higher one (``ccnn.models``). Installed by ``import ccnn``."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from types import ModuleType

#: old path -> new path
MOVED = {
    "ccnn.data.connectome": "ccnn.data.connectomes.connectome",
    "ccnn.data.connectome_datasets": "ccnn.data.connectomes.datasets",
    "ccnn.data.connectome_transforms": "ccnn.data.connectomes.transforms",
    "ccnn.data.connectome_datamodule": "ccnn.data.connectomes.datamodule",
    "ccnn.data.package_data": "ccnn.data.connectomes.package_data",
    "ccnn.data.recording": "ccnn.data.activity.recording",
    "ccnn.data.simulation": "ccnn.data.activity.simulation",
    "ccnn.data.simulate": "ccnn.data.activity.simulate",
    "ccnn.data.cache": "ccnn.data.activity.cache",
    "ccnn.data.movies": "ccnn.data.activity.movies",
    "ccnn.data.digits": "ccnn.data.tasks.digits",
    # The dynamics GNN became a package with its own solvers (issue 17).
    "ccnn.models.dynamics_init": "ccnn.models.dynamics_gnn.start",
    "ccnn.analysis.library_regression": "ccnn.models.dynamics_gnn.solvers.library_regression",
    "ccnn.analysis.stimulus_regression": "ccnn.models.dynamics_gnn.solvers.stimulus_regression",
    "ccnn.analysis.ground_truth": "ccnn.data.activity.ground_truth",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:  # already executed under its new name
        pass

    def get_code(self, fullname: str):  # for ``python -m <old path>``
        spec = importlib.util.find_spec(self.target)
        return spec.loader.get_code(self.target)


class _MovedModules(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        moved = importlib.util.find_spec(MOVED[fullname])
        origin = None if moved is None else moved.origin  # sys.argv[0] under ``python -m``
        return importlib.util.spec_from_loader(fullname, _Alias(MOVED[fullname]), origin=origin)


def install() -> None:
    if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(_MovedModules())
