"""The argument parser of ``train.py``: short errors with suggestions, and configs that tell the truth.

* A bad option prints one error, a "did you mean" when a known option is close, and where
  to find the full list, not argparse's usage of every option (about 60 lines here).
* ``--print_config`` and the saved ``config.yaml`` show what the run uses: the checkpoint
  ``monitor`` / ``mode`` that the model asks for and the default logger, not ``null``.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import re
import sys
from typing import Any, NoReturn

from jsonargparse import Namespace
from lightning.pytorch.cli import LightningArgumentParser

__all__ = ["DEFAULT_LOGGER", "CCNNArgumentParser", "explain_error", "model_monitor", "resolve_defaults"]

#: The logger of every run whose config sets none (``trainer.logger: null`` or ``true``).
DEFAULT_LOGGER = "ccnn.loggers.WandbLogger"


def import_class(class_path: str) -> type:
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def model_monitor(model: Any) -> tuple[str, str] | None:
    """(metric, "min" | "max") that the model's class asks ``train.py`` to checkpoint by.

    A class may define ``monitor_for(**init_args)`` when the metric depends on its arguments
    (a regression head has no accuracy); otherwise its ``monitor`` attribute is used.
    """
    class_path = model.get("class_path") if isinstance(model, Namespace) else None
    if not class_path:
        return None
    try:
        cls = import_class(class_path)
    except (ImportError, AttributeError):
        return None
    monitor_for = getattr(cls, "monitor_for", None)
    if callable(monitor_for):
        init_args = model.get("init_args")
        return monitor_for(**(init_args.as_dict() if isinstance(init_args, Namespace) else {}))
    return getattr(cls, "monitor", None)


def resolve_defaults(config: Namespace) -> Namespace:
    """Fill, in place, what ``train.py`` decides where the config says ``null``: the logger
    (``true`` too) and the checkpoint's monitor and mode. Returns ``config``."""
    trainer = config.get("trainer")
    if isinstance(trainer, Namespace) and trainer.get("logger") in (None, True):
        trainer.logger = Namespace(class_path=DEFAULT_LOGGER, init_args=Namespace())
    checkpoint = config.get("checkpoint")
    if isinstance(checkpoint, Namespace) and checkpoint.get("monitor") is None:
        monitor = model_monitor(config.get("model"))
        if monitor is not None:
            checkpoint.monitor, checkpoint.mode = monitor
    return config


class CCNNArgumentParser(LightningArgumentParser):
    """``LightningArgumentParser`` with :func:`explain_error` messages and resolved dumps."""

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if not self.exit_on_error or os.environ.get("JSONARGPARSE_DEBUG"):
            super().error(message, ex)  # raises, as jsonargparse does then
        parser = getattr(ex, "subcommand_parser", None) or self
        sys.stderr.write(explain_error(message, parser) + "\n")
        self.exit(2)

    def dump(self, cfg: Namespace, *args: Any, **kwargs: Any) -> str:
        # Used by --print_config (the saved config is resolved before it gets here).
        if isinstance(cfg, Namespace) and "checkpoint" in cfg and "model" in cfg:
            cfg = resolve_defaults(cfg.clone())
        return super().dump(cfg, *args, **kwargs)


def explain_error(message: str, parser: Any) -> str:
    """One short message for a parse error, with the closest known option for unknown ones."""
    program = str(getattr(parser, "prog", "train.py")).replace(" [options]", "")
    hint = f"({program} --help lists every option)"
    nested = re.search(r"Problem with given class_path '([\w.]+)':\s*Option '(\w+)' is not accepted", message)
    if nested:
        class_path, option = nested.groups()
        group = re.search(r'Parser key "([\w.]+)"', message)
        prefix = f"--{group.group(1)}.init_args." if group else "--"
        names = _init_arguments(class_path)
        close = difflib.get_close_matches(option, names, n=1, cutoff=0.6)
        suggestion = f"; did you mean {prefix}{close[0]}?" if close else ""
        return (
            f"error: unknown option {prefix}{option}: {class_path} has no argument {option!r}{suggestion}\n"
            f"  {class_path.rpartition('.')[2]} takes: {', '.join(names)}\n{hint}"
        )
    missing = re.search(
        r"Problem with given class_path '([\w.]+)':\s*module '([\w.]+)' has no attribute '(\w+)'", message
    )
    if missing:
        class_path, module, name = missing.groups()
        names = [n for n in dir(importlib.import_module(module)) if not n.startswith("_")]
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        suggestion = f"; did you mean {module}.{close[0]}?" if close else ""
        return f"error: class_path {class_path!r}: {module} has no {name!r}{suggestion}\n{hint}"
    # From the command line ("--key value") or from a config file ("key: value").
    unknown = [
        f"--{k}" for k in re.findall(r"(?<![\w.-])--([\w.]+)", _after(message, "unrecognized arguments:"))
    ]
    unknown += re.findall(r"does not accept (?:option|nested key) '([\w.]+)'", message)
    if unknown:
        known = _option_names(parser)
        lines = []
        for key in unknown:
            dashes = "--" if key.startswith("--") else ""
            close = difflib.get_close_matches(key.removeprefix("--"), known, n=1, cutoff=0.6)
            suggestion = f"; did you mean {dashes}{close[0]}?" if close else ""
            where = "option" if dashes else "key (in a config file)"
            lines.append(f"error: unknown {where} {key}{suggestion}")
        return "\n".join([*lines, hint])
    return f"error: {message.strip()}\n{hint}"


def _after(message: str, marker: str) -> str:
    return message.split(marker, 1)[1] if marker in message else ""


def _option_names(parser: Any) -> list[str]:
    names = []
    for action in getattr(parser, "_actions", []):
        for option in action.option_strings:
            if option.startswith("--"):
                names.append(option[2:])
    return names


def _init_arguments(class_path: str) -> list[str]:
    try:
        parameters = inspect.signature(import_class(class_path)).parameters.values()
    except (ImportError, AttributeError, TypeError, ValueError):
        return []
    return [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
