"""Structure → function: predict each held-out subject's FC from its own SC (leave one subject out).

    python benchmarks/sc_to_fc.py --cohort hcp --json out.json
    python benchmarks/sc_to_fc.py --cohort gw --json gw.json --models log_sc communication

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
"group_template_r_mean", "beats_template_fraction", "identifiability"}`` plus ``settings``.
"""

from __future__ import annotations

import argparse
import json
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


def run(
    cohort: Any,
    models: list[str],
    gnn_epochs: int,
    fc_kind: str,
    transforms: tuple[str, ...] = ("symmetrise",),
) -> dict[str, Any]:
    from ccnn.data import StructureFunctionDataModule
    from ccnn.models.structure_function.evaluation import zalesky_report

    # gw's SC is not symmetric (the communication measures need it to be): (SC + SCᵀ) / 2 for all.
    options = {"cohort": cohort, "split": "loso", "fc_kind": fc_kind, "transforms": list(transforms) or None}
    first = StructureFunctionDataModule(fold=0, **options)
    n_subjects = len(first.subjects("all"))
    predictions: dict[str, list[torch.Tensor]] = {m: [] for m in models}
    empirical = []
    seconds = dict.fromkeys(models, 0.0)
    for fold in range(n_subjects):
        data = first if fold == 0 else StructureFunctionDataModule(fold=fold, **options)
        empirical.append(data.arrays("test")["fc"][0])
        for model in models:
            start = time.perf_counter()
            predictions[model].append(predict_fold(model, data, gnn_epochs).double())
            seconds[model] += time.perf_counter() - start
        print(f"fold {fold + 1}/{n_subjects} ({data.subjects('test')[0]}) done", flush=True)
    fc = torch.stack(empirical)
    result: dict[str, Any] = {}
    for model in models:
        report = zalesky_report(torch.stack(predictions[model]), fc, None)
        result[model] = {**report, "seconds": seconds[model]}
    result["settings"] = {
        "cohort": cohort if isinstance(cohort, str) else getattr(cohort, "name", str(cohort)),
        "subjects": n_subjects,
        "fc_kind": fc_kind,
        "transforms": list(transforms),
        "gnn": {**GNN, "epochs": gnn_epochs},
        "linear_dynamics": LINEAR,
    }
    return result


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
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = run(args.cohort, args.models, args.gnn_epochs, args.fc_kind)
    result["settings"]["wall_seconds"] = time.perf_counter() - start
    print(table(result))
    print(f"wall time {result['settings']['wall_seconds']:.0f} s")
    if args.json is not None:
        from ccnn._io import write_new

        text = json.dumps(result, indent=2)
        path = write_new(args.json, lambda handle: handle.write(text.encode()))
        print(f"written to {path}")


if __name__ == "__main__":
    main()
