"""StructureFunctionModel (sc_to_fc): the three predictors train through Lightning on a
StructureFunctionDataModule and predict a held-out subject's FC."""

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from ccnn.data import Connectome, ConnectomeCohort, StructureFunctionDataModule
from ccnn.models import get
from ccnn.models.structure_function import CommunicationRegression, StructureFunctionModel

QUIET = {"accelerator": "cpu", "logger": False, "enable_checkpointing": False, "enable_progress_bar": False}


def cohort(n_subjects=4, n=6, seed=0):
    rng = np.random.default_rng(seed)
    subjects = []
    for _ in range(n_subjects):
        weights = rng.uniform(0, 1, (n, n))
        weights = (weights + weights.T) / 2
        np.fill_diagonal(weights, 0)
        bold = rng.multivariate_normal(np.zeros(n), np.eye(n) + 0.5 * weights, 300).T
        subjects.append(Connectome(weights, coords=rng.normal(size=(n, 3)), node_attrs={"bold": bold}))
    ids = [f"s{i}" for i in range(n_subjects)]
    return ConnectomeCohort("tiny", subjects, pd.DataFrame(index=pd.Index(ids)))


@pytest.fixture(scope="module")
def data():
    return StructureFunctionDataModule(cohort=cohort(), fold=1)


def test_communication_is_the_closed_form_regression_on_the_training_subjects(data):
    model = get("sc_to_fc", n_regions=data.n_regions, predictor="communication")
    trainer = L.Trainer(**QUIET, max_epochs=1, enable_model_summary=False)
    trainer.fit(model, data)
    train, test = data.arrays("train"), data.arrays("test")
    direct = CommunicationRegression().fit(train["sc"], train["fc"], train["distances"])
    expected = direct.predict(test["sc"][0], test["distances"][0])
    torch.testing.assert_close(model.predict_fc(test["sc"], None, test["distances"])[0], expected)
    assert "val/individual_r" in trainer.callback_metrics


@pytest.mark.parametrize("predictor", ["linear_dynamics", "gnn"])
def test_gradient_predictors_lower_their_loss(data, predictor):
    torch.manual_seed(0)
    model = StructureFunctionModel(n_regions=data.n_regions, predictor=predictor, coordinate_dim=3, lr=0.05)
    batch = {k: v.float() if isinstance(v, torch.Tensor) else v for k, v in data.arrays("train").items()}
    before = float(model.fc_loss(batch)[0])
    trainer = L.Trainer(**QUIET, max_epochs=15, enable_model_summary=False)
    trainer.fit(model, data)
    after = float(model.fc_loss(batch)[0])
    assert after < before
    fc = model.predict_fc(batch["sc"], batch["coords"])
    torch.testing.assert_close(fc, fc.transpose(1, 2))
    torch.testing.assert_close(fc.diagonal(dim1=1, dim2=2), torch.ones(3, data.n_regions))


def test_unknown_predictor_is_refused():
    with pytest.raises(ValueError, match=r"^predictor: expected"):
        StructureFunctionModel(n_regions=4, predictor="hopf")
