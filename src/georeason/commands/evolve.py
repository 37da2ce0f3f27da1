"""``georeason evolve``: RemoteZero self-evolution / distillation rounds."""

from __future__ import annotations

import argparse

from georeason.commands.train import add_override_arguments


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evolve",
        help="RemoteZero rounds: round t trains the policy against round t-1's policy as "
        "verifier (round 0: an external verifier or the initial policy)",
        description="Run RemoteZero's self-evolution: N rounds of GRPO training (remotezero "
        "mode), each in OUTPUT/round-XX with a manifest.json; round t's verifier is round t-1's "
        "policy. Running the same command again resumes an interrupted run at the unfinished "
        "round and step; finished rounds are kept. Writes OUTPUT/evolve_report.md.",
    )
    p.add_argument("--config", required=True, help="evolve YAML (see configs/tiny_evolve.yaml)")
    p.add_argument("--rounds", type=int, help="number of rounds (default: evolve.rounds)")
    add_override_arguments(p, example="--set evolve.policy_init=base --set lora.r=16")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from georeason.commands.train import overrides_from_args
    from georeason.training.evolve import evolve, load_evolve_config

    config = load_evolve_config(args.config, overrides_from_args(args))
    result = evolve(config, rounds=args.rounds)
    if result.report is None:  # not the main process
        return 0
    for r in result.rounds:
        m = r.manifest
        summary = m.get("reward_summary") or {}
        ev = m.get("eval") or {}
        line = (
            f"round {r.index}: {'kept' if r.skipped else 'trained'}, verifier "
            f"{m['verifier']['source']}, {m.get('global_step', '?')} steps, mean reward "
            f"{summary.get('reward_mean')}"
        )
        if ev:
            line += f", Acc@0.5 {ev.get('Acc@0.5')}, gIoU {ev.get('gIoU')}"
        print(line)
    print(f"report: {result.report}")
    last = result.rounds[-1]
    print(
        f"final policy: georeason locate IMAGE QUERY --model {last.manifest['policy']['model']} "
        f"--adapter {last.round_dir} --out OUT"
    )
    return 0
