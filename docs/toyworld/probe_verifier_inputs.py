"""The toy Eye's selection accuracy per verifier input (2026-12-02; not part of the run).

RemoteZero names a whole-image verifier input as future work; georeason offers four
(``georeason.verifier_inputs``). Two measurements, on the 100 implicit eval scenes (train
wordings) of each seed, scored exactly as rung 0's "Eye picks the target":

``transfer RUN SEED...``: each seed's pretrained larger verifier (the distillation Eye of rung 3,
pretrained on context crops only) seen through every input mode: how far a crop-trained Eye
transfers. Writes ``docs/toyworld/verifier_inputs_transfer.json``.

``trained MODE OUT SEED...``: a larger verifier pretrained from scratch with ``MODE`` inputs
(same size, steps, learning rate and seeds as the run's, see
:func:`georeason_toyworld.stages.pretrain_models`) and scored in that mode. Writes
``docs/toyworld/verifier_inputs_trained_MODE.json``::

    python docs/toyworld/probe_verifier_inputs.py transfer runs/toyworld_v5 0 1 2
    OMP_NUM_THREADS=1 python docs/toyworld/probe_verifier_inputs.py trained global_highlight \
        runs/toyworld_vi 0 1 2
"""

import json
import sys
import time
from pathlib import Path

from georeason.verifier_inputs import VERIFIER_INPUTS
from georeason_toyworld.evaluate import eye_metrics
from georeason_toyworld.pretrain import PretrainConfig, make_toy_model, pretrain
from georeason_toyworld.settings import ExperimentSettings
from georeason_toyworld.splits import build_split

s = ExperimentSettings()
kw = s.split_kwargs()


def eval_records(seed: int) -> list:
    return build_split("eval", s.n_eval, seed, kind="implicit", wordings="train", **kw)


def say(*args) -> None:
    print(*args, flush=True)


command = sys.argv[1]
here = Path(__file__).parent
out: dict = {}
if command == "transfer":
    run, seeds = Path(sys.argv[2]), [int(x) for x in sys.argv[3:]]
    for seed in seeds:
        recs = eval_records(seed)
        for mode in VERIFIER_INPUTS:
            m = eye_metrics(run / f"seed{seed}" / "models" / "teacher", recs, input_mode=mode)
            out.setdefault(mode, {})[seed] = m
            say(seed, mode, {k: round(v, 3) for k, v in m.items()})
    path = here / "verifier_inputs_transfer.json"
else:
    mode, run, seeds = sys.argv[2], Path(sys.argv[3]), [int(x) for x in sys.argv[4:]]
    for seed in seeds:
        folder = run / f"seed{seed}" / f"teacher_{mode}"
        # the run's larger verifier: Eye-only, lr 5e-4, seed + 1000 (stages.pretrain_models)
        cfg = PretrainConfig(
            steps=s.teacher_steps,
            hand_batch=0,
            eye_batch=16,
            lr=5e-4,
            seed=seed + 1000,
            eye_input=mode,
        )
        t0 = time.perf_counter()
        records = build_split("pretrain", s.n_pretrain, seed, **kw)
        make_toy_model(folder, s.teacher_size, seed=seed + 1000)
        pre = pretrain(folder, records, cfg, log_path=folder.parent / f"{mode}_log.jsonl")
        m = eye_metrics(folder, eval_records(seed), input_mode=mode)
        out[seed] = {**m, "pretrain": pre, "wall_s": time.perf_counter() - t0}
        say(seed, mode, {k: round(v, 3) for k, v in m.items()}, f"{out[seed]['wall_s']:.0f} s")
    path = here / f"verifier_inputs_trained_{mode}.json"
path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
say("wrote", path)
