"""Settings of one toy-world run (every value ours unless a paper is named)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from georeason_toyworld.pretrain import ToyModelSize


@dataclass
class ExperimentSettings:
    """Sizes, budgets and every GRPO setting of one run (defaults: the full setting).

    Attributes:
        n_pretrain, n_rl, n_eval: scenes per split (one query each); ``n_eval`` >= 100 for
            the report's numbers. ``n_rl`` = ``prompts_per_step x distill_grpo_steps`` (the
            longest run): every RL prompt is a new scene (with 256 scenes seen six times the
            rollouts learned each scene's box instead of the query, probe R3x).
        scene_px: side of the square scenes in pixels (96: a 3 x 3 grid of 32 px visual
            tokens for the toy Qwen3-VL; 128 / 4 x 4 until 2026-12-02, when the 3 x 3 grid with
            twice the pretraining scenes lifted the plain Hand from 21 % to 42 %,
            ``docs/toyworld/README.md``).
        layout, grid_cells: scene layout (``"grid"``: one object per cell, see
            :mod:`georeason_toyworld.grid`; ``"free"``: the first toy's free placement).
        hand_stage_steps: SFT steps of the policy's first stage, Hand examples only (0: none).
            1,500 Hand-only steps, then 300 of the mix, without position phrases and with
            3-digit coordinates: plain Acc@0.5 79 %, implicit 8 %, Eye 90 % (probe D3NXLPHE,
            2026-12-02); the old 600 mixed steps with phrases read the position from the text
            and found nothing in the image (8 % on expressions without a phrase).
        pretrain_steps, ground_batch, ground_queries, coord_digits: SFT steps of the policy's
            (second) stage with the Hand, Eye and caption mix, its think-grounding examples per
            step and their queries, and the zero-padding of the Hand's coordinates
            (:class:`georeason_toyworld.pretrain.PretrainConfig`; the Hand-only stage has no
            think-grounding examples). 16 think-grounding examples with varied neutral queries:
            on an implicit query the Hand then names a different object of the scene from
            sample to sample (4.5 reasonings per group of 8 instead of 1.3), and RemoteZero
            moved implicit Acc@0.5 from 24 to 56 % (probe R3z, seed 0). 600 second-stage
            steps (300 until 2026-12-02): on seed 1 the same RemoteZero run then gained
            41 -> 66 % instead of 35 -> 43 % (probes S1bR3 / S1R3).
        position_phrases: whether plain expressions carry position phrases, in every split
            (:func:`georeason_toyworld.splits.build_split`).
        policy_size: width/depth of the policy.
        teacher_size, teacher_steps: the larger Eye-only verifier used for distillation.
            1,500 steps (500 until 2026-12-02): seed 2's 500-step verifier confused categories
            (trees P(yes) 0.91 for building queries) and RemoteZero hacked the confusions
            (boxes 1.21x the true area, +11 at 200 steps); the 1,500-step one selects the
            target in 100 % of 300 scenes and gave +25 (probes S2T1500, S2R3x200T).
        grpo_steps: optimizer steps of rung 1 (IoU GRPO on plain expressions) and of the two
            self-evolution rounds.
        distill_grpo_steps: optimizer steps of rung 3 (RemoteZero distilled from the larger
            verifier) and of its ceiling (rung 4: the same budget). 200 (100 until
            2026-12-02): on seed 2 the distillation gained +11 at 100 steps and +25 at 200
            with the 1,500-step verifier (probes S2R3T1500, S2R3x200T).
        num_generations: rollouts per prompt (RemoteZero: 4; ours 8: more exploration per
            prompt for a tiny policy).
        prompts_per_step: prompts per GRPO step (batch = prompts x generations). 16 (4 until
            2026-12-02): with 4 the verification reward did not rise during RemoteZero
            training; with 16 it did (probes R3a / R3p, ``docs/toyworld/README.md``).
        temperature: rollout temperature (both papers: 0.9).
        grpo_lr: LoRA learning rate (the papers' 1e-6 is for 7-8B models).
        lr_scheduler: learning-rate schedule of GRPO (``"constant"``).
        beta: KL coefficient to the reference (pretrained) policy (TRL 1.16's default 0.0 would
            not compute KL at all).
        loss_type: TRL loss aggregation (``"grpo"``: per-sequence mean, as in DeepSeekMath's
            GRPO; TRL 1.16 defaults to ``"dapo"``).
        scale_rewards: TRL advantage scaling (``"group"``: divide by the group's std, GRPO).
        epsilon: PPO clip range (TRL default 0.2, set explicitly).
        lora_r, lora_alpha: LoRA rank and alpha (LoRA on every linear layer).
        full_finetune: train every weight instead of LoRA (``lora.enabled: false``; the
            vision patch embedding and position table, outside LoRA's linear layers, then
            train too). Off by default.
        area_penalty_weight, area_threshold, margin_ratio: the verification reward's lambda,
            tau and context margin (project defaults 1.0 / 0.3 / 0.15).
        bestofn_samples: N of the test-time Generate-Crop-Verify rung.
        device: ``"cpu"`` (default) or ``"cuda"`` for pretraining, GRPO and evaluation.
        workers: processes that run independent stages at the same time (2, one per core of
            the target machine; each uses one thread). 1 runs everything in this process.
    """

    n_pretrain: int = 4000
    n_rl: int = 3200
    n_eval: int = 100
    scene_px: int = 96
    layout: str = "grid"
    grid_cells: int = 3
    hand_stage_steps: int = 1500
    pretrain_steps: int = 600
    ground_batch: int = 16
    ground_queries: str = "varied"
    coord_digits: int = 3
    position_phrases: bool = False
    policy_size: ToyModelSize = field(default_factory=ToyModelSize)
    teacher_size: ToyModelSize = field(
        default_factory=lambda: ToyModelSize(hidden=192, layers=3, vision_hidden=96, vision_depth=2)
    )
    teacher_steps: int = 1500
    grpo_steps: int = 100
    distill_grpo_steps: int = 200
    num_generations: int = 8
    prompts_per_step: int = 16
    temperature: float = 0.9
    grpo_lr: float = 3e-4
    lr_scheduler: str = "constant"
    beta: float = 0.01
    loss_type: str = "grpo"
    scale_rewards: str = "group"
    epsilon: float = 0.2
    lora_r: int = 16
    lora_alpha: int = 32
    full_finetune: bool = False
    area_penalty_weight: float = 1.0
    area_threshold: float = 0.3
    margin_ratio: float = 0.15
    bestofn_samples: int = 8
    device: str = "cpu"
    workers: int = 2

    def split_kwargs(self) -> dict[str, Any]:
        """The scene and wording keywords of :func:`georeason_toyworld.splits.build_split`
        for this run (``size_px``, ``layout``, ``grid_cells``, ``position_phrases``)."""
        return {
            "size_px": self.scene_px,
            "layout": self.layout,
            "grid_cells": self.grid_cells,
            "position_phrases": self.position_phrases,
        }


#: The ``--quick`` variant: every stage runs, on a few samples and steps (checks wiring only).
QUICK = ExperimentSettings(
    n_pretrain=64,
    n_rl=8,
    n_eval=8,
    hand_stage_steps=2,
    pretrain_steps=6,
    ground_batch=2,
    teacher_steps=4,
    grpo_steps=2,
    distill_grpo_steps=3,  # differs from grpo_steps: the tests see which runs get which
    num_generations=4,
    prompts_per_step=1,
    bestofn_samples=2,
    teacher_size=ToyModelSize(hidden=64, layers=1, vision_hidden=32, vision_depth=1),
    policy_size=ToyModelSize(hidden=64, layers=1, vision_hidden=32, vision_depth=1),
    workers=1,  # spawning worker processes would cost more than the quick stages themselves
)
