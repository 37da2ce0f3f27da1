"""RemoteZero self-evolution and distillation rounds (``georeason evolve``).

RemoteZero (arXiv 2605.04451) improves localisation on unlabeled imagery because the model's
verification ("Eye") matures before its box generation ("Hand"): round t trains the policy with
GRPO against the Generate-Crop-Verify reward whose verifier V is the policy of round t-1, frozen.

Rounds ``0 .. N-1`` of one run live in ``OUTPUT_DIR/round-00``, ``round-01``, ... Each is an
ordinary ``georeason train`` run folder (checkpoints, logs, final LoRA adapter) plus
``manifest.json`` (:mod:`georeason.training.round_manifest`).

* Round 0's verifier is the config's ``verifier`` section: an external model (``local`` or
  ``http``: distillation; the paper's 65.05 Acc@0.5) or the initial policy (``initial_policy``:
  pure self-evolution).
* Round t >= 1: the verifier is round t-1's policy, frozen. The policy starts from round t-1's
  weights (``evolve.policy_init: previous``, default) or from the base model (``base``).
* Between rounds the policy is carried as its LoRA adapter (``evolve.carry: adapter``, default:
  the next round continues training the same adapter, the verifier is base + that adapter) or
  merged into a full model (``carry: merge``: the next round trains a fresh LoRA on the merged
  model, the verifier is the merged model = the next policy with its adapter disabled).
* Memory (``evolve.shared_verifier: true``, default): when the verifier is the policy's base plus
  an adapter (or the bare base), it scores on the policy's own weights
  (:mod:`georeason.training.shared_verifier`) instead of loading a second copy of the base.

A finished round is never trained again or overwritten; rerunning the same command after an
interruption resumes at the unfinished round, from its last checkpoint (its step). A round whose
recorded configuration hash differs from the current one is refused (use a new ``output_dir``).
After each round: the verifier's scores on a fixed probe set (agreement with the previous
round's verifier), optionally Acc@0.5 / gIoU on a labelled set (:mod:`georeason.eval`), and
``evolve_report.md`` (:mod:`georeason.training.evolve_report`).

Under ``accelerate launch`` every process runs the rounds' training; manifests, probes,
evaluation and the report are written by the main process, the others wait at a barrier.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from georeason.errors import UserInputError
from georeason.training.config import TrainConfig, config_from_dict, read_yaml_with_overrides
from georeason.training.round_manifest import (
    config_hash,
    data_hash,
    now_utc,
    read_manifest,
    reward_summary,
    write_manifest,
)
from georeason.training.round_probe import (
    EvalSettings,
    evaluate_round,
    free_memory,
    probe_scores,
)

ROUND_PREFIX = "round-"
POLICY_INITS = ("previous", "base")
CARRIES = ("adapter", "merge")


@dataclass
class EvolveSettings:
    """The ``evolve:`` section of an evolve config.

    Attributes:
        rounds: number of rounds (``--rounds`` overrides).
        policy_init: ``"previous"`` (round t starts from round t-1's weights; default) or
            ``"base"`` (every round starts from the base model with a fresh LoRA).
        carry: ``"adapter"`` (default) or ``"merge"`` (see the module docstring).
        shared_verifier: score with the policy's own base weights when the verifier is that
            base plus an adapter or the bare base (default True; False loads a separate copy).
        probe_records: training records whose fixed crops
            (:data:`georeason.training.round_probe.PROBE_BOXES`) each round's verifier scores,
            for the agreement with the previous round (ours: 4; 0 = off).
        eval: per-round evaluation (:class:`EvalSettings`), or None.
    """

    rounds: int = 2
    policy_init: str = "previous"
    carry: str = "adapter"
    shared_verifier: bool = True
    probe_records: int = 4
    eval: EvalSettings | None = None

    def __post_init__(self) -> None:
        if self.policy_init not in POLICY_INITS:
            raise UserInputError(f"evolve.policy_init must be one of {POLICY_INITS}")
        if self.carry not in CARRIES:
            raise UserInputError(f"evolve.carry must be one of {CARRIES}")
        if self.rounds < 1:
            raise UserInputError(f"evolve.rounds must be >= 1, got {self.rounds}")
        if self.probe_records < 0:
            raise UserInputError("evolve.probe_records must be >= 0")


@dataclass
class EvolveConfig:
    """A RemoteZero training config (round 0's settings) plus the :class:`EvolveSettings`."""

    train: TrainConfig
    evolve: EvolveSettings = field(default_factory=EvolveSettings)

    @property
    def run_dir(self) -> Path:
        return Path(self.train.output_dir)


@dataclass
class RoundResult:
    """One round of :func:`evolve`: its folder, manifest, and whether this call trained it."""

    index: int
    round_dir: Path
    manifest: dict[str, Any]
    skipped: bool


@dataclass
class EvolveResult:
    """What :func:`evolve` produced: the rounds (in order) and the report path."""

    run_dir: Path
    rounds: list[RoundResult]
    report: Path | None


def _build(cls: type, values: Any, where: str) -> Any:
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise UserInputError(f"{where} must be a mapping")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise UserInputError(f"unknown key(s) {sorted(unknown)} in {where}; known: {sorted(names)}")
    return cls(**values)


def evolve_config_from_dict(raw: dict[str, Any]) -> EvolveConfig:
    """Build an :class:`EvolveConfig` from parsed YAML (a training config + ``evolve:``).

    Raises:
        UserInputError: not remotezero mode, unknown keys, bad values.
    """
    if not isinstance(raw, dict):
        raise UserInputError("an evolve config must be a YAML mapping")
    raw = dict(raw)
    section = dict(raw.pop("evolve", None) or {})
    ev = section.pop("eval", None)
    settings = _build(EvolveSettings, section, "evolve")
    settings.eval = _build(EvalSettings, ev, "evolve.eval") if ev is not None else None
    train = config_from_dict(raw)
    if train.mode != "remotezero" or "verification" not in train.reward_weights:
        raise UserInputError("evolve needs mode remotezero with the verification reward")
    if not train.lora.enabled:
        raise UserInputError(
            "evolve carries LoRA adapters from round to round: lora.enabled: false (full "
            "fine-tuning) is not supported here; run georeason train once per round instead"
        )
    return EvolveConfig(train, settings)


def load_evolve_config(path: str | Path, overrides: list[str] | None = None) -> EvolveConfig:
    """Read an evolve YAML (training keys + ``evolve:``) and apply ``key=value`` overrides.

    Raises:
        FileNotFoundError: the file does not exist.
        UserInputError: invalid YAML or content.
    """
    return evolve_config_from_dict(read_yaml_with_overrides(path, overrides))


def round_dir(run_dir: str | Path, index: int) -> Path:
    """``RUN/round-XX`` of round ``index`` (0-based)."""
    return Path(run_dir) / f"{ROUND_PREFIX}{index:02d}"


def round_config(config: EvolveConfig, index: int) -> tuple[TrainConfig, dict[str, Any]]:
    """The training config of round ``index`` and a description of its verifier.

    Round 0 keeps the config's verifier (``initial_policy`` becomes ``shared_base`` when
    ``shared_verifier`` is on: the base with the fresh LoRA disabled is exactly the initial
    policy; with a configured ``init_adapter`` that adapter is loaded as the frozen verifier
    copy). Round t >= 1 uses round t-1's policy as verifier (see the module docstring).

    Returns:
        ``(train_config, verifier_info)``; ``verifier_info`` has ``source`` (``"external"``,
        ``"initial_policy"`` or ``"round-XX"``), ``kind``, ``model``, ``adapter``, ``url``,
        ``shared``.
    """
    ev = config.evolve
    cfg = copy.deepcopy(config.train)
    cfg.output_dir = str(round_dir(config.run_dir, index))
    vc = cfg.verifier
    base = config.train.model
    if index == 0:
        initial = vc.kind == "initial_policy" or (vc.kind == "shared_base" and not vc.adapter)
        source = "initial_policy" if initial else "external"
        if vc.kind == "initial_policy" and ev.shared_verifier:
            # the initial policy = the base (+ the config's init_adapter, frozen as a copy)
            vc.kind, vc.adapter = "shared_base", cfg.init_adapter
        elif vc.kind == "initial_policy" and cfg.init_adapter:
            vc.kind, vc.model, vc.adapter = "local", cfg.model, cfg.init_adapter
    else:
        prev = round_dir(config.run_dir, index - 1)
        source = prev.name
        merged = ev.carry == "merge" and ev.policy_init == "previous"
        prev_model = str(prev / "merged") if merged else base
        prev_adapter = None if merged else str(prev)
        if ev.policy_init == "previous":
            cfg.model = prev_model
            cfg.init_adapter = prev_adapter  # continue the same LoRA (carry adapter)
        else:  # the base model as configured (a fresh LoRA, or the config's init_adapter)
            cfg.model, cfg.init_adapter = base, config.train.init_adapter
        # the model every round-t-1 policy is "base + adapter" of: prev_model (+ prev_adapter)
        if ev.shared_verifier:
            vc.kind, vc.model, vc.adapter, vc.url = "shared_base", None, prev_adapter, None
        else:
            vc.kind, vc.model, vc.adapter, vc.url = "local", prev_model, prev_adapter, None
    cfg.merge_final = ev.carry == "merge"
    info = {
        "source": source,
        "kind": vc.kind,
        "model": vc.model if vc.kind != "shared_base" else cfg.model,
        "adapter": vc.adapter,
        "url": vc.url,
        "shared": vc.kind == "shared_base",
    }
    return cfg, info


# --- hashing, manifests -------------------------------------------------------------------------


def _progress_callback(index: int, rounds: int, stream: Any):
    from transformers import TrainerCallback

    class EvolveProgress(TrainerCallback):
        """Prints ``[evolve] round r/N step s/S reward ...`` at each log (main process)."""

        def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001 - HF
            if not state.is_world_process_zero or not logs or "reward" not in logs:
                return
            extra = "".join(
                f" {k}={logs[k]:.4f}"
                for k in ("reward", "verifier_confidence", "box_area_ratio")
                if isinstance(logs.get(k), (int, float))
            )
            print(
                f"[evolve] round {index + 1}/{rounds} step {state.global_step}/{state.max_steps}"
                f"{extra}",
                file=stream,
                flush=True,
            )

    return EvolveProgress()


def _state():  # -> accelerate.PartialState
    """The process group (one process without ``accelerate launch``)."""
    from accelerate import PartialState

    return PartialState()


# --- the loop -----------------------------------------------------------------------------------


def _open_round(
    config: EvolveConfig, cfg: TrainConfig, index: int, verifier_info: dict, data_sha: str
) -> dict[str, Any]:
    """The round's manifest: the finished or started one on disk, or a new one.

    Raises:
        UserInputError: the folder holds a round of another configuration or data.
    """
    folder = Path(cfg.output_dir)
    cfg_sha = config_hash(cfg, config.run_dir)
    manifest = read_manifest(folder)
    if manifest is not None and manifest.get("config_sha256") != cfg_sha:
        raise UserInputError(
            f"{folder} holds a round trained with a different configuration (config hash "
            f"{manifest.get('config_sha256', '?')[:12]} != {cfg_sha[:12]}); a round is never "
            "overwritten: use a new output_dir"
        )
    if manifest is not None and manifest.get("status") == "finished":
        return manifest
    if manifest is None:
        manifest = {
            "round": index,
            "status": "started",
            "verifier": verifier_info,
            "policy": {"model": cfg.model, "init_adapter": cfg.init_adapter},
            "policy_init": config.evolve.policy_init,
            "carry": config.evolve.carry,
            "config_sha256": cfg_sha,
            "data_sha256": data_sha,
            "started_at": now_utc(),
            "resumed_at": [],
            "config": cfg.to_dict(),
        }
    else:
        manifest["resumed_at"] = [*manifest.get("resumed_at", []), now_utc()]
    if manifest.get("data_sha256") != data_sha:
        raise UserInputError(f"the training data changed since {folder} was started")
    return manifest


def _run_round(
    config: EvolveConfig,
    cfg: TrainConfig,
    index: int,
    n_rounds: int,
    verifier_info: dict,
    manifest: dict[str, Any],
    stream: Any,
    train_fn: Callable[..., Any],
) -> None:
    """Probe the verifier, train (or resume) the round, summarise and evaluate it; the main
    process writes the manifest after each step, the others wait."""
    folder, state = Path(cfg.output_dir), _state()
    if state.is_main_process:
        write_manifest(folder, manifest)
        if "verifier_probe" not in manifest:
            manifest["verifier_probe"] = probe_scores(cfg, config.evolve.probe_records)
            write_manifest(folder, manifest)
    state.wait_for_everyone()
    shared = ", shared base" if verifier_info["shared"] else ""
    print(
        f"[evolve] round {index + 1}/{n_rounds}: verifier = {verifier_info['source']} "
        f"({verifier_info['kind']}{shared})",
        file=stream,
        flush=True,
    )
    if manifest.get("status") != "trained":
        result = train_fn(cfg, callbacks=[_progress_callback(index, n_rounds, stream)])
        manifest.update(
            status="trained",
            global_step=int(result.global_step),
            resumed_from=result.resumed_from,
            adapter_dir=str(result.adapter_dir),
            merged_dir=str(result.merged_dir) if result.merged_dir else None,
        )
        if state.is_main_process:
            write_manifest(folder, manifest)
        free_memory()
    if state.is_main_process:
        manifest["reward_summary"] = reward_summary(folder / "train_log.jsonl")
        if config.evolve.eval is not None:
            manifest["eval"] = evaluate_round(cfg, folder, config.evolve.eval)
        manifest.update(status="finished", ended_at=now_utc())
        write_manifest(folder, manifest)
    state.wait_for_everyone()


def evolve(
    config: EvolveConfig,
    rounds: int | None = None,
    stream: Any = None,
    train_fn: Callable[..., Any] | None = None,
) -> EvolveResult:
    """Run (or resume) RemoteZero's rounds; see the module docstring.

    Args:
        config: the evolve config (``config.train`` = round 0's training config).
        rounds: number of rounds (default ``config.evolve.rounds``); a later call with a larger
            number adds rounds to a finished run.
        stream: where progress lines go (default ``sys.stderr``).
        train_fn: the training function (default :func:`georeason.training.trainer.train`;
            tests may wrap it).

    Returns:
        An :class:`EvolveResult` (``report`` is None on non-main processes).

    Raises:
        UserInputError: a round folder holds a round of a different configuration.
        georeason.training.trainer.TrainingStopped: the verifier server went away (rerun the
            same command to resume).
    """
    from georeason.training.evolve_report import write_evolve_report
    from georeason.training.trainer import train

    train_fn = train_fn or train
    stream = stream or sys.stderr
    n_rounds = int(rounds if rounds is not None else config.evolve.rounds)
    if n_rounds < 1:
        raise UserInputError(f"rounds must be >= 1, got {n_rounds}")
    run_dir = config.run_dir
    results: list[RoundResult] = []
    data_sha = data_hash(config.train)
    for index in range(n_rounds):
        cfg, verifier_info = round_config(config, index)
        manifest = _open_round(config, cfg, index, verifier_info, data_sha)
        folder = Path(cfg.output_dir)
        if manifest.get("status") == "finished":
            print(f"[evolve] round {index + 1}/{n_rounds}: finished earlier, kept", file=stream)
            results.append(RoundResult(index, folder, manifest, skipped=True))
            continue
        _run_round(config, cfg, index, n_rounds, verifier_info, manifest, stream, train_fn)
        manifest = read_manifest(folder) or manifest
        results.append(RoundResult(index, folder, manifest, skipped=False))
    report = None
    if _state().is_main_process:
        report = write_evolve_report(run_dir, [r.manifest for r in results])
    return EvolveResult(run_dir, results, report)
