"""GeoZero training: data formats and task routing, per-task answer rewards, the gated thinking
reward, A²GRPO's answer-token KL, SFT collation, and SFT -> A²GRPO runs of the tiny configs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from georeason import cli
from georeason.errors import UserInputError
from georeason.jsonl import read_jsonl
from georeason.rewards import FrameSpec
from georeason.rewards.geozero import (
    GeoZeroAnswerReward,
    ThinkingReward,
    answer_consistency_judge,
    answer_score,
    caption_bleu4,
)
from georeason.training.config import DataConfig, config_from_dict
from georeason.training.geozero_data import (
    read_geozero_train_records,
    target_in_model_frame,
)

ROOT = Path(__file__).resolve().parents[1]
TINY_SFT = ROOT / "configs" / "tiny_geozero_sft.yaml"
TINY_A2 = ROOT / "configs" / "tiny_geozero_a2grpo.yaml"
NORM1000 = FrameSpec("norm1000", factor=32)


def _write(path: Path, records: list) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    return path


# --- data -----------------------------------------------------------------------------------


def test_bundled_records_cover_all_four_tasks():
    records, root = read_geozero_train_records(DataConfig(path="geozero-samples"))
    assert {r.task for r in records} == {"scene_cls", "vqa", "caption", "grounding"}
    ground = next(r for r in records if r.task == "grounding")
    assert ground.label == "[133, 237, 684, 672]"
    assert ground.prompt[0]["role"] == "user" and "<image>" not in ground.prompt[0]["content"]
    assert all((root / r.images[0]).is_file() for r in records)


def test_ms_swift_and_conversation_formats_read_alike(tmp_path):
    swift = {
        "messages": [
            {"role": "system", "content": "Think first."},
            {"role": "user", "content": "<image>Is there a ship?"},
            {"role": "assistant", "content": "<think>a hull</think><answer>yes</answer>"},
        ],
        "images": ["a.png"],
        "solution": "<answer>Yes</answer>",
        "task_type": "VQA",
    }
    conv = {
        "conversations": [
            {"from": "human", "value": "<image>\nIs there a ship?"},
            {"from": "gpt", "value": "<answer>Yes</answer>"},
        ],
        "system": "Think first.",
        "images": ["a.png"],
    }
    path = _write(tmp_path / "d.jsonl", [swift, conv])
    a, b = read_geozero_train_records(DataConfig(path=str(path), task="qa"))[0]
    assert a.task == b.task == "vqa"  # alias "VQA" in the record, "qa" from data.task
    assert (
        a.prompt
        == b.prompt
        == (
            {"role": "system", "content": "Think first."},
            {"role": "user", "content": "Is there a ship?"},
        )
    )
    assert a.target == "<think>a hull</think><answer>yes</answer>"  # final assistant turn
    assert a.label == b.label == "Yes"  # the solution's answer block
    assert b.target == "<answer>Yes</answer>"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"images": ["a.png"], "solution": "x", "task_type": "vqa"}, "needs 'messages'"),
        (
            {"messages": [{"role": "user", "content": "q"}], "solution": "x", "task_type": "vqa"},
            "exactly one image",
        ),
        (
            {"messages": [{"role": "user", "content": "q"}], "images": ["a"], "task_type": "vqa"},
            "no answer",
        ),
        (
            {"messages": [{"role": "user", "content": "q"}], "images": ["a"], "solution": "x"},
            "task_type None",
        ),
        (
            {
                "messages": [{"role": "user", "content": "q"}],
                "images": ["a"],
                "solution": "x",
                "task_type": "counting",
            },
            "task_type 'counting'",
        ),
        (
            {
                "messages": [{"role": "user", "content": "q"}],
                "images": ["a"],
                "solution": "<answer>[1, 2, 3]</answer>",
                "task_type": "vg",
            },
            "one box",
        ),
    ],
)
def test_malformed_records_name_the_record(tmp_path, record, message):
    path = _write(tmp_path / "d.jsonl", [record])
    with pytest.raises(UserInputError, match=message) as info:
        read_geozero_train_records(DataConfig(path=str(path)))
    assert "record 0" in str(info.value)


def test_sft_grounding_target_moves_into_the_model_frame():
    # Qwen3-VL: 0..1000; 800 x 800 image: x * 1000 / 800, rounded.
    text = "<think>the fairway</think><answer>[133, 237, 684, 672]</answer>"
    assert target_in_model_frame(text, (800, 800), NORM1000) == (
        "<think>the fairway</think><answer>[166, 296, 855, 840]</answer>"
    )
    # Qwen2.5-VL, 50,176-pixel budget: 800 x 800 -> 224 x 224, scale 0.28.
    spec = FrameSpec("resized_px", max_pixels=50_176)
    assert target_in_model_frame("[133, 237, 684, 672]", (800, 800), spec) == (
        "<answer>[37, 66, 192, 188]</answer>"
    )
    assert target_in_model_frame("<answer>yes</answer>", (800, 800), spec) == "<answer>yes</answer>"


# --- answer rewards -----------------------------------------------------------------------------


def test_answer_score_per_task():
    assert answer_score("scene_cls", "<answer>Golf course.</answer>", "golf course") == 1.0
    assert answer_score("scene_cls", "<answer>golf</answer>", "golf course") == 0.0
    assert answer_score("vqa", "<think>x</think><answer>YES</answer>", "yes") == 1.0
    assert answer_score("vqa", "<answer>two ships</answer>", "two") == 1.0  # loose match
    assert answer_score("vqa", "<answer></answer><answer>  </answer>", "yes") == 0.0  # empty: 0
    assert answer_score("unknown", "<answer>yes</answer>", "yes") == 0.0
    # grounding: Qwen3-VL 0..1000 on an 800 x 800 image; exact box -> IoU 1
    exact = "<answer>[166.25, 296.25, 855, 840]</answer>"
    assert answer_score("grounding", exact, "[133, 237, 684, 672]", (), (800, 800), NORM1000) == (
        pytest.approx(1.0)
    )
    # half-width box: [133, 237, 408.5, 672] in pixels -> IoU 0.5 exactly
    half = "<answer>[166.25, 296.25, 510.625, 840]</answer>"
    iou = answer_score("grounding", half, "[133, 237, 684, 672]", (), (800, 800), NORM1000)
    assert iou == pytest.approx(0.5)
    assert (
        answer_score("grounding", half, "[133, 237, 684, 672]", (), (800, 800), NORM1000, "acc50")
        == 1.0
    )
    assert (
        answer_score("grounding", "no box", "[133, 237, 684, 672]", (), (800, 800), NORM1000) == 0
    )


def test_caption_bleu4_is_nltk_sentence_bleu_on_normalised_tokens():
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    refs = ["Many large vehicles are parked in rows.", "Rows of buses beside a road."]
    hyp = "many buses are parked in rows"
    expected = sentence_bleu(
        [r.lower().replace(".", "").split() for r in refs],
        hyp.split(),
        smoothing_function=SmoothingFunction().method1,
    )
    assert caption_bleu4(hyp, refs) == pytest.approx(expected)
    assert 0 < expected < 1
    assert caption_bleu4("Many large vehicles are parked in rows", refs) == pytest.approx(1.0)
    assert caption_bleu4("", refs) == 0.0 and caption_bleu4("a", [""]) == 0.0


def test_answer_reward_routes_by_task_and_logs_per_task():
    logged = {}
    reward = GeoZeroAnswerReward(NORM1000)
    values = reward(
        completions=[
            "<answer>forest</answer>",
            "<answer>no</answer>",
            "<answer>[0,0,1,1]</answer>",
        ],
        task_type=["scene_cls", "vqa", "grounding"],
        solution=["Forest", "yes", "[133, 237, 684, 672]"],
        refs=[["Forest"], ["yes"], ["x"]],
        image=[(800, 800)] * 3,
        log_metric=lambda k, v: logged.__setitem__(k, v),
    )
    assert values == [1.0, 0.0, 0.0]
    assert logged == {
        "answer_reward/scene_cls": 1.0,
        "answer_reward/vqa": 0.0,
        "answer_reward/grounding": 0.0,
    }


# --- thinking reward --------------------------------------------------------------------------


class RecordingJudge:
    def __init__(self, score: float) -> None:
        self.score, self.calls = score, []

    def __call__(self, images, questions, reasonings, answers):
        self.calls.append((list(questions), list(reasonings), list(answers)))
        return [self.score] * len(reasonings)


def _thinking_inputs():
    completions = [
        "<think>trees everywhere</think><answer>forest</answer>",  # right answer
        "<think>roofs</think><answer>residential area</answer>",  # wrong answer
        "<answer>forest</answer>",  # right answer, no reasoning
    ]
    prompt = [{"role": "user", "content": "Classify the scene."}]
    return completions, {
        "prompts": [prompt] * 3,
        "task_type": ["scene_cls"] * 3,
        "solution": ["forest"] * 3,
        "image": [(10, 10)] * 3,
    }


def test_hard_gate_calls_the_judge_only_for_right_answers_with_reasoning():
    judge = RecordingJudge(0.8)
    reward = ThinkingReward(GeoZeroAnswerReward(NORM1000), judge, gate="hard", threshold=0.5)
    completions, kw = _thinking_inputs()
    assert reward(completions=completions, **kw) == [pytest.approx(0.8), 0.0, 0.0]
    assert judge.calls == [(["Classify the scene."], ["trees everywhere"], ["forest"])]


def test_soft_gate_scales_by_the_answer_reward():
    reward = ThinkingReward(
        GeoZeroAnswerReward(NORM1000), RecordingJudge(0.5), gate="soft", threshold=0.5
    )
    completions = ["<think>half</think><answer>[166.25, 296.25, 510.625, 840]</answer>"]
    values = reward(
        completions=completions,
        prompts=[[{"role": "user", "content": "Find the golf field."}]],
        task_type=["grounding"],
        solution=["[133, 237, 684, 672]"],
        image=[(800, 800)],
    )
    assert values == [pytest.approx(0.5 * 0.5)]  # IoU 0.5 x judge 0.5


def test_answer_consistency_judge():
    assert answer_consistency_judge(
        [None] * 3,
        ["q"] * 3,
        ["The canopy is dense: a forest.", "Roofs and roads.", ""],
        ["Forest", "forest", "forest"],
    ) == [1.0, 0.0, 0.0]


# --- A²GRPO: answer-token KL --------------------------------------------------------------------


def test_answer_token_mask_starts_at_the_answer_tag(tiny_qwen25vl_dir):
    from georeason.models.loading import load_processor
    from georeason.training.a2grpo import answer_start_index

    tok = load_processor(tiny_qwen25vl_dir).tokenizer
    text = "<think>a wide lawn</think><answer>golf course</answer>"
    ids = tok(text)["input_ids"]
    start = answer_start_index(ids, tok)
    pos = text.find("<answer>")
    # the first answer token is the one whose text overlaps the tag (here "><" is one token)
    assert len(tok.decode(ids[:start])) <= pos < len(tok.decode(ids[: start + 1]))
    assert "<answer>" in tok.decode(ids[start:]) and "answer" not in tok.decode(ids[:start])
    assert answer_start_index(tok("no tags at all")["input_ids"], tok) == 0


def test_kl_and_its_gradient_ignore_thinking_tokens():
    """Perturbing the policy/reference log-probs of thinking tokens leaves the answer-only KL
    term (value and gradient) unchanged; on answer tokens it changes it."""
    import torch

    from georeason.training.a2grpo import answer_only_reference_logps, per_token_kl

    g = torch.Generator().manual_seed(0)
    logps = -torch.rand(2, 6, generator=g) * 3
    ref = -torch.rand(2, 6, generator=g) * 3
    answer = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 0]])
    real = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0]])

    def kl_term(p, r):
        p = p.clone().requires_grad_(True)
        kl = (per_token_kl(answer_only_reference_logps(r, p, answer), p) * real).sum()
        kl.backward()
        return kl.item(), p.grad

    base, grad = kl_term(logps, ref)
    think = (answer == 0) & (real == 1)
    noise = torch.randn(2, 6, generator=g)
    moved, moved_grad = kl_term(
        torch.where(think, logps + noise, logps), torch.where(think, ref - noise, ref)
    )
    assert moved == pytest.approx(base) and torch.allclose(moved_grad, grad)
    assert torch.all(grad[think] == 0) and torch.any(grad[answer.bool()] != 0)
    on_answer, _ = kl_term(logps, torch.where(answer.bool(), ref - 1, ref))
    assert not math.isclose(on_answer, base)


def _a2grpo_trainer(tiny_dir, tmp_path, kl_tokens):
    from georeason.training.config import read_yaml_with_overrides
    from georeason.training.trainer import build_trainer

    raw = read_yaml_with_overrides(
        TINY_A2,
        [
            f"model={tiny_dir}",
            f"output_dir={tmp_path}",
            "a2grpo.judge=answer_consistency",
            f"a2grpo.kl_tokens={kl_tokens}",
        ],
    )
    return build_trainer(config_from_dict(raw))


def test_trainer_loss_ignores_thinking_token_divergence(tiny_qwen25vl_dir, tmp_path):
    """A2GRPOTrainer's own loss (TRL's _compute_loss, zero advantages: loss = beta x KL) does not
    change when the reference differs on thinking tokens only; TRL's plain GRPO loss does."""
    import torch

    from georeason.training.a2grpo import answer_token_mask

    losses = {}
    for kl_tokens in ("answer", "all"):
        trainer = _a2grpo_trainer(tiny_qwen25vl_dir, tmp_path / kl_tokens, kl_tokens)
        trainer.current_gradient_accumulation_steps = 1  # set by the training loop otherwise
        tok = trainer.processing_class.tokenizer
        prompt = tok(["Classify the scene."], return_tensors="pt")
        completion = tok(
            ["<think>dense canopy</think><answer>forest</answer>"], return_tensors="pt"
        )
        ids, mask = completion["input_ids"], completion["attention_mask"]
        answer = answer_token_mask(ids, mask, tok)
        assert 0 < answer.sum() < mask.sum()
        with torch.no_grad():
            logps, _, _ = trainer._get_per_token_logps_and_entropies(
                trainer.model,
                torch.cat([prompt["input_ids"], ids], 1),
                torch.cat([prompt["attention_mask"], mask], 1),
                ids.size(1),
            )
        inputs = {
            "prompt_ids": prompt["input_ids"],
            "prompt_mask": prompt["attention_mask"],
            "completion_ids": ids,
            "completion_mask": mask,
            "advantages": torch.zeros(1),
            "num_items_in_batch": mask.sum(),
            "answer_token_mask": answer,
        }
        think = (answer == 0) & (mask == 1)
        for name, ref in {
            "same": logps - 0.3,
            "thinking_moved": torch.where(think, logps - 2.0, logps - 0.3),
        }.items():
            losses[kl_tokens, name] = trainer._compute_loss(
                trainer.model, {**inputs, "ref_per_token_logps": ref}
            ).item()
        logged = trainer._metrics["train"]["kl_answer"]  # logged separately in A²GRPO only
        assert bool(logged) == (kl_tokens == "answer")
    assert losses["answer", "same"] > 0
    assert losses["answer", "thinking_moved"] == pytest.approx(losses["answer", "same"], rel=1e-6)
    assert losses["all", "thinking_moved"] > losses["all", "same"] * 1.5


# --- SFT collation and end-to-end runs ----------------------------------------------------------


def test_sft_batches_hold_images_and_mask_the_prompt(tiny_qwen25vl_dir, tmp_path):
    from georeason.training.config import read_yaml_with_overrides
    from georeason.training.trainer import build_trainer

    raw = read_yaml_with_overrides(
        TINY_SFT, [f"model={tiny_qwen25vl_dir}", f"output_dir={tmp_path}"]
    )
    trainer = build_trainer(config_from_dict(raw))
    ground = next(r for r in trainer.train_dataset if r["task_type"] == "grounding")
    assert ground["completion"][0]["content"] == "<answer>[37, 66, 192, 188]</answer>"
    batch = trainer.data_collator([trainer.train_dataset[0]])
    assert batch["pixel_values"].shape[0] > 0 and "image_grid_thw" in batch
    labels = batch["labels"][0]
    kept = labels[labels != -100]
    text = trainer.processing_class.tokenizer.decode(kept)
    assert text.startswith("<answer>[37, 66, 192, 188]</answer>")  # the answer only, model frame
    first_label = int((labels != -100).nonzero()[0])
    assert first_label > int((batch["input_ids"][0] == trainer.model.config.image_token_id).sum())


@pytest.mark.slow
def test_tiny_sft_then_a2grpo_runs_and_logs_each_part(tiny_qwen25vl_dir, tmp_path):
    sft, rl = tmp_path / "sft", tmp_path / "a2grpo"
    common = ["--model", str(tiny_qwen25vl_dir), "--max-steps", "2"]
    assert cli.main(["train", "--config", str(TINY_SFT), "--output-dir", str(sft), *common]) == 0
    assert (sft / "adapter_config.json").is_file() and (sft / "checkpoint-2").is_dir()
    assert [r["step"] for r in read_jsonl(sft / "train_log.jsonl") if "loss" in r] == [1, 2]
    args = ["train", "--config", str(TINY_A2), "--output-dir", str(rl), *common]
    assert cli.main([*args, "--set", f"init_adapter={sft}"]) == 0
    log = [r for r in read_jsonl(rl / "train_log.jsonl") if "reward" in r]
    assert [r["step"] for r in log] == [1, 2]
    for key in (
        "rewards/answer_reward/mean",
        "rewards/thinking_reward/mean",
        "rewards/ms_swift_format_reward/mean",
        "kl_answer",
        "answer_token_share",
        "thinking_reward/gate_open",
    ):
        assert key in log[0], key
    assert any(k.startswith("answer_reward/") for k in log[0])
    rollouts = read_jsonl(rl / "rollouts" / "rank0.jsonl")
    assert {r["reward"] for r in rollouts} == {
        "answer_reward",
        "ms_swift_format_reward",
        "thinking_reward",
    }
    assert all(np.isfinite(v) for r in rollouts for v in r["values"])


# --- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"mode": "geozero_sft", "grpo": {"max_steps": 1}}, "under 'sft'"),
        ({"mode": "geozero_sft", "reward_weights": {"answer": 1}}, "takes no rewards"),
        ({"mode": "remotezero", "sft": {"max_steps": 1}}, "belong to mode geozero_sft"),
        ({"mode": "geozero_a2grpo", "reward_weights": {"iou": 1}}, "iou belongs to remotereasoner"),
        ({"mode": "geozero_a2grpo", "a2grpo": {"judge": "oracle"}}, "a2grpo.judge must be"),
        ({"mode": "geozero_a2grpo", "a2grpo": {"judge": "http", "judge_model": "m"}}, "judge_url"),
        ({"mode": "geozero_a2grpo", "a2grpo": {"kl_token": "answer"}}, "did you mean kl_tokens"),
    ],
)
def test_invalid_geozero_configs(raw, message):
    with pytest.raises(UserInputError, match=message):
        config_from_dict({"model": "m", "output_dir": "o", **raw})


def test_geozero_defaults_and_print_config(capsys):
    cfg = config_from_dict({"mode": "geozero_a2grpo", "model": "m", "output_dir": "o"})
    assert cfg.format_convention == "ms-swift"
    assert cfg.reward_weights == {"answer": 1.0, "format": 1.0, "thinking": 0.5}
    assert cli.main(["train", "--config", str(TINY_SFT), "--max-steps", "7", "--print-config"]) == 0
    resolved = json.loads(capsys.readouterr().out)
    sft = resolved["sft_config"]
    assert (sft["max_steps"], sft["max_length"], sft["completion_only_loss"]) == (7, None, True)
    assert sft["remove_unused_columns"] is False


def test_initial_policy_judge_scores_the_full_image_with_the_judge_question(tiny_qwen25vl_dir):
    from PIL import Image

    from georeason.rewards.geozero import thinking_judge_text
    from georeason.training.config import config_from_dict
    from georeason.training.trainer import build_thinking_judge

    cfg = config_from_dict(
        {
            "mode": "geozero_a2grpo",
            "model": str(tiny_qwen25vl_dir),
            "output_dir": "o",
            "dtype": "float32",
            "grpo": {"use_cpu": True},
        }
    )
    judge = build_thinking_judge(cfg, str(tiny_qwen25vl_dir))
    text = thinking_judge_text("Classify the scene.", "dense canopy", "forest")
    prompt = judge.verifier.prompt_text(text)
    assert text in prompt and "Does this" not in prompt  # the judge question, not RemoteZero's
    image = Image.new("RGB", (64, 48), (30, 120, 40))
    scores = judge(
        [image, image], ["Classify the scene."] * 2, ["dense canopy"] * 2, ["forest"] * 2
    )
    assert len(scores) == 2 and all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] == pytest.approx(scores[1])  # same input, same score (no sampling)
