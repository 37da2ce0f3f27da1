"""Data-parallel evaluation: which process this is, and a barrier, from ``accelerate``.

``accelerate launch --num_processes N -m georeason eval ...`` (``--num_machines`` for several
nodes) starts N copies of the command; each sets ``WORLD_SIZE``/``RANK``. The evaluation
runner gives process ``i`` the pending samples ``i, i + N, i + 2N, ...``, each appends to its
own shard ``results.rank{i}.jsonl``, and the main process merges the shards into
``results.jsonl`` and scores (:func:`georeason.eval.runner.evaluate`). A plain run is one
process and never imports ``accelerate``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any


@dataclass
class Processes:
    """This process's place in a data-parallel run.

    Attributes:
        index: 0-based process index (``RANK``); count: number of processes (``WORLD_SIZE``).
    """

    index: int = 0
    count: int = 1
    _state: Any = None

    @property
    def is_main(self) -> bool:
        return self.index == 0

    def wait(self) -> None:
        """Block until every process reaches this point (no-op for one process)."""
        if self._state is not None:
            self._state.wait_for_everyone()


def current_processes() -> Processes:
    """The processes of this run: one unless launched with ``WORLD_SIZE > 1`` (accelerate,
    torchrun), then ``accelerate.PartialState`` (which sets up ``torch.distributed``: gloo on
    CPU, NCCL on GPUs).

    Raises:
        georeason.errors.UserInputError: launched with several processes but ``accelerate``
            is not installed.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Processes()
    try:
        from accelerate import PartialState
    except ModuleNotFoundError:
        from georeason.errors import UserInputError

        raise UserInputError(
            "a multi-process evaluation needs accelerate: pip install 'georeason[train]'"
        ) from None
    state = PartialState()
    return Processes(state.process_index, state.num_processes, state)
