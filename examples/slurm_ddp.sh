#!/bin/bash
# Train the dynamics GNN with DDP on 2 nodes × 4 GPUs under SLURM:
#   sbatch examples/slurm_ddp.sh
# srun starts one task per GPU; Lightning detects SLURM and reads each task's rank and the
# node list from SLURM's environment, so neither torchrun nor MASTER_ADDR is needed.
# --ntasks-per-node must equal the GPUs per node: it becomes --trainer.devices below.
# Adapt the resources (and add --partition / --account) to your cluster.
#SBATCH --job-name=ccnn-ddp
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=02:00:00
#SBATCH --output=%x-%j.out

set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-.}"

# Your environment, e.g.: source .venv/bin/activate
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-1}"
# The simulated recording is made once per node (prepare_data) and cached in $CCNN_CACHE
# (default ~/.cache/ccnn): export CCNN_CACHE=/shared/path to share it between the nodes.
# Compute nodes are often offline: log offline, then `wandb sync runs/dynamics_gnn/wandb/offline-run-*`.
export WANDB_MODE="${WANDB_MODE:-offline}"

srun python train.py fit \
    --config configs/dynamics_gnn.yaml \
    --config configs/trainer/multinode.yaml \
    --trainer.num_nodes="$SLURM_NNODES" \
    --trainer.devices="$SLURM_NTASKS_PER_NODE"
