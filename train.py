"""Train, validate or test any ccnn model from YAML configs (see ``ccnn/cli.py``).

Usage::

    python train.py fit --config configs/dynamics_gnn.yaml
    python train.py fit --config configs/dynamics_gnn.yaml \
        --data ccnn.data.ActivityDataModule --data.path rec.npz
    python train.py fit --config configs/dynamics_gnn.yaml --print_config
"""

from ccnn.cli import main

if __name__ == "__main__":
    main()
