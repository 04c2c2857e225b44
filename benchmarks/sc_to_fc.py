"""Structure → function: predict each held-out subject's FC from its own SC (leave one subject out).

    python benchmarks/sc_to_fc.py --cohort hcp --json out.json
    python benchmarks/sc_to_fc.py --cohort gw --json gw.json --models log_sc communication
    python benchmarks/sc_to_fc.py --cohort hcp --json out.json --figure docs/figures/sc_to_fc_hcp.png

Every subject is held out once (``StructureFunctionDataModule(split="loso", fold=s)``); each
model is fitted on the other subjects only and predicts the held-out subject's FC from that
subject's SC (and fibre lengths, coordinates). The out-of-fold predictions are pooled and
scored by :func:`ccnn.models.structure_function.evaluation.zalesky_report`: group r (mean
prediction against mean FC), individual r (each subject's prediction against its own FC), the
Zalesky test (each subject's leave-one-out group-average FC as the template to beat) and
identifiability (own minus others). Models (``MODELS``):

* ``template``: the leave-one-out group-average FC itself (the trivial benchmark; it cannot
  beat itself, and it is the same for everyone, so its identifiability is ~0);
* ``log_sc``: log(1 + SC), no fitting;
* ``communication``: ridge regression on communication features (log SC, communicability,
  search information, navigation, shortest path, fibre length), fitted on the training
  subjects (:class:`~ccnn.models.structure_function.communication.CommunicationRegression`);
* ``linear_dynamics``: a linear stochastic network on each subject's SC with a gain and
  per-region noise shared by the training subjects, fitted by Adam (``LINEAR``) on their FC
  (:class:`~ccnn.models.structure_function.StructureFunctionModel`);
* ``gnn``: a GCN over SC with a pair decoder
  (:class:`~ccnn.models.structure_function.gnn.SCtoFCGNN`), trained on the training subjects.

The JSON maps each model to ``{"group_r", "individual_r_mean", "individual_r_std",
"group_template_r_mean", "beats_template_fraction", "identifiability", "regional_r_mean",
"seconds"}`` plus ``settings``; ``regional_r_mean`` is the mean over regions of
:func:`~ccnn.models.structure_function.evaluation.regional_coupling` between the mean
prediction and the mean empirical FC. ``--figure PATH`` draws
:func:`~ccnn.analysis.structure_function.plot_sc_to_fc` of those group means (a glass brain of
the regional coupling when the cohort has region coordinates), e.g.
``docs/figures/sc_to_fc_hcp.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = ("template", "log_sc", "communication", "linear_dynamics", "gnn")
LINEAR = {"steps": 300, "lr": 0.05}
GNN = {"hidden": 64, "layers": 2, "epochs": 150, "lr": 1e-3}


def predict_fold(model: str, data: Any, gnn_epochs: int) -> torch.Tensor:
    """The held-out subject's predicted FC (N, N) from a model fitted on the fold's training subjects."""
    from ccnn.models.structure_function.communication import CommunicationRegression
    from ccnn.models.structure_function.gnn import SCtoFCGNN

    train, test = data.arrays("train"), data.arrays("test")
    sc = test["sc"][0]
    if model == "template":
        return data.group_fc("train")
    if model == "log_sc":
        return torch.log1p(sc.clamp(min=0))
    if model == "communication":
        # The communication measures need symmetric matrices; gw's fibre lengths are not.
        lengths = [None if d is None else (d + d.mT) / 2 for d in (train["distances"], test["distances"])]
        regression = CommunicationRegression().fit(train["sc"], train["fc"], lengths[0])
        return regression.predict(sc, None if lengths[1] is None else lengths[1][0])
    if model == "linear_dynamics":
        from ccnn.models.structure_function import StructureFunctionModel

        network = StructureFunctionModel(n_regions=data.n_regions, predictor="linear_dynamics")
        optimiser = torch.optim.Adam(network.parameters(), lr=LINEAR["lr"])
        for _ in range(LINEAR["steps"]):  # full batch: every training subject at each step
            loss, _ = network.fc_loss(train)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            return network.predict_fc(test["sc"])[0]
    if model == "gnn":
        torch.manual_seed(data.fold)
        coords = train["coords"]
        network = SCtoFCGNN(
            data.n_regions,
            coordinate_dim=0 if coords is None else coords.shape[-1],
            hidden=GNN["hidden"],
            layers=GNN["layers"],
        ).double()
        network.fit(train["sc"], train["fc"], coords, epochs=gnn_epochs, lr=GNN["lr"], seed=data.fold)
        with torch.no_grad():
            return network(sc, None if coords is None else test["coords"][0])
    raise ValueError(f"model: expected one of {MODELS}, got {model!r}")


def run_loso(
    cohort: Any,
    models: list[str],
    gnn_epochs: int,
    fc_kind: str,
    transforms: tuple[str, ...] = ("symmetrise",),
) -> dict[str, Any]:
    """Every subject held out once: the stacked out-of-fold predictions and empirical FCs.

    Returns ``{"predictions": {model: (S, N, N)}, "empirical": (S, N, N), "coords": (N, 3) or
    None (the first subject's region centres), "seconds": {model: float}, "subjects": S}``.
    """
    from ccnn.data import StructureFunctionDataModule

    # gw's SC is not symmetric (the communication measures need it to be): (SC + SCᵀ) / 2 for all.
    options = {"cohort": cohort, "split": "loso", "fc_kind": fc_kind, "transforms": list(transforms) or None}
    first = StructureFunctionDataModule(fold=0, **options)
    n_subjects = len(first.subjects("all"))
    predictions: dict[str, list[torch.Tensor]] = {m: [] for m in models}
    empirical = []
    seconds = dict.fromkeys(models, 0.0)
    coords = first.arrays("test")["coords"]
    for fold in range(n_subjects):
        data = first if fold == 0 else StructureFunctionDataModule(fold=fold, **options)
        empirical.append(data.arrays("test")["fc"][0])
        for model in models:
            start = time.perf_counter()
            predictions[model].append(predict_fold(model, data, gnn_epochs).double())
            seconds[model] += time.perf_counter() - start
        print(f"fold {fold + 1}/{n_subjects} ({data.subjects('test')[0]}) done", flush=True)
    return {
        "predictions": {m: torch.stack(predictions[m]) for m in models},
        "empirical": torch.stack(empirical).double(),
        "coords": None if coords is None else coords[0],
        "seconds": seconds,
        "subjects": n_subjects,
    }


def score(
    loso: dict[str, Any], cohort: Any, gnn_epochs: int, fc_kind: str, transforms: tuple[str, ...]
) -> dict[str, Any]:
    """The JSON rows of :func:`run_loso`'s output: the Zalesky report, the mean regional
    coupling r of the group-mean matrices (``regional_r_mean``) and the seconds, per model."""
    from ccnn.models.structure_function.evaluation import regional_coupling, zalesky_report

    fc = loso["empirical"]
    result: dict[str, Any] = {}
    for model, predicted in loso["predictions"].items():
        report = zalesky_report(predicted, fc, None)
        regional = regional_coupling(predicted.mean(0), fc.mean(0))
        result[model] = {
            **report,
            "regional_r_mean": float(regional.nanmean()),
            "seconds": loso["seconds"][model],
        }
    result["settings"] = {
        "cohort": cohort if isinstance(cohort, str) else getattr(cohort, "name", str(cohort)),
        "subjects": loso["subjects"],
        "fc_kind": fc_kind,
        "transforms": list(transforms),
        "gnn": {**GNN, "epochs": gnn_epochs},
        "linear_dynamics": LINEAR,
    }
    return result


def run(
    cohort: Any,
    models: list[str],
    gnn_epochs: int,
    fc_kind: str,
    transforms: tuple[str, ...] = ("symmetrise",),
) -> dict[str, Any]:
    """:func:`run_loso` scored by :func:`score`: the JSON-serialisable result."""
    loso = run_loso(cohort, models, gnn_epochs, fc_kind, transforms)
    return score(loso, cohort, gnn_epochs, fc_kind, transforms)


def draw_figure(loso: dict[str, Any], path: Path) -> Path:
    """:func:`~ccnn.analysis.structure_function.plot_sc_to_fc` of the group means, saved at ``path``."""
    from ccnn.analysis.structure_function import plot_sc_to_fc

    means = {model: predicted.mean(0) for model, predicted in loso["predictions"].items()}
    plot_sc_to_fc(loso["empirical"].mean(0), means, coords=loso["coords"], path=path)
    return path


def table(result: dict[str, Any]) -> str:
    lines = [
        "| model | group r | individual r | template r | beats template | identifiability |",
        "|---|---|---|---|---|---|",
    ]
    for model, row in result.items():
        if model == "settings":
            continue
        individual = f"{row['individual_r_mean']:.3f} ± {row['individual_r_std']:.3f}"
        cells = [
            f"{row['group_r']:.3f}",
            individual,
            f"{row['group_template_r_mean']:.3f}",
            f"{row['beats_template_fraction']:.2f}",
            f"{row['identifiability']:.3f}",
        ]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cohort", default="hcp")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument(
        "--fc-kind", default="correlation", choices=["correlation", "partial correlation", "tangent"]
    )
    parser.add_argument("--gnn-epochs", type=int, default=GNN["epochs"])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--figure", type=Path, default=None, help="PNG of predicted vs empirical FC and regional coupling"
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    transforms = ("symmetrise",)
    loso = run_loso(args.cohort, args.models, args.gnn_epochs, args.fc_kind, transforms)
    result = score(loso, args.cohort, args.gnn_epochs, args.fc_kind, transforms)
    result["settings"]["wall_seconds"] = time.perf_counter() - start
    print(table(result))
    print(f"wall time {result['settings']['wall_seconds']:.0f} s")
    if args.json is not None:
        from ccnn._io import write_new_json

        print(f"written to {write_new_json(args.json, result)}")
    if args.figure is not None:
        print(f"figure written to {draw_figure(loso, args.figure)}")


if __name__ == "__main__":
    main()
