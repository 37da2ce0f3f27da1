"""GRPO training on TRL (LoRA via peft): RemoteZero and RemoteReasoner modes.

* :mod:`~georeason.training.config` — YAML config + ``key=value`` overrides (:func:`load_config`).
* :mod:`~georeason.training.data` — the TRL vision-language dataset (prompt, image, query, boxes).
* :mod:`~georeason.training.trainer` — :func:`build_trainer`, :func:`train` (resume included).
* :mod:`~georeason.training.logs` — JSONL step log and per-rollout reward log.
* ``tiny:ARCH`` model references live in :mod:`georeason.models.spec`.
* :mod:`~georeason.training.scripted` — steering a random policy (tests and benchmarks only).

Importing this package loads transformers (for the logging callback); trl and peft load when a
trainer is built.
"""

from georeason.training.config import TrainConfig, config_from_dict, load_config
from georeason.training.trainer import TrainingStopped, TrainResult, build_trainer, train

__all__ = [
    "TrainConfig",
    "TrainResult",
    "TrainingStopped",
    "build_trainer",
    "config_from_dict",
    "load_config",
    "train",
]
