"""Training logs beside TensorBoard: a per-step JSONL log and a per-rollout reward log.

* ``OUTPUT_DIR/train_log.jsonl`` (main process): one line per logging step with everything TRL
  logs: ``rewards/<name>/mean`` and ``/std`` for each reward, ``reward`` and ``reward_std``
  (weighted sum), and the metrics our rewards send through ``log_metric``:
  ``verifier_confidence``, ``box_area_ratio``, ``parse_failure_rate``.
* ``OUTPUT_DIR/rollouts/rank<R>.jsonl`` (every process): one line per reward call with the
  global step, the reward name, the record ids and the values, so that a run's data order and
  rewards can be audited (and compared across a resume).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from georeason.jsonl import append_jsonl


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


class JsonlLogCallback(TrainerCallback):
    """Append each ``on_log`` record to ``path`` as one JSON line (main process only)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001 - HF signature
        if not state.is_world_process_zero or not logs:
            return
        record = {"step": state.global_step, "epoch": state.epoch}
        record.update({k: _jsonable(v) for k, v in logs.items()})
        append_jsonl(self.path, record)


class RecordedReward:
    """A reward function that also appends its inputs' ids and its values to a JSONL file.

    Keeps the wrapped function's ``__name__`` (TRL names its metrics after it). Picklable.

    Args:
        reward: the TRL reward function.
        folder: where ``rank<R>.jsonl`` goes (``R`` = ``$RANK``, 0 if unset).
    """

    def __init__(self, reward: Callable[..., list[float | None]], folder: str | Path) -> None:
        self.reward = reward
        self.folder = str(folder)
        self.__name__ = getattr(reward, "__name__", type(reward).__name__)

    def __call__(
        self, prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **kwargs: Any
    ) -> list[float | None]:
        values = self.reward(prompts=prompts, completions=completions, **kwargs)
        state = kwargs.get("trainer_state")
        record = {
            "step": int(getattr(state, "global_step", -1)) + 1,  # the step being computed
            "reward": self.__name__,
            "ids": [str(i) for i in kwargs.get("id", [])],
            "values": [_jsonable(v) for v in values],
        }
        rank = os.environ.get("RANK", "0")
        append_jsonl(os.path.join(self.folder, f"rank{rank}.jsonl"), record)
        return values
