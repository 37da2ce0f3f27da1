"""``georeason train``: config, data, GRPO on TRL with the tiny models, resume, HTTP verifier,
two processes. A random policy almost never writes a parsable box, so these tests check wiring,
checkpoints, logs and exact reward values, not learning."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from _servers import free_port, start_serve_verifier

from georeason import cli
from georeason.errors import UserInputError
from georeason.jsonl import read_jsonl
from georeason.training.config import DEFAULT_REWARD_WEIGHTS, config_from_dict, load_config
from georeason.training.data import build_dataset
from georeason.training.trainer import last_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TINY_REASONER = ROOT / "configs" / "tiny_remotereasoner.yaml"
TINY_ZERO = ROOT / "configs" / "tiny_remotezero.yaml"


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    env.pop("GEOREASON_DEBUG", None)
    return env


def _rollout_ids(out: Path) -> dict[int, list[str]]:
    """Last logged ids per step (a step interrupted by a kill is logged again on resume)."""
    ids: dict[int, list[str]] = {}
    for rec in read_jsonl(out / "rollouts" / "rank0.jsonl"):
        ids[rec["step"]] = rec["ids"]
    return ids


# --- configuration -----------------------------------------------------------------------------


def test_tiny_configs_load_with_overrides():
    cfg = load_config(TINY_REASONER, ["output_dir=/tmp/x", "grpo.max_steps=7", "lora.r=4"])
    assert cfg.mode == "remotereasoner" and cfg.output_dir == "/tmp/x"
    assert cfg.lora.r == 4 and cfg.grpo["max_steps"] == 7
    kwargs = cfg.grpo_kwargs()
    assert kwargs["reward_weights"] == [1.0, 1.0, 1.0] and kwargs["num_generations"] == 4
    zero = load_config(
        TINY_ZERO, ["verifier.kind=http", "verifier.url=http://h:1/v1", "verifier.model=v"]
    )
    assert list(zero.reward_weights) == ["format", "verification"]
    assert zero.verifier.margin_ratio == 0.15


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"mode": "remotezero", "model": "m"}, "output_dir"),
        ({"mode": "zero", "model": "m", "output_dir": "o"}, "mode must be"),
        ({"mode": "remotezero", "model": "m", "output_dir": "o", "lora": {"rank": 8}}, "rank"),
        (
            {"mode": "remotezero", "model": "m", "output_dir": "o", "reward_weights": {"iou": 1}},
            "no box annotations",
        ),
        (
            {
                "mode": "remotereasoner",
                "model": "m",
                "output_dir": "o",
                "reward_weights": {"verification": 1},
            },
            "remotezero",
        ),
        (
            {"mode": "remotezero", "model": "m", "output_dir": "o", "verifier": {"kind": "http"}},
            "verifier.url",
        ),
        (
            {
                "mode": "remotereasoner",
                "model": "m",
                "output_dir": "o",
                "lora": {"enabled": False},
                "init_adapter": "a",
            },
            "cannot start from an init_adapter",
        ),
        (
            {
                "mode": "remotezero",
                "model": "m",
                "output_dir": "o",
                "lora": {"enabled": False},
                "verifier": {"kind": "shared_base"},
            },
            "shared_base needs LoRA",
        ),
    ],
)
def test_invalid_configs_are_rejected(raw, message):
    with pytest.raises(UserInputError, match=message):
        config_from_dict(raw)


def test_default_rewards_follow_the_papers():
    cfg = config_from_dict({"mode": "remotereasoner", "model": "m", "output_dir": "o"})
    assert cfg.reward_weights == DEFAULT_REWARD_WEIGHTS["remotereasoner"]
    assert list(cfg.reward_weights) == ["iou", "count", "format"]


def test_unknown_grpo_option_is_rejected(tmp_path, tiny_qwen25vl_dir):
    from georeason.training.trainer import build_trainer

    cfg = load_config(
        TINY_REASONER,
        [f"output_dir={tmp_path}", f"model={tiny_qwen25vl_dir}", "grpo.num_generatoins=2"],
    )
    with pytest.raises(UserInputError, match="num_generatoins"):
        build_trainer(cfg)


# --- data ---------------------------------------------------------------------------------------


def test_dataset_follows_trl_vlm_contract(samples_dir):
    cfg = load_config(TINY_REASONER)
    ds = build_dataset(cfg.data, "resized_px", need_boxes=True)
    assert len(ds) == 7
    row = ds[0]
    assert row["prompt"][0]["role"] == "user" and row["query"] in row["prompt"][0]["content"]
    assert row["image"].mode == "RGB" and row["image"].size == (800, 800)  # dior_00001.jpg
    assert row["boxes_xyxy_px"] == [[133.0, 237.0, 684.0, 672.0]]
    geotiff = next(r for r in ds if r["id"] == "spacenet_atlanta_buildings")  # uint16 GeoTIFF
    assert geotiff["image"].mode == "RGB"


def test_jsonl_data_without_boxes_is_refused_in_remotereasoner_mode(tmp_path, samples_dir):
    data = tmp_path / "d.jsonl"
    image = samples_dir / "images" / "dior_00001.jpg"
    data.write_text(json.dumps({"image": str(image), "query": "a golf course"}) + "\n")
    cfg = config_from_dict(
        {"mode": "remotezero", "model": "m", "output_dir": "o", "data": {"path": str(data)}}
    )
    assert len(build_dataset(cfg.data, "norm1000", need_boxes=False)) == 1
    with pytest.raises(UserInputError, match="boxes_xyxy_px"):
        build_dataset(cfg.data, "norm1000", need_boxes=True)
    data.write_text(json.dumps({"image": "missing.png", "query": "q"}) + "\n")
    with pytest.raises(UserInputError, match="not found"):
        build_dataset(cfg.data, "norm1000", need_boxes=False)


def test_last_checkpoint_skips_half_written_folders(tmp_path):
    assert last_checkpoint(tmp_path / "none") is None
    for n in (2, 10):
        (tmp_path / f"checkpoint-{n}").mkdir()
        (tmp_path / f"checkpoint-{n}" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-12").mkdir()  # killed while saving
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-10")


def test_tiny_model_reference_is_built_once(tmp_path, monkeypatch):
    from georeason.models.spec import resolve_model

    monkeypatch.setenv("GEOREASON_CACHE", str(tmp_path))
    folder = resolve_model("tiny:qwen3_vl")
    assert (Path(folder) / "config.json").is_file() and "qwen3_vl-seed0" in folder
    assert resolve_model("tiny:qwen3_vl") == folder
    assert resolve_model("Qwen/Qwen3-VL-8B-Instruct") == "Qwen/Qwen3-VL-8B-Instruct"
    with pytest.raises(UserInputError):
        resolve_model("tiny:llava")


# --- training runs -------------------------------------------------------------------------------


def _train_args(out: Path, model: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--config",
        str(TINY_REASONER),
        "--output-dir",
        str(out),
        "--model",
        str(model),
        "--max-steps",
        "3",
        "--save-steps",
        "1",
        *extra,
    ]


@pytest.fixture(scope="module")
def reasoner_run(tmp_path_factory, tiny_qwen25vl_dir):
    out = tmp_path_factory.mktemp("reasoner")
    assert cli.main(_train_args(out, tiny_qwen25vl_dir, "--set", "merge_final=true")) == 0
    return out


@pytest.mark.slow
def test_remotereasoner_run_writes_adapter_logs_and_checkpoints(reasoner_run):
    out = reasoner_run
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert [Path(last_checkpoint(out)).name] == ["checkpoint-3"]
    log = [r for r in read_jsonl(out / "train_log.jsonl") if "reward" in r]
    assert [r["step"] for r in log] == [1, 2, 3]
    for key in (
        "rewards/iou_reward/mean",
        "rewards/iou_reward/std",
        "rewards/count_reward/mean",
        "rewards/format_reward/mean",
        "parse_failure_rate",
    ):
        assert key in log[0], key
    assert list((out / "runs").rglob("events.out.tfevents.*"))  # TensorBoard
    rollouts = read_jsonl(out / "rollouts" / "rank0.jsonl")
    assert {r["reward"] for r in rollouts} == {"iou_reward", "count_reward", "format_reward"}
    assert all(len(r["ids"]) == 4 and len(set(r["ids"])) == 1 for r in rollouts)  # 4 generations
    saved = json.loads((out / "georeason_train_config.json").read_text())
    assert saved["mode"] == "remotereasoner"


@pytest.mark.slow
def test_full_fine_tuning_trains_every_weight_and_saves_a_full_model(
    tiny_qwen25vl_dir, samples_dir, tmp_path, capsys
):
    from safetensors.torch import load_file

    out = tmp_path / "full"
    # AdamW's decoupled weight decay moves every weight in the optimizer even where a random
    # model's tied rewards give zero advantage: what changed is exactly what was trained
    extra = ("--set", "lora.enabled=false", "--set", "grpo.weight_decay=0.1")
    argv = _train_args(out, tiny_qwen25vl_dir, *extra)
    argv[argv.index("--max-steps") + 1] = "1"
    assert cli.main(argv) == 0
    assert f"full model in {out}" in capsys.readouterr().out
    assert not (out / "adapter_config.json").exists()
    before = load_file(str(tiny_qwen25vl_dir / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    assert set(after) == set(before)  # a full model (no LoRA keys), every tensor saved
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    # the vision patch embedding is outside LoRA's linear layers: it trains only here
    assert any("patch_embed" in k for k in changed)
    assert any("visual" not in k for k in changed)
    image = str(samples_dir / "images" / "dior_00001.jpg")
    args = [image, "a golf course", "--segmenter", "box", "--max-new-tokens", "8"]
    assert cli.main(["locate", *args, "--model", str(out), "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "result.json").is_file()


def test_evolve_refuses_full_fine_tuning():
    from georeason.training.evolve import evolve_config_from_dict

    raw = {"mode": "remotezero", "model": "m", "output_dir": "o", "lora": {"enabled": False}}
    with pytest.raises(UserInputError, match="full fine-tuning"):
        evolve_config_from_dict(raw)


@pytest.mark.slow
def test_locate_loads_trained_adapter_and_merged_model(
    reasoner_run, tiny_qwen25vl_dir, samples_dir, tmp_path
):
    image = str(samples_dir / "images" / "dior_00001.jpg")
    common = [image, "a golf course", "--segmenter", "box", "--max-new-tokens", "8"]
    assert (
        cli.main(
            [
                "locate",
                *common,
                "--model",
                str(tiny_qwen25vl_dir),
                "--adapter",
                str(reasoner_run),
                "--out",
                str(tmp_path / "a"),
            ]
        )
        == 0
    )
    assert (
        cli.main(
            [
                "locate",
                *common,
                "--model",
                str(reasoner_run / "merged"),
                "--out",
                str(tmp_path / "m"),
            ]
        )
        == 0
    )
    assert (tmp_path / "a" / "result.json").is_file() and (tmp_path / "m" / "result.json").is_file()


@pytest.mark.slow
def test_killed_run_resumes_from_last_checkpoint_with_same_data_order(
    reasoner_run, tiny_qwen25vl_dir, tmp_path
):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "georeason.cli", *_train_args(out, tiny_qwen25vl_dir)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 240
    while not (out / "checkpoint-1" / "trainer_state.json").is_file():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    interrupted_at = Path(last_checkpoint(out)).name
    assert interrupted_at in ("checkpoint-1", "checkpoint-2")

    assert cli.main(_train_args(out, tiny_qwen25vl_dir)) == 0
    assert Path(last_checkpoint(out)).name == "checkpoint-3"
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    assert _rollout_ids(out) == _rollout_ids(reasoner_run)  # same prompts at every step


@pytest.mark.slow
def test_two_processes_with_accelerate_launch(tiny_qwen25vl_dir, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(ROOT / "configs" / "accelerate" / "cpu_2proc.yaml"),
        "--main_process_port",
        "0",
        "-m",
        "georeason.cli",
        *_train_args(out, tiny_qwen25vl_dir)[:-4],
        "--max-steps",
        "2",
        "--save-steps",
        "2",
    ]
    result = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert Path(last_checkpoint(out)).name == "checkpoint-2"
    rank0, rank1 = (read_jsonl(out / "rollouts" / f"rank{r}.jsonl") for r in (0, 1))
    assert [r["step"] for r in rank0 if r["reward"] == "iou_reward"] == [1, 2]
    assert [r["step"] for r in rank1 if r["reward"] == "iou_reward"] == [1, 2]
    # the two processes roll out different prompts of the same global batch
    assert rank0[0]["ids"] != rank1[0]["ids"]
    assert result.stdout.count("trained 2 steps") == 1


# --- RemoteZero through the HTTP verifier -------------------------------------------------------

ANSWER_BOX = "<think>ok</think><answer>[[100,100,300,300]]</answer>"
ANSWER_FULL = "<think>ok</think><answer>[[0,0,1000,1000]]</answer>"


class FailAfterCheckpoint:
    """Wraps the real tiny verifier; fails (HTTP 500 on the server) once ``marker`` exists, to
    simulate a verifier server that dies after a checkpoint."""

    def __init__(self, verifier, marker: Path):
        self.verifier = verifier
        self.marker = marker

    def score(self, crops, queries):
        if self.marker.is_file():
            raise RuntimeError("verifier GPU lost")
        return self.verifier.score(crops, queries)


@pytest.mark.slow
def test_remotezero_trains_against_http_verifier_and_stops_cleanly(tiny_qwen3vl_dir, tmp_path):
    from georeason.data import SAMPLES_DIR, sample_records
    from georeason.io import read_image
    from georeason.models.verifier import LocalVerifier
    from georeason.rewards import crop_for_verifier
    from georeason.serving.verifier_server import VerifierServer
    from georeason.training.scripted import scripted_answer_bias
    from georeason.training.trainer import TrainingStopped, train

    local = LocalVerifier.from_pretrained(tiny_qwen3vl_dir, device="cpu", max_pixels=65536)
    out = tmp_path / "zero"
    server = VerifierServer(
        FailAfterCheckpoint(local, out / "checkpoint-2" / "trainer_state.json"), "tiny", port=0
    ).start()
    try:
        cfg = load_config(
            TINY_ZERO,
            [
                f"output_dir={out}",
                f"model={tiny_qwen3vl_dir}",
                "grpo.max_steps=3",
                "grpo.save_steps=1",
                "verifier.kind=http",
                f"verifier.url={server.base_url}",
                "verifier.model=tiny",
                "verifier.max_retries=1",
                "verifier.backoff=0.01",
            ],
        )
        # steer the random policy to two answers so that crops are really verified
        bias = scripted_answer_bias(local.processor.tokenizer, [ANSWER_BOX, ANSWER_FULL])
        cfg.grpo["generation_kwargs"] = {"sequence_bias": bias}
        cfg.grpo["max_completion_length"] = 40
        with pytest.raises(TrainingStopped, match="step 2.*checkpoint-2.*rerun"):
            train(cfg)
    finally:
        server.shutdown()

    # the rewards of steps 1-2 are the verifier's confidences on the context crops, minus the
    # area penalty (0 for the 4%-area box, 0.7 for the full image)
    records = {r["id"]: r for r in sample_records()}
    rollouts = [
        r
        for r in read_jsonl(out / "rollouts" / "rank0.jsonl")
        if r["reward"] == "verification_reward"
    ]
    assert [r["step"] for r in rollouts] == [1, 2]
    seen = set()
    for rec in rollouts:
        image = read_image(SAMPLES_DIR / records[rec["ids"][0]]["image"]).pil()
        w, h = image.size
        box = crop_for_verifier(image, [0.1 * w, 0.1 * h, 0.3 * w, 0.3 * h], 0.15)
        query = records[rec["ids"][0]]["query"]
        conf_box, conf_full = local.score([box, image], [query, query])
        for value in rec["values"]:
            if value == pytest.approx(conf_box, abs=1e-4):
                seen.add("box")
            else:
                assert value == pytest.approx(conf_full - 0.7, abs=1e-4)
                seen.add("full")
    assert seen == {"box", "full"}
    log = [r for r in read_jsonl(out / "train_log.jsonl") if "reward" in r]
    assert all(0.0 < r["verifier_confidence"] < 1.0 for r in log)
    assert any(r["reward_std"] > 0 for r in log)
    assert log[0]["box_area_ratio"] >= 0.04


# --- paper configurations -----------------------------------------------------------------------


def test_paper_configs_pin_the_published_settings():
    zero = load_config(ROOT / "configs" / "remotezero_qwen3vl_8b.yaml")
    g = zero.grpo_kwargs()
    assert zero.mode == "remotezero" and zero.model == "Qwen/Qwen3-VL-8B-Instruct"
    assert (
        g["num_train_epochs"],
        g["per_device_train_batch_size"],
        g["gradient_accumulation_steps"],
    ) == (10, 6, 8)
    assert (g["num_generations"], g["temperature"], g["bf16"]) == (4, 0.9, True)
    assert zero.max_pixels == 802_816 and zero.verifier.margin_ratio == 0.15
    reasoner = load_config(ROOT / "configs" / "remotereasoner_qwen25vl_7b.yaml")
    g = reasoner.grpo_kwargs()
    assert reasoner.model == "Qwen/Qwen2.5-VL-7B-Instruct" and reasoner.max_pixels == 802_816
    assert (reasoner.lora.r, reasoner.lora.alpha, reasoner.lora.target_modules) == (
        8,
        16,
        "all-linear",
    )
    assert (
        g["learning_rate"],
        g["num_train_epochs"],
        g["per_device_train_batch_size"],
        g["gradient_accumulation_steps"],
    ) == (1e-6, 24, 8, 8)
    assert g["reward_weights"] == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(("name", "stage"), [("zero2_8gpu", 2), ("zero3_8gpu", 3)])
def test_accelerate_deepspeed_files_are_consistent(name, stage):
    from accelerate.commands.config.config_args import load_config_from_file

    acc = load_config_from_file(str(ROOT / "configs" / "accelerate" / f"{name}.yaml"))
    assert acc.distributed_type == "DEEPSPEED" and acc.num_processes == 8
    ds_file = ROOT / acc.deepspeed_config["deepspeed_config_file"]
    ds = json.loads(ds_file.read_text())
    assert ds["zero_optimization"]["stage"] == stage
    assert ds["train_micro_batch_size_per_gpu"] == "auto"  # taken from the training config


@pytest.mark.slow
def test_train_cli_against_serve_verifier_stops_when_server_dies_then_resumes(
    tiny_qwen3vl_dir, tmp_path
):
    from georeason.models.loading import load_processor
    from georeason.training.scripted import scripted_answer_bias

    def start_server(port: int) -> subprocess.Popen:
        return start_serve_verifier(tiny_qwen3vl_dir, port)

    port = free_port()
    bias = scripted_answer_bias(load_processor(tiny_qwen3vl_dir).tokenizer, [ANSWER_BOX])
    out = tmp_path / "cli"
    args = [
        "train",
        "--config",
        str(TINY_ZERO),
        "--output-dir",
        str(out),
        "--model",
        str(tiny_qwen3vl_dir),
        "--save-steps",
        "1",
        "--verifier-url",
        f"http://127.0.0.1:{port}/v1",
        "--verifier-model",
        "tiny",
        "--set",
        "verifier.max_retries=1",
        "--set",
        "verifier.backoff=0.05",
        "--set",
        f"grpo.generation_kwargs={json.dumps({'sequence_bias': bias})}",
        "--set",
        "grpo.max_completion_length=40",
    ]
    server = start_server(port)
    run = subprocess.Popen(
        [sys.executable, "-m", "georeason.cli", *args, "--max-steps", "50"],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not (out / "checkpoint-1" / "trainer_state.json").is_file():
            assert run.poll() is None, run.stderr.read()[-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        server.terminate()  # the verifier goes away mid-run
        server.wait(timeout=30)
        _, stderr = run.communicate(timeout=120)
    finally:
        for proc in (run, server):
            if proc.poll() is None:
                proc.kill()
    assert run.returncode == 2, stderr[-2000:]
    last = last_checkpoint(out)
    message = next(line for line in stderr.splitlines() if "georeason: error:" in line)
    assert message.startswith("georeason: error: training stopped at step")
    assert "unavailable" in message and last in message and "rerun" in message
    scored = [
        r
        for r in read_jsonl(out / "rollouts" / "rank0.jsonl")
        if r["reward"] == "verification_reward"
    ]
    assert scored and all(v != 0.0 for r in scored for v in r["values"])  # real confidences

    server = start_server(port)  # back up: the same command resumes
    try:
        resume_to = int(Path(last).name.split("-")[1]) + 1
        assert cli.main([*args, "--max-steps", str(resume_to)]) == 0
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert Path(last_checkpoint(out)).name == f"checkpoint-{resume_to}"


def test_invalid_verification_options_are_user_errors():
    from georeason.rewards import FrameSpec
    from georeason.training.trainer import build_rewards

    cfg = load_config(TINY_ZERO, ["verifier.aggregate=median"])
    with pytest.raises(UserInputError, match="aggregate"):
        build_rewards(cfg, FrameSpec(), verifier=object())
    cfg = load_config(TINY_ZERO, ["verifier.margin_ratio=0", "verifier.max_boxes=3"])
    (fmt, ver) = build_rewards(cfg, FrameSpec(), verifier=object())
    assert fmt.__name__ == "format_reward" and ver.margin_ratio == 0.0 and ver.max_boxes == 3


@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_reward_frame_matches_what_the_processor_feeds_the_policy(
    arch, tiny_qwen25vl_dir, tiny_qwen3vl_dir, samples_dir
):
    """The rewards' model-input size (FrameSpec) equals the processor's real resize, read back
    from ``image_grid_thw`` as the policy does, on the bundled images at the tiny budget."""
    from PIL import Image

    from georeason.models.loading import load_processor
    from georeason.models.policy import model_input_sizes
    from georeason.rewards import frame_spec_for

    folder = tiny_qwen25vl_dir if arch == "qwen2_5_vl" else tiny_qwen3vl_dir
    processor = load_processor(folder, max_pixels=50_176)
    spec = frame_spec_for(processor, arch)
    assert spec.frame == ("resized_px" if arch == "qwen2_5_vl" else "norm1000")
    for name in ("dior_00001.jpg", "dota_P1888.png", "isaid_P0004.png"):
        image = Image.open(samples_dir / "images" / name).convert("RGB")
        grid = processor.image_processor(images=[image], return_tensors="pt")["image_grid_thw"]
        (real,) = model_input_sizes(grid, processor.image_processor.patch_size)
        assert spec.model_input_hw((image.height, image.width)) == real, name


@pytest.mark.slow
def test_self_evolution_verifier_is_previous_round_policy(
    reasoner_run, tiny_qwen25vl_dir, samples_dir
):
    """Round t's verifier = round t-1's policy: the base model plus the previous adapter."""
    from PIL import Image

    from georeason.training.trainer import build_verifier

    cfg = load_config(
        TINY_ZERO,
        [
            f"model={tiny_qwen25vl_dir}",
            "verifier.kind=local",
            f"verifier.model={tiny_qwen25vl_dir}",
            f"verifier.adapter={reasoner_run}",
        ],
    )
    verifier = build_verifier(cfg, str(tiny_qwen25vl_dir))
    assert type(verifier.model).__name__.startswith("PeftModel")
    assert not any(p.requires_grad for p in verifier.model.parameters())  # frozen
    image = Image.open(samples_dir / "images" / "dior_00001.jpg")
    (score,) = verifier.score([image.crop((133, 237, 684, 672))], ["a golf course"])
    assert 0.0 < score < 1.0


def test_merge_adapter_keeps_the_checkpoint_dtype(tiny_qwen3vl_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model

    from georeason.models.loading import checkpoint_dtype, load_model_and_processor
    from georeason.training.trainer import merge_adapter

    base = tmp_path / "bf16"
    loaded = load_model_and_processor(tiny_qwen3vl_dir, device="cpu", dtype="bfloat16")
    loaded.model.save_pretrained(base)
    loaded.processor.save_pretrained(base)
    assert checkpoint_dtype(base) == "bfloat16"
    peft_model = get_peft_model(
        loaded.model, LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM")
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    merged = merge_adapter(str(base), tmp_path / "adapter", tmp_path / "merged")
    assert checkpoint_dtype(merged) == "bfloat16"
    again = load_model_and_processor(merged, device="cpu", dtype=checkpoint_dtype(merged))
    assert next(again.model.parameters()).dtype == torch.bfloat16
    assert checkpoint_dtype(tmp_path / "missing") is None


@pytest.mark.parametrize(
    "override, where, suggestion",
    [
        ("grpo.learning_rat=1e-5", "grpo (trl.GRPOConfig)", "learning_rate"),
        ("lora.alpah=8", "in lora", "alpha"),
        ("verifier.margin_rato=0.1", "in verifier", "margin_ratio"),
        ("data.max_sample=3", "in data", "max_samples"),
        ("prompt_templat=x", "in the config", "prompt_template"),
    ],
)
def test_misspelt_config_key_names_the_nearest(override, where, suggestion, capsys):
    from georeason.cli import main

    argv = ["train", "--config", "configs/tiny_remotereasoner.yaml", "--set", override]
    assert main([*argv, "--print-config"]) == 2
    err = capsys.readouterr().err.strip()
    assert where in err and f"did you mean {suggestion}?" in err and "\n" not in err


PINNED = {
    # key: (RemoteReasoner's value, RemoteZero's value); TRL 1.16's default differs for most
    "beta": (0.04, 0.04),
    "loss_type": ("grpo", "grpo"),
    "scale_rewards": ("group", "group"),
    "epsilon": (0.2, 0.2),
    "warmup_steps": (0.05, 0.05),
    "top_p": (0.9, 1.0),
    "top_k": (50, 0),
    "temperature": (0.9, 0.9),
    "num_generations": (4, 4),
    "max_completion_length": (1024, 1024),
    "save_steps": (10, 100),
    "bf16": (True, True),
    "gradient_checkpointing": (True, True),
    "learning_rate": (1e-6, 1e-6),
}


@pytest.mark.parametrize(
    "i, name", [(0, "remotereasoner_qwen25vl_7b"), (1, "remotezero_qwen3vl_8b")]
)
def test_paper_configs_pin_settings_into_grpoconfig(i, name, capsys):
    """The resolved GRPOConfig (built by TRL, `--print-config`) holds each pinned value."""
    from georeason.cli import main

    assert main(["train", "--config", f"configs/{name}.yaml", "--print-config"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    grpo = resolved["grpo_config"]
    for key, values in PINNED.items():
        expected = pytest.approx(values[i]) if isinstance(values[i], float) else values[i]
        assert grpo[key] == expected, key
    assert resolved["config"]["model"].startswith("Qwen/")
    if i == 0:
        assert resolved["config"]["format_convention"] == "ms-swift"


def test_remotereasoner_preset_and_system_prompt_reach_the_rollout_prompt(
    samples_dir, tiny_qwen25vl_dir
):
    """The paper config's prompt (image between instruction and query) and ms-swift's R1 system
    prompt, as TRL renders them (prepare_multimodal_messages + the chat template)."""
    from trl.data_utils import prepare_multimodal_messages

    from georeason.models.loading import load_processor
    from georeason.prompts import MS_SWIFT_R1_SYSTEM
    from georeason.training.config import DataConfig

    cfg = load_config(ROOT / "configs" / "remotereasoner_qwen25vl_7b.yaml")
    assert (cfg.prompt_template, cfg.system_prompt) == ("remotereasoner", "ms-swift-r1")
    ds = build_dataset(
        DataConfig(path="samples"), "resized_px", True, cfg.prompt_template, cfg.system_prompt
    )
    row = ds[0]
    messages = prepare_multimodal_messages(row["prompt"], images=[row["image"]])
    text = load_processor(tiny_qwen25vl_dir).apply_chat_template(
        messages, tokenize=False, add_generation_prompt=True
    )
    assert text.startswith(f"<|im_start|>system\n{MS_SWIFT_R1_SYSTEM}<|im_end|>")
    assert (
        "following input:\n<|vision_start|><|image_pad|><|vision_end|>\nText description: "
        + row["query"]
    ) in text
    assert text.count("<|image_pad|>") == 1
