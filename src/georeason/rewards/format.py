"""Format reward (RemoteReasoner, 2025: ``R_format``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from georeason.parsing import parse_completion
from georeason.rewards._common import completion_text, log_metric


def format_reward(
    prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **kwargs: Any
) -> list[float | None]:
    """1.0 if a completion is ``<think>...</think><answer>LIST</answer>`` with a readable box list.

    Source: RemoteReasoner (2025), ``R_format`` — 1 if the output is ``<think>...</think>`` then
    ``<answer>[[x1,y1,x2,y2], ...]</answer>`` (``[]`` for "no target"), else 0. Decided by
    :func:`georeason.parsing.parse_completion` (``format_ok``), so the reward and the parser agree.

    Args:
        prompts: unused (TRL passes them).
        completions: strings or conversational completions (lists of messages).
        **kwargs: other TRL columns, ignored (``log_metric`` receives ``format/parse_failure_rate``:
            share of completions from which no box list could be read at all).

    Returns:
        One float in ``{0.0, 1.0}`` per completion.

    Examples:
        >>> good = "<think>a pool</think><answer>[1,2,3,4]</answer>"
        >>> format_reward(completions=[good, "[1,2,3,4]"])
        [1.0, 0.0]
    """
    parsed = [parse_completion(completion_text(c)) for c in completions]
    if parsed:
        failures = sum(not p.parsed for p in parsed) / len(parsed)
        log_metric(kwargs, "parse_failure_rate", failures)
    return [1.0 if p.format_ok else 0.0 for p in parsed]


#: ms-swift's ``format`` reward (``swift/plugin/orm.py``, class ``Format``), which RemoteReasoner's
#: launch script selects (``--reward_funcs format external_vg_acc``): a regex on the whole text
#: with ``re.DOTALL | re.MULTILINE`` and ``re.match``. Older ms-swift releases end the pattern
#: with ``$``, newer ones with ``(?![\s\S])`` (end of the whole text); the ``$`` one is kept here.
MS_SWIFT_FORMAT_PATTERN = r"^<think>.*?</think>\s*<answer>.*?</answer>$"
_MS_SWIFT_FORMAT = re.compile(MS_SWIFT_FORMAT_PATTERN, re.DOTALL | re.MULTILINE)


def ms_swift_format_reward(
    prompts: Sequence[Any] | None = None, completions: Sequence[Any] = (), **kwargs: Any
) -> list[float | None]:
    """1.0 if a completion matches ms-swift's format regex (:data:`MS_SWIFT_FORMAT_PATTERN`).

    It differs from :func:`format_reward` (georeason's convention) in what it does not check and
    where the text may end:

    - the answer need not hold a box list (``<answer>a tank</answer>`` passes);
    - with ``re.MULTILINE``, ``$`` also matches at a line end, so text after the first line
      break that follows ``</answer>`` is allowed;
    - leading whitespace before ``<think>`` fails (``re.match`` at position 0).

    Examples:
        >>> ms_swift_format_reward(completions=["<think>x</think><answer>a tank</answer>"])
        [1.0]
    """
    return [1.0 if _MS_SWIFT_FORMAT.match(completion_text(c)) else 0.0 for c in completions]


#: The format rewards by convention name (config key ``format_convention``).
FORMAT_REWARDS = {"georeason": format_reward, "ms-swift": ms_swift_format_reward}
