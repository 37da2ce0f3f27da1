"""Where a toy-world GRPO step spends its time: cProfile of a few steps of a finished run's config.

Re-trains ``--steps`` steps of a toy-world GRPO run (its ``run_result.json`` gives the exact
train config: model, data, verifier, every GRPO setting) into a scratch folder, on one torch
thread as the experiment runs, under :mod:`cProfile`, and reports the cumulative time of the
phases of TRL's ``GRPOTrainer.training_step``: sampling the completions (``_generate``), the
reward functions (``_calculate_rewards``: the verifier, the format reward and the logged-only
monitors), the per-token log-probability forwards (``_get_per_token_logps_and_entropies``: the
reference model's, without gradient, and the policy's inside ``compute_loss``), the loss
(``compute_loss``) and the backward pass. The profiler adds overhead, so the shares matter, not
the seconds.

    python benchmarks/toyworld_step_profile.py \\
        --run-dir runs/toyworld_v8/seed1/grpo/remotezero_distill [--steps 6]

Needs a finished toy-world seed (``georeason-toyworld run``). Writes
``benchmarks/results/toyworld_step_profile.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import json
import platform
import pstats
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
#: phase -> (file name suffix, function name) in TRL / torch.
PHASES: dict[str, tuple[str, str]] = {
    "training_step (whole step)": ("trl/trainer/grpo_trainer.py", "training_step"),
    "sampling (_generate)": ("trl/trainer/grpo_trainer.py", "_generate"),
    "reward functions (_calculate_rewards)": ("trl/trainer/grpo_trainer.py", "_calculate_rewards"),
    "log-prob forwards, reference + policy (_get_per_token_logps_and_entropies)": (
        "trl/trainer/grpo_trainer.py",
        "_get_per_token_logps_and_entropies",
    ),
    "loss incl. the policy's forward (compute_loss)": (
        "trl/trainer/grpo_trainer.py",
        "compute_loss",
    ),
    "backward (autograd engine)": (
        "~",
        "<method 'run_backward' of 'torch._C._EngineBase' objects>",
    ),
}


def phase_seconds(stats: pstats.Stats) -> dict[str, float]:
    """Cumulative seconds of each of :data:`PHASES` (0.0 when the function never ran)."""
    found = dict.fromkeys(PHASES, 0.0)
    for (file, _line, func), (_cc, _nc, _tt, cum, _callers) in stats.stats.items():
        for phase, (suffix, name) in PHASES.items():
            if func == name and file.endswith(suffix):
                found[phase] += cum
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", type=Path, required=True, help="a finished toy-world GRPO run")
    ap.add_argument("--steps", type=int, default=6)
    args = ap.parse_args()

    import torch

    from georeason.training.config import config_from_dict
    from georeason.training.trainer import train

    torch.set_num_threads(1)  # as the experiment runs each job
    raw = copy.deepcopy(json.loads((args.run_dir / "run_result.json").read_text())["key"]["raw"])
    with tempfile.TemporaryDirectory() as tmp:
        raw["output_dir"] = tmp
        raw["grpo"]["max_steps"] = args.steps
        profiler = cProfile.Profile()
        profiler.enable()
        train(config_from_dict(raw))
        profiler.disable()
    seconds = phase_seconds(pstats.Stats(profiler))
    whole = seconds["training_step (whole step)"]
    rows = {
        k: {"seconds": v, "share_of_step": v / whole if whole else 0.0} for k, v in seconds.items()
    }
    lines = [
        "# Toy-world GRPO step: where the time goes",
        "",
        f"`{args.run_dir}` ({raw['mode']}, {raw['grpo']['per_device_train_batch_size']} "
        f"completions per step, max {raw['grpo']['max_completion_length']} tokens, "
        f"beta {raw['grpo']['beta']}), {args.steps} steps under cProfile, one torch thread, "
        f"{platform.machine()} CPU. Command: `python benchmarks/toyworld_step_profile.py "
        f"--run-dir {args.run_dir} --steps {args.steps}`. The log-prob forwards include the "
        "policy's forward inside `compute_loss`, so the reference model's forward takes at least "
        "their difference.",
        "",
        "| phase | seconds | share of the step |",
        "|---|---:|---:|",
        *(f"| {k} | {v['seconds']:.1f} | {v['share_of_step']:.0%} |" for k, v in rows.items()),
    ]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "toyworld_step_profile.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    payload = {"run_dir": str(args.run_dir), "steps": args.steps, "phases": rows}
    (RESULTS / "toyworld_step_profile.json").write_text(json.dumps(payload, indent=2) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
