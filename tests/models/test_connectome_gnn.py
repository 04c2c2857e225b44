import itertools

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from conftest import QUIET
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score, roc_auc_score
from torch_geometric.data import Batch, Data
from torch_geometric.loader import DataLoader

from ccnn.models import ConnectomeGNN, get, list_models
from ccnn.models.connectome_gnn import CONVS, READOUTS, EdgeWeightedConv, NodeEdgeConcatConv


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny graphs: one thread is fastest, and avoids OpenMP stalls when the CPU cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_graph(n_nodes, n_inputs, generator, *, p=0.5, y=None):
    """A directed graph without self-loops, each edge kept with probability p, weights in (0, 1)."""
    pairs = [(j, i) for j in range(n_nodes) for i in range(n_nodes) if i != j]
    keep = torch.rand(len(pairs), generator=generator) < p
    edge_index = torch.tensor(pairs, dtype=torch.long)[keep].T.contiguous()
    return Data(
        x=torch.randn(n_nodes, n_inputs, generator=generator),
        edge_index=edge_index,
        edge_attr=torch.rand(edge_index.shape[1], generator=generator),
        y=y,
    )


def random_batch(n_graphs=3, n_nodes=6, n_inputs=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return Batch.from_data_list([random_graph(n_nodes, n_inputs, generator) for _ in range(n_graphs)])


def permute_nodes(graph, generator):
    """The same graph with its nodes relabelled: new node k is old node perm[k]."""
    perm = torch.randperm(graph.num_nodes, generator=generator)
    new_label = torch.empty_like(perm)
    new_label[perm] = torch.arange(graph.num_nodes)
    return Data(x=graph.x[perm], edge_index=new_label[graph.edge_index], edge_attr=graph.edge_attr, y=graph.y)


@pytest.mark.parametrize(("conv", "readout"), list(itertools.product(CONVS, READOUTS)))
def test_every_conv_and_readout_gives_one_row_of_logits_per_graph(conv, readout):
    torch.manual_seed(0)
    batch = random_batch(n_graphs=3, n_nodes=6, n_inputs=4)
    model = ConnectomeGNN(n_inputs=4, n_classes=5, conv=conv, readout=readout, hidden=8, n_nodes=6).eval()
    logits = model(batch)
    assert logits.shape == (3, 5)
    assert torch.isfinite(logits).all()
    # Graphs with different edges get different outputs: the batch is not pooled across graphs.
    assert not torch.allclose(logits[0], logits[1])


def test_edge_weighted_layer_is_the_weighted_sum_of_transformed_neighbours():
    torch.manual_seed(0)
    # Edges j → i (edge_index[0] = j, edge_index[1] = i); node 3 has none coming in.
    edge_index = torch.tensor([[0, 1, 2, 3, 0, 3], [1, 0, 1, 2, 2, 0]])
    weight = torch.tensor([0.5, -1.0, 2.0, 0.25, 3.0, 1.5])
    x = torch.randn(4, 3)
    layer = EdgeWeightedConv(3, 2)
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.1, -0.2]))
    adjacency = torch.zeros(4, 4)
    adjacency[edge_index[1], edge_index[0]] = weight  # A[i, j] = w_ij
    expected = adjacency @ (x @ layer.lin.weight.T) + layer.bias
    torch.testing.assert_close(layer(x, edge_index, weight), expected)
    torch.testing.assert_close(layer(x, edge_index, weight)[3], layer.bias.detach())
    assert "bias=True" in repr(layer) and "w_ij" in repr(layer)


def test_node_edge_concat_layer_sums_an_mlp_of_receiver_sender_and_weight():
    torch.manual_seed(0)
    edge_index = torch.tensor([[0, 1, 2, 3, 0], [1, 0, 1, 2, 2]])
    weight = torch.tensor([0.5, -1.0, 2.0, 0.25, 3.0])
    x = torch.randn(4, 3)
    layer = NodeEdgeConcatConv(3, 2)
    expected = torch.zeros(4, 2)
    for (j, i), w in zip(edge_index.T.tolist(), weight, strict=True):
        expected[i] += layer.mlp(torch.cat([x[i], x[j], w.reshape(1)]))
    torch.testing.assert_close(layer(x, edge_index, weight), expected)
    assert "h_i || h_j || w_ij" in repr(layer)


@pytest.mark.parametrize("conv", CONVS)
@pytest.mark.parametrize("readout", ["mean", "sum"])
def test_relabelling_the_nodes_leaves_the_graph_output_unchanged(conv, readout):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    graphs = [random_graph(7, 4, generator) for _ in range(3)]
    relabelled = [permute_nodes(graph, generator) for graph in graphs]
    model = ConnectomeGNN(n_inputs=4, n_classes=3, conv=conv, readout=readout, hidden=8).eval()
    with torch.no_grad():
        original = model(Batch.from_data_list(graphs))
        permuted = model(Batch.from_data_list(relabelled))
    torch.testing.assert_close(permuted, original, atol=1e-5, rtol=1e-5)


def test_concat_readout_depends_on_the_node_order():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    graphs = [random_graph(7, 4, generator) for _ in range(2)]
    relabelled = [permute_nodes(graph, generator) for graph in graphs]
    model = ConnectomeGNN(n_inputs=4, n_classes=3, readout="concat", n_nodes=7, hidden=8).eval()
    with torch.no_grad():
        assert not torch.allclose(
            model(Batch.from_data_list(graphs)), model(Batch.from_data_list(relabelled))
        )


def test_edge_weights_of_shape_e_or_e1_agree_and_missing_weights_are_ones():
    torch.manual_seed(0)
    batch = random_batch(n_graphs=2)
    model = ConnectomeGNN(n_inputs=4, n_classes=3, conv="edge_weighted", hidden=8).eval()
    column = batch.clone()
    column.edge_attr = batch.edge_attr.unsqueeze(-1)
    torch.testing.assert_close(model(column), model(batch))
    absent, ones = batch.clone(), batch.clone()
    del absent.edge_attr
    ones.edge_attr = torch.ones_like(batch.edge_attr)
    torch.testing.assert_close(model(absent), model(ones))
    assert not torch.allclose(model(ones), model(batch))  # the weights matter
    wrong = batch.clone()
    wrong.edge_attr = torch.rand(batch.num_edges, 2)
    with pytest.raises(
        ValueError, match=r"edge_attr: expected one weight per edge, shape \(E,\) or \(E, 1\)"
    ):
        model(wrong)


def test_concat_readout_rejects_graphs_of_another_size():
    model = ConnectomeGNN(n_inputs=4, n_classes=3, readout="concat", n_nodes=5)
    with pytest.raises(ValueError, match=r"readout='concat' expected every graph to have n_nodes = 5 nodes"):
        model(random_batch(n_graphs=2, n_nodes=6))


def test_node_features_of_the_wrong_width_are_rejected():
    model = ConnectomeGNN(n_inputs=3, n_classes=2)
    with pytest.raises(ValueError, match=r"x: expected node features of shape \(num_nodes, n_inputs\)"):
        model(random_batch(n_inputs=4))


def block_task(n_graphs, seed, *, n_classes=2, n_nodes=10, block=5):
    """Complete graphs whose class c only sets the weights among the first ``block`` nodes:
    uniform in (c / n_classes, (c + 1) / n_classes) there, uniform in (0, 1) elsewhere."""
    generator = torch.Generator().manual_seed(seed)
    edge_index = torch.tensor([(j, i) for j in range(n_nodes) for i in range(n_nodes) if i != j]).T
    in_block = (edge_index < block).all(0)
    graphs = []
    for index in range(n_graphs):
        label = index % n_classes
        weight = torch.rand(edge_index.shape[1], generator=generator)
        weight[in_block] = (weight[in_block] + label) / n_classes
        x = torch.randn(n_nodes, 3, generator=generator)  # features carry no information
        graphs.append(Data(x=x, edge_index=edge_index, edge_attr=weight, y=torch.tensor(label)))
    return graphs


def test_learns_a_class_that_only_the_edge_weights_determine():
    L.seed_everything(0)
    graphs = block_task(64, seed=0)
    model = ConnectomeGNN(n_inputs=3, n_classes=2, hidden=16, dropout=0.0, lr=1e-2)
    trainer = L.Trainer(max_steps=200, **QUIET)
    trainer.fit(model, DataLoader(graphs, batch_size=16, shuffle=True))
    model.eval()
    with torch.no_grad():
        batch = Batch.from_data_list(graphs)
        accuracy = (model(batch).argmax(-1) == batch.y).float().mean()
    assert accuracy > 0.9
    assert float(trainer.callback_metrics["train/acc"]) > 0.9


def predictions(model, loader):
    model.eval()
    outputs, targets = [], []
    with torch.no_grad():
        for batch in loader:
            outputs.append(model(batch))
            targets.append(batch.y)
    return torch.cat(outputs), torch.cat(targets)


def test_validation_metrics_equal_sklearns_on_the_same_predictions():
    # A few steps on a three-class task: predictions that are neither constant nor perfect.
    L.seed_everything(0)
    model = ConnectomeGNN(n_inputs=3, n_classes=3, hidden=8, dropout=0.0, lr=1e-2)
    train = DataLoader(block_task(48, seed=10, n_classes=3), batch_size=16, shuffle=True)
    L.Trainer(max_steps=30, **QUIET).fit(model, train)
    loader = DataLoader(block_task(45, seed=20, n_classes=3), batch_size=8)  # the last batch has 5 graphs
    metrics = L.Trainer(**QUIET).validate(model, loader, verbose=False)[0]
    logits, y = predictions(model, loader)
    probabilities = logits.softmax(-1).numpy()
    predicted = probabilities.argmax(-1)
    assert len(set(predicted.tolist())) == 3 and 0.2 < accuracy_score(y, predicted) < 0.9
    assert metrics["val/acc"] == pytest.approx(accuracy_score(y, predicted), abs=1e-6)
    assert metrics["val/f1"] == pytest.approx(f1_score(y, predicted, average="macro"), abs=1e-6)
    expected_auroc = roc_auc_score(y, probabilities, multi_class="ovr", average="macro")
    assert metrics["val/auroc"] == pytest.approx(expected_auroc, abs=1e-5)
    assert metrics["val/loss"] == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-5)


def test_regression_logs_mae_and_r2_equal_to_sklearns():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(3)
    graphs = [random_graph(6, 4, generator, y=torch.randn(1, generator=generator)) for _ in range(30)]
    loader = DataLoader(graphs, batch_size=8)
    model = ConnectomeGNN(n_inputs=4, task="regression", hidden=8)
    assert model.monitor == ("val/loss", "min") and ConnectomeGNN.monitor == ("val/acc", "max")
    metrics = L.Trainer(**QUIET).validate(model, loader, verbose=False)[0]
    out, y = predictions(model, loader)
    assert out.shape == (30, 1)
    prediction = out.squeeze(-1)
    assert metrics["val/mae"] == pytest.approx(mean_absolute_error(y, prediction), rel=1e-5)
    assert metrics["val/r2"] == pytest.approx(r2_score(y, prediction), rel=1e-4, abs=1e-5)
    assert metrics["val/loss"] == pytest.approx(float(F.mse_loss(prediction, y)), rel=1e-5)
    assert "val/acc" not in metrics


def test_a_regression_step_reduces_the_loss_and_logs_train_mae():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(4)
    graphs = [random_graph(6, 4, generator, y=torch.tensor([3.0])) for _ in range(16)]
    model = ConnectomeGNN(n_inputs=4, task="regression", hidden=8, dropout=0.0, lr=1e-2)
    trainer = L.Trainer(max_steps=30, **QUIET)
    trainer.fit(model, DataLoader(graphs, batch_size=8))
    out, _ = predictions(model, DataLoader(graphs, batch_size=16))
    assert float((out - 3.0).abs().mean()) < 1.5  # from ~3 at initialisation
    assert "train/mae" in trainer.callback_metrics


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"readout": "concat"}, r"n_nodes: expected the number of nodes .* readout='concat'.* got None"),
        ({"conv": "chebnet"}, r"conv: expected one of \('edge_weighted', .*got str 'chebnet'"),
        ({"readout": "max"}, r"readout: expected one of \('mean', 'sum', 'concat'\), got str 'max'"),
        ({"task": "ranking"}, r"task: expected one of \('classification', 'regression'\)"),
        ({"n_classes": 1}, r"n_classes: expected an int >= 2 .*got int 1"),
        ({"n_classes": None}, r"n_classes: expected an int >= 2 .*got NoneType None"),
        ({"dropout": 1.0}, r"dropout: expected a probability in \[0, 1\), got float 1.0"),
        ({"dropout": -0.1}, r"dropout: expected a probability in \[0, 1\), got float -0.1"),
        ({"hidden": 0}, r"hidden: expected an int >= 1, got int 0"),
        ({"layers": 0}, r"layers: expected an int >= 1, got int 0"),
        ({"lr": 0.0}, r"lr: expected a finite float > 0, got float 0.0"),
        ({"weight_decay": -1e-4}, r"weight_decay: expected a finite float >= 0"),
        ({"n_inputs": 0}, r"n_inputs: expected an int >= 1, got int 0"),
    ],
)
def test_bad_arguments_raise_errors_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConnectomeGNN(**{"n_inputs": 4, "n_classes": 3, **kwargs})


def test_bad_targets_raise_errors_naming_y():
    model = ConnectomeGNN(n_inputs=4, n_classes=3)
    batch = random_batch(n_graphs=2)
    batch.y = torch.tensor([0.5, 1.5])
    with pytest.raises(ValueError, match="y: expected integer class indices for classification"):
        model.training_step(batch, 0)
    batch.y = torch.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="y: expected one target per graph, 2 values"):
        model.training_step(batch, 0)


def test_registered_and_hyperparameters_saved():
    assert "connectome_gnn" in list_models()
    model = get("connectome_gnn", n_inputs=4, n_classes=3, conv="gat", hidden=8, layers=3)
    assert isinstance(model, ConnectomeGNN)
    assert model.hparams.conv == "gat" and model.hparams.layers == 3 and len(model.convs) == 3
    assert model.hparams.weight_decay == 1e-4
    optimizer = model.configure_optimizers()
    assert optimizer.defaults["lr"] == 1e-3 and optimizer.defaults["weight_decay"] == 1e-4
