"""GRPO step time: ``remotezero`` (format + verification) over ``remotereasoner`` (IoU + count +
format), same tiny model, same batch, measured in one run.

The extra cost of RemoteZero is the verifier: one crop + one verifier prefill per predicted box.
A random policy writes no parsable box, which would hide that cost, so both modes are steered to
the same two answers (one 4%-area box, one full-image box) with
:func:`georeason.training.scripted.scripted_answer_bias`; the verifier is the frozen initial
policy, in process. Step time = wall time from ``on_step_begin`` to ``on_step_end`` (generation +
rewards + loss + update), median over the steps after the first of alternating runs.

    python benchmarks/grpo_step_time.py [--arch qwen2_5_vl] [--steps 6]

Writes ``benchmarks/results/grpo_step_time.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ANSWERS = (
    "<think>ok</think><answer>[[100,100,300,300]]</answer>",
    "<think>ok</think><answer>[[0,0,1000,1000]]</answer>",
)


class StepTimer:
    """Wall time of each optimizer step: generation + rewards + loss + update (seconds)."""

    def __init__(self) -> None:
        from transformers import TrainerCallback

        timer = self
        self.times: list[float] = []

        class _Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                timer.start = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                timer.times.append(time.perf_counter() - timer.start)

        self.callback = _Callback()


def run_mode(mode: str, model: str, out: Path, steps: int, max_pixels: int, bias) -> list[float]:
    """Train ``steps`` steps in ``mode``; return the wall time of each step (seconds)."""
    from georeason.training.config import config_from_dict
    from georeason.training.trainer import build_trainer

    weights = {"format": 1.0, "verification": 1.0} if mode == "remotezero" else None
    cfg = config_from_dict(
        {
            "mode": mode,
            "model": model,
            "output_dir": str(out / mode),
            "max_pixels": max_pixels,
            "dtype": "float32",
            "reward_weights": weights,
            "verifier": {"kind": "initial_policy", "max_pixels": max_pixels},
            "grpo": {
                "use_cpu": True,
                "num_generations": 4,
                "per_device_train_batch_size": 4,
                "max_completion_length": 40,
                "max_steps": steps,
                "save_strategy": "no",
                "report_to": [],
                "gradient_checkpointing": False,
                "learning_rate": 1e-4,
                "generation_kwargs": {"sequence_bias": bias},
            },
        }
    )
    trainer = build_trainer(cfg)
    timer = StepTimer()
    trainer.add_callback(timer.callback)
    trainer.train()
    return timer.times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="qwen2_5_vl", choices=("qwen2_5_vl", "qwen3_vl"))
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--max-pixels", type=int, default=50_176)
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per mode")
    args = parser.parse_args()

    import torch

    from georeason.models.loading import load_processor
    from georeason.models.tiny import make_tiny
    from georeason.training.scripted import scripted_answer_bias

    load1 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = str(make_tiny(Path(tmp) / "tiny", arch=args.arch))
        bias = scripted_answer_bias(load_processor(folder).tokenizer, ANSWERS)
        times: dict[str, list[float]] = {"remotereasoner": [], "remotezero": []}
        for r in range(args.rounds):  # alternate the modes: load on a shared machine hits both
            for mode in times:
                out = Path(tmp) / f"round{r}"
                times[mode] += run_mode(mode, folder, out, args.steps, args.max_pixels, bias)[1:]
    med = {mode: statistics.median(t) for mode, t in times.items()}
    result = {
        "benchmark": "grpo_step_time",
        "model": f"tiny random-weight {args.arch} (georeason make-tiny), LoRA r=8 all-linear",
        "batch": "1 prompt x 4 generations per step, max 40 completion tokens, "
        f"max_pixels {args.max_pixels}",
        "machine": f"{platform.machine()} CPU, {platform.system()}",
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": round(load1, 2),
        "step_times_s_after_first": {m: [round(x, 4) for x in t] for m, t in times.items()},
        "median_step_s": {m: round(v, 4) for m, v in med.items()},
        "ratio_remotezero_over_remotereasoner": round(med["remotezero"] / med["remotereasoner"], 3),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "grpo_step_time.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# GRPO step time: remotezero over remotereasoner",
        "",
        f"{result['model']}; {result['batch']}; {result['machine']}, {result['torch_threads']} "
        "torch threads. Both modes steered to the same two answers so that the verification "
        "reward really crops and verifies (verifier = frozen initial policy, in process). "
        f"Median wall time per optimizer step (generation + rewards + update) over steps "
        f"2..{args.steps} of {args.rounds} alternating runs per mode, all in one process. "
        "Command: `python benchmarks/grpo_step_time.py`.",
        "",
        "| mode | median step (s) |",
        "|---|---:|",
        f"| remotereasoner (IoU + count + format) | {result['median_step_s']['remotereasoner']} |",
        f"| remotezero (format + verification) | {result['median_step_s']['remotezero']} |",
        "",
        f"Ratio remotezero / remotereasoner: **{result['ratio_remotezero_over_remotereasoner']}**.",
        "",
        "The machine is shared (2 cores, other jobs; load average at start "
        f"{result['load_average_1min']}): single steps can vary by seconds, hence the median over "
        "alternating runs. On the tiny model the verifier (a prefill over 4 small crops) is cheap "
        "next to generation and the update; with a real 8B verifier its share grows with the "
        "number of boxes per rollout.",
        "",
    ]
    (RESULTS / "grpo_step_time.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
