"""Weights & Biases logging that never prompts: the default logger of ``train.py``.

:class:`WandbLogger` is Lightning's ``WandbLogger`` with one decision made for you: when
``WANDB_MODE`` is unset and no API key is found (``WANDB_API_KEY`` or a ``~/.netrc`` entry
for ``api.wandb.ai``), the run goes offline instead of asking for a login. The offline run
lands in ``<save_dir>/wandb/offline-run-*``; one message says so at the start, and W&B
prints the ``wandb sync`` command that uploads it at the end. ``WANDB_MODE=offline`` /
``online`` / ``disabled`` are respected as set; ``configs/logger/csv.yaml`` replaces W&B
altogether. Checkpoints become W&B artifacts only when the run is online. A run that fails
is finished at once and marked failed (exit code 1).
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger as _LightningWandbLogger
from lightning.pytorch.utilities import rank_zero_info

__all__ = ["WandbLogger", "wandb_api_key_available"]


def wandb_api_key_available() -> bool:
    """Whether W&B could log in without asking: an API key in the environment or ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


class WandbLogger(_LightningWandbLogger):
    """Lightning's W&B logger, offline unless W&B can log in without a prompt (module docstring).

    Args:
        save_dir: the run directory's root; W&B writes ``<save_dir>/wandb/``.
        project: W&B project.
        name: display name of the run.
        offline: force offline (True) or online (False); None decides as described above.
        log_model: upload checkpoints as artifacts (online runs only).
        **kwargs: passed on to :class:`lightning.pytorch.loggers.WandbLogger` and ``wandb.init``.
    """

    def __init__(
        self,
        save_dir: str | None = None,
        project: str = "ccnn",
        name: str | None = None,
        offline: bool | None = None,
        log_model: bool | str = True,
        **kwargs: Any,
    ) -> None:
        save_dir = save_dir or "runs"
        mode = os.environ.get("WANDB_MODE")
        told_offline = offline is None and mode is None and not wandb_api_key_available()
        if offline is None:
            offline = mode in ("offline", "dryrun") or told_offline
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        super().__init__(
            save_dir=save_dir,
            project=project,
            name=name,
            offline=offline,
            log_model=False if offline else log_model,
            **kwargs,
        )
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)  # W&B warns that the setting is deprecated
        if told_offline:
            rank_zero_info(
                f"W&B: no API key found, so this run is logged offline into {save_dir}/wandb/; "
                "W&B prints the command that uploads it when the run ends. "
                "WANDB_MODE=disabled or --config configs/logger/csv.yaml turn W&B off."
            )

    def finalize(self, status: str) -> None:
        """Close the W&B run: a failed or interrupted fit is recorded as failed (exit code 1)
        and finished, so its files are complete, instead of being left open until exit."""
        super().finalize(status)
        if status != "success" and self._experiment is not None:
            finish = getattr(self._experiment, "finish", None)
            if callable(finish):
                finish(exit_code=1)
