"""Training configuration: YAML file + ``key.sub=value`` overrides -> :class:`TrainConfig`.

A config has these top-level keys (see ``configs/*.yaml`` for complete examples)::

    mode: remotezero | remotereasoner | geozero_sft | geozero_a2grpo
    model: Qwen/Qwen3-VL-8B-Instruct | ./folder | tiny:qwen2_5_vl
    output_dir: runs/x
    max_pixels: 802816           # policy pixel budget (both papers)
    min_pixels: null             # null keeps the processor's
    dtype: bfloat16              # model weights (float32 on CPU)
    data: {path: samples | data.jsonl, image_root: null, max_samples: null}
    reward_weights: {format: 1.0, verification: 1.0}   # order = reward order
    verifier: {kind: initial_policy | local | http, ...}  (remotezero only)
    lora: {r: 8, alpha: 16, dropout: 0.05, target_modules: all-linear}  # enabled: false = full FT
    grpo: {...}                  # passed to trl.GRPOConfig (num_generations, temperature, ...)
    sft: {...}                   # geozero_sft only: passed to trl.SFTConfig
    a2grpo: {...}                # geozero_a2grpo only: A2GRPO's options (A2GRPOSettings)
    prompt_template: null        # georeason (null) | remotereasoner | a template with {query}
    system_prompt: null          # ms-swift-r1 | any text; null = the chat template's own
    format_convention: georeason # or ms-swift (the geozero modes' default): which format reward

Unknown keys are errors (a typo never silently falls back to a default).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from georeason.errors import UserInputError
from georeason.training.a2grpo_settings import A2GRPOSettings
from georeason.verifier_inputs import VERIFIER_INPUTS

MODES = ("remotezero", "remotereasoner", "geozero_sft", "geozero_a2grpo")
#: The modes trained with GRPO (``geozero_sft`` is supervised fine-tuning with TRL's SFTTrainer).
GRPO_MODES = ("remotezero", "remotereasoner", "geozero_a2grpo")
REWARD_NAMES = ("format", "iou", "count", "verification", "answer", "thinking")
VERIFIER_KINDS = ("initial_policy", "local", "http", "shared_base")
#: ``format_convention``: georeason's format reward, or ms-swift's regex (RemoteReasoner's run).
FORMAT_CONVENTIONS = ("georeason", "ms-swift")

#: Rewards of each mode and their default weights (RemoteZero: format + verification;
#: RemoteReasoner: R = R_IoU + R_count + R_format, unit weights).
DEFAULT_REWARD_WEIGHTS: dict[str, dict[str, float]] = {
    "remotezero": {"format": 1.0, "verification": 1.0},
    "remotereasoner": {"iou": 1.0, "count": 1.0, "format": 1.0},
    # GeoZero's A2GRPO: answer + format + gated thinking reward; the weights are ours (the
    # paper's formulas are not public, see georeason.training.a2grpo).
    "geozero_a2grpo": {"answer": 1.0, "format": 1.0, "thinking": 0.5},
    "geozero_sft": {},
}
#: Rewards each GRPO mode accepts.
ALLOWED_REWARDS: dict[str, tuple[str, ...]] = {
    "remotezero": ("format", "verification"),
    "remotereasoner": ("format", "iou", "count"),
    "geozero_a2grpo": ("format", "answer", "thinking"),
}

#: SFTConfig values we set when a ``geozero_sft`` config does not (all ours; the GeoZero paper's
#: SFT settings were not available to us). ``max_length: None``: truncating a vision-language
#: sample could cut image tokens; ``remove_unused_columns: False``: images load lazily from the
#: ``image_path`` column; ``completion_only_loss``: the loss covers the answer, not the prompt.
DEFAULT_SFT: dict[str, Any] = {
    "learning_rate": 1e-5,
    "max_length": None,
    "completion_only_loss": True,
    "remove_unused_columns": False,
    "logging_steps": 1,
    "save_strategy": "steps",
    "save_steps": 100,
    "report_to": ["tensorboard"],
    "seed": 42,
}

#: GRPOConfig values we set when the config does not: the papers' shared settings where they
#: exist (4 generations at temperature 0.9; lr 1e-6 from RemoteReasoner), else ours.
DEFAULT_GRPO: dict[str, Any] = {
    "num_generations": 4,
    "temperature": 0.9,
    "learning_rate": 1e-6,
    "max_completion_length": 512,  # ours: reasoning + boxes; RemoteZero caps the sequence at 2048
    "logging_steps": 1,
    "save_strategy": "steps",
    "save_steps": 100,  # ours
    "report_to": ["tensorboard"],
    "seed": 42,
}


@dataclass
class DataConfig:
    """Training data.

    Attributes:
        path: ``"samples"`` (the bundled real images, :func:`georeason.data.sample_records`) or a
            JSONL file with one record per line: ``image`` (path), ``query``, and for
            ``remotereasoner`` ``boxes_xyxy_px`` (or ``gt_boxes``): ``[[x1,y1,x2,y2], ...]`` in
            original pixels (``[]`` = no target); optional ``id``.
        image_root: folder that relative image paths start from (default: the JSONL's folder).
        max_samples: use only the first N records.
        task: geozero modes: the task (``scene_cls``, ``vqa``, ``caption``, ``grounding``) of
            records that carry no ``task_type``; None = every record must name its task.

    In the geozero modes ``path`` is ``"geozero-samples"`` (the bundled GeoZero-format records
    over the real sample images) or a GeoZero training file: JSON list or JSONL, each record in
    ms-swift's format (``messages``, ``images``, ``solution``, ``task_type``) or GeoZero's
    conversation format (``conversations``, ``images``, ``refs``); see
    :mod:`georeason.training.geozero_data`.
    """

    path: str = "samples"
    image_root: str | None = None
    max_samples: int | None = None
    task: str | None = None


@dataclass
class VerifierConfig:
    """RemoteZero's verifier V and the verification reward's options.

    Attributes:
        kind: ``"initial_policy"`` (self-evolution: a frozen copy of the policy as loaded, before
            training), ``"local"`` (another checkpoint in-process: distillation) or ``"http"`` (an
            OpenAI-compatible server: ``georeason serve-verifier`` or vLLM), or
            ``"shared_base"`` (the policy's own base weights in memory, no second copy: with
            ``adapter`` loaded as a second, frozen named adapter — the previous round's policy
            in self-evolution — or, without ``adapter``, the base with adapters disabled; see
            :mod:`georeason.training.shared_verifier`). The in-process kinds do not work under
            DeepSpeed ZeRO-3 (use ``"http"`` there).
        model: checkpoint for ``"local"``; model name sent to the server for ``"http"``.
        adapter: LoRA adapter on the local verifier (e.g. the previous round's policy).
        url: ``"http://host:port/v1"`` for ``"http"``.
        max_pixels: crop pixel budget of a local verifier (ours: 200,704).
        batch_size: crops per local prefill.
        timeout, max_retries, backoff, max_concurrency: HTTP client settings.
        margin_ratio: context margin of the crop (RemoteZero: 0.15; 0 = strict crop ablation).
        area_penalty_weight, area_threshold: ``lambda`` and ``tau`` of the area penalty (ours,
            see :mod:`georeason.rewards.verification`).
        aggregate: ``"mean"``, ``"max"`` or ``"first"`` over an answer's boxes.
        max_boxes: at most this many boxes per answer are verified (ours: 10, bounds the cost).
        input: what the verifier sees of a box (:mod:`georeason.verifier_inputs`):
            ``context_crop`` (RemoteZero's, default), ``strict_crop``, ``global_highlight``
            or ``global_and_crop``.
    """

    kind: str = "initial_policy"
    model: str | None = None
    adapter: str | None = None
    url: str | None = None
    max_pixels: int = 200_704
    batch_size: int = 16
    timeout: float = 60.0
    max_retries: int = 5
    backoff: float = 1.0
    max_concurrency: int = 8
    margin_ratio: float = 0.15
    area_penalty_weight: float = 1.0
    area_threshold: float = 0.3
    aggregate: str = "mean"
    max_boxes: int = 10
    input: str = "context_crop"


@dataclass
class LoraSettings:
    """LoRA adapter (peft). RemoteReasoner: rank 8, alpha 16, all linear layers.

    ``enabled: false`` trains every weight of the policy instead (full fine-tuning; no adapter:
    the run folder holds the full model). It cannot start from an ``init_adapter`` or share
    its base with a ``shared_base`` verifier, and self-evolution (which carries adapters from
    round to round) does not take it.
    """

    enabled: bool = True
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05  # ours (neither paper states it)
    target_modules: str | list[str] = "all-linear"

    def peft_config(self):  # -> peft.LoraConfig | None
        """The ``peft.LoraConfig`` of these settings (a causal-LM adapter), or None for full
        fine-tuning (``enabled: false``)."""
        from peft import LoraConfig

        if not self.enabled:
            return None
        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=self.target_modules,
            task_type="CAUSAL_LM",
        )


@dataclass
class TrainConfig:
    """Everything ``georeason train`` needs (see the module docstring for the YAML layout).

    ``init_adapter``: a saved LoRA adapter folder the policy starts from (trainable; its own
    rank/alpha/targets replace the ``lora`` section), e.g. the previous self-evolution round;
    None = a fresh LoRA from ``lora``.

    ``format_convention``: ``"georeason"`` (:func:`georeason.rewards.format_reward`, the
    answer must hold a box list) or ``"ms-swift"`` (the regex of ms-swift's ``format`` reward
    that RemoteReasoner's released run used; :func:`georeason.rewards.ms_swift_format_reward`).
    None = the mode's default: ``ms-swift`` for the geozero modes (GeoZero trained with
    ms-swift, and its answers are not always boxes), else ``georeason``.

    ``sft``: ``trl.SFTConfig`` arguments (``geozero_sft``); ``a2grpo``:
    :class:`A2GRPOSettings` (``geozero_a2grpo``).

    ``prompt_template``: the policy prompt template, with ``{query}`` and optionally
    ``{frame}`` and an ``<image>`` marker, or a preset name (``georeason``, ``remotereasoner``:
    :data:`georeason.prompts.PROMPT_PRESETS`; :func:`georeason.prompts.policy_prompt`); None =
    georeason's. Use the one the policy was (pre)trained with, also at inference.

    ``system_prompt``: a system message for training rollouts: a preset name (``ms-swift-r1``,
    the R1 prompt RemoteReasoner's launch script passes) or literal text; None = none (the chat
    template's default).
    """

    mode: str
    model: str
    output_dir: str
    max_pixels: int | None = 802_816
    min_pixels: int | None = None
    dtype: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    reward_weights: dict[str, float] = field(default_factory=dict)
    verifier: VerifierConfig = field(default_factory=VerifierConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    grpo: dict[str, Any] = field(default_factory=dict)
    merge_final: bool = False
    init_adapter: str | None = None
    prompt_template: str | None = None
    system_prompt: str | None = None
    format_convention: str | None = None
    sft: dict[str, Any] = field(default_factory=dict)
    a2grpo: A2GRPOSettings = field(default_factory=A2GRPOSettings)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UserInputError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.format_convention is None:
            self.format_convention = "ms-swift" if self.mode.startswith("geozero") else "georeason"
        if self.mode == "geozero_sft":
            if self.reward_weights:
                raise UserInputError("geozero_sft is supervised fine-tuning: it takes no rewards")
            if self.grpo:
                raise UserInputError("geozero_sft takes trainer settings under 'sft', not 'grpo'")
        elif self.sft:
            raise UserInputError(f"'sft' settings belong to mode geozero_sft, not {self.mode}")
        if not self.lora.enabled:
            if self.init_adapter:
                raise UserInputError(
                    "lora.enabled: false (full fine-tuning) cannot start from an init_adapter; "
                    "train it with merge_final: true and start from the merged model"
                )
            if self.verifier.kind == "shared_base":
                raise UserInputError(
                    "verifier kind shared_base needs LoRA (the verifier is the base with the "
                    "adapter disabled); with lora.enabled: false use kind local"
                )
        if not self.reward_weights:
            self.reward_weights = dict(DEFAULT_REWARD_WEIGHTS[self.mode])
        unknown = set(self.reward_weights) - set(REWARD_NAMES)
        if unknown:
            raise UserInputError(f"unknown rewards {sorted(unknown)}; known: {REWARD_NAMES}")
        misplaced = set(self.reward_weights) - set(ALLOWED_REWARDS.get(self.mode, ()))
        if self.mode == "remotezero" and {"iou", "count"} & misplaced:
            raise UserInputError("remotezero uses no box annotations: drop the iou/count rewards")
        if misplaced:
            homes = {
                r: [m for m, allowed in ALLOWED_REWARDS.items() if r in allowed] for r in misplaced
            }
            where = "; ".join(f"{r} belongs to {', '.join(homes[r])}" for r in sorted(misplaced))
            raise UserInputError(
                f"mode {self.mode} takes the rewards {list(ALLOWED_REWARDS[self.mode])} ({where})"
            )
        if self.prompt_template is not None:
            from georeason.prompts import check_policy_template

            try:
                check_policy_template(self.prompt_template)
            except ValueError as exc:
                raise UserInputError(f"prompt_template: {exc}") from None
        if self.format_convention not in FORMAT_CONVENTIONS:
            raise UserInputError(
                f"format_convention must be one of {FORMAT_CONVENTIONS}, "
                f"got {self.format_convention!r}"
            )
        if self.verifier.kind not in VERIFIER_KINDS:
            raise UserInputError(f"verifier.kind must be one of {VERIFIER_KINDS}")
        if self.verifier.input not in VERIFIER_INPUTS:
            raise UserInputError(
                f"verifier.input must be one of {VERIFIER_INPUTS}, got {self.verifier.input!r}"
            )
        if self.mode == "remotezero":
            if self.verifier.kind == "http" and not (self.verifier.url and self.verifier.model):
                raise UserInputError("verifier.kind http needs verifier.url and verifier.model")
            if self.verifier.kind == "local" and not self.verifier.model:
                raise UserInputError("verifier.kind local needs verifier.model (a checkpoint)")

    def sft_kwargs(self) -> dict[str, Any]:
        """``trl.SFTConfig`` keyword arguments: our defaults, then the config's ``sft``."""
        out = dict(DEFAULT_SFT)
        out.update(self.sft)
        out["output_dir"] = self.output_dir
        return out

    def grpo_kwargs(self) -> dict[str, Any]:
        """``trl.GRPOConfig`` keyword arguments: our defaults, then the config's ``grpo``."""
        out = dict(DEFAULT_GRPO)
        out.update(self.grpo)
        out["output_dir"] = self.output_dir
        out["reward_weights"] = [float(w) for w in self.reward_weights.values()]
        return out

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_SECTIONS = {
    "data": DataConfig,
    "verifier": VerifierConfig,
    "lora": LoraSettings,
    "a2grpo": A2GRPOSettings,
}


def unknown_keys_message(unknown: set[str], known: set[str], where: str) -> str:
    """``unknown key(s) [...] in WHERE (did you mean ...?); known: [...]``: the nearest valid
    name of each misspelt key (``difflib``); the known names are listed when at most 20."""
    import difflib

    hints = []
    for key in sorted(unknown):
        near = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
        if near:
            hints.append(near[0])
    hint = f" (did you mean {', '.join(hints)}?)" if hints else ""
    listed = f"known: {sorted(known)}" if len(known) <= 20 else f"{len(known)} known keys"
    return f"unknown key(s) {sorted(unknown)} in {where}{hint}; {listed}"


def checked_fields(cls: type, kwargs: dict[str, Any], where: str) -> dict[str, Any]:
    """``kwargs`` after checking every key is a field of the dataclass ``cls`` (e.g.
    ``trl.GRPOConfig``, ``trl.SFTConfig``).

    Raises:
        UserInputError: an unknown key, with the nearest field name.
    """
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(kwargs) - fields
    if unknown:
        raise UserInputError(unknown_keys_message(unknown, fields, where))
    return kwargs


def _build(cls: type, values: dict[str, Any], where: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise UserInputError(unknown_keys_message(unknown, names, where))
    return cls(**values)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``dotted.key=value`` overrides with OmegaConf (``OmegaConf.from_dotlist``: values
    parsed as YAML, ``1e-5`` as a float, ``[a, b]`` as a list; nested keys created).

    Raises:
        UserInputError: on an override without ``=`` or one OmegaConf cannot parse.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    for item in overrides:
        key, sep, _ = item.partition("=")
        if not sep or not key.strip():
            raise UserInputError(f"override {item!r} must look like key.sub=value")
    try:
        merged = OmegaConf.merge(OmegaConf.create(raw), OmegaConf.from_dotlist(list(overrides)))
        out = OmegaConf.to_container(merged, resolve=True)
    except (OmegaConfBaseException, ValueError) as exc:
        raise UserInputError(f"cannot apply overrides {list(overrides)}: {exc}") from None
    return out  # type: ignore[return-value]


def config_from_dict(raw: dict[str, Any]) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from a plain dict (parsed YAML).

    Raises:
        UserInputError: missing ``mode``/``model``/``output_dir``, unknown keys, bad values.
    """
    if not isinstance(raw, dict):
        raise UserInputError("a training config must be a YAML mapping")
    values = dict(raw)
    for key in ("mode", "model", "output_dir"):
        if not values.get(key):
            raise UserInputError(f"the training config needs {key!r}")
    for name, cls in _SECTIONS.items():
        section = values.get(name) or {}
        if not isinstance(section, dict):
            raise UserInputError(f"{name!r} must be a mapping")
        values[name] = _build(cls, section, name)
    for name in ("reward_weights", "grpo", "sft"):
        if values.get(name) is None:
            values[name] = {}
        if not isinstance(values[name], dict):
            raise UserInputError(f"{name!r} must be a mapping")
    values["model"] = str(values["model"])
    values["output_dir"] = str(values["output_dir"])
    return _build(TrainConfig, values, "the config")


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML training config and apply overrides.

    Raises:
        FileNotFoundError: if the file does not exist.
        UserInputError: on invalid YAML or content.
    """
    return config_from_dict(read_yaml_with_overrides(path, overrides))


def read_yaml_with_overrides(path: str | Path, overrides: list[str] | None = None) -> dict:
    """The YAML mapping in ``path`` with ``key.sub=value`` overrides applied (values as YAML).

    Raises:
        FileNotFoundError: if the file does not exist.
        UserInputError: on invalid YAML or a malformed override.
    """
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        try:
            raw = yaml.safe_load(f) or {}
        except yaml.YAMLError as exc:
            raise UserInputError(f"{path} is not valid YAML: {exc}") from None
    return apply_overrides(raw, overrides or [])
