"""``georeason evolve``: RemoteZero rounds (self-evolution and distillation) on the tiny models.

The random policy is steered to two answers (a small box, the full image) so that crops are
really verified; the tests check which verifier scored each round, the shared-base verifier's
equality with a separately loaded one, manifests, resume after a kill, and the report's numbers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from georeason import cli
from georeason.errors import UserInputError
from georeason.jsonl import read_jsonl
from georeason.training.evolve import (
    evolve_config_from_dict,
    load_evolve_config,
    read_manifest,
    reward_summary,
    round_config,
)
from georeason.training.evolve_report import area_hack_warning, verifier_agreement

ROOT = Path(__file__).resolve().parents[1]
TINY_EVOLVE = ROOT / "configs" / "tiny_evolve.yaml"
ANSWER_BOX = "<think>ok</think><answer>[[100,100,300,300]]</answer>"
ANSWER_FULL = "<think>ok</think><answer>[[0,0,1000,1000]]</answer>"
QUERY = "a golf course"


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    env.pop("GEOREASON_DEBUG", None)
    return env


def _bias_override(model_dir: Path) -> str:
    from georeason.models.loading import load_processor
    from georeason.training.scripted import scripted_answer_bias

    bias = scripted_answer_bias(load_processor(model_dir).tokenizer, [ANSWER_BOX, ANSWER_FULL])
    return f"grpo.generation_kwargs={json.dumps({'sequence_bias': bias})}"


def _common(out: Path, model: Path) -> list[str]:
    """Two rounds of two steps; a high learning rate so that round 0's adapter measurably
    changes the verifier of round 1; 4 records keep the data small."""
    return [
        f"output_dir={out}",
        f"model={model}",
        _bias_override(model),
        "grpo.max_completion_length=40",
        "grpo.learning_rate=0.05",
        "data.max_samples=4",
        "evolve.eval=null",
    ]


# --- the shared-base verifier -------------------------------------------------------------------


@pytest.fixture(scope="module")
def random_adapter(tiny_qwen3vl_dir, tmp_path_factory):
    """A saved LoRA adapter with random (non-zero) A and B: a 'previous round' that changes
    the model's outputs."""
    import torch
    from peft import LoraConfig, get_peft_model

    from georeason.models.loading import load_model_and_processor

    folder = tmp_path_factory.mktemp("prev_adapter")
    model = load_model_and_processor(tiny_qwen3vl_dir, device="cpu").model
    torch.manual_seed(1)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(model, cfg).save_pretrained(str(folder))
    return folder


def _crops(samples_dir):
    from PIL import Image

    image = Image.open(samples_dir / "images" / "dior_00001.jpg").convert("RGB")
    return [image.crop((133, 237, 684, 672)), image, image.crop((0, 0, 120, 400))]


def test_shared_base_verifier_equals_separately_loaded_verifier(
    tiny_qwen3vl_dir, random_adapter, samples_dir
):
    import torch
    from peft import LoraConfig

    from georeason.models.loading import load_model_and_processor, load_processor
    from georeason.models.verifier import LocalVerifier
    from georeason.training.shared_verifier import (
        SharedBaseVerifier,
        add_verifier_adapter,
        wrap_policy,
    )

    crops, queries = _crops(samples_dir), [QUERY, QUERY, "a road"]
    base = load_model_and_processor(tiny_qwen3vl_dir, device="cpu").model
    torch.manual_seed(2)  # the policy's own adapter differs from the verifier's
    lora = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    policy = wrap_policy(base, lora)
    add_verifier_adapter(policy, random_adapter)
    trainable_before = {n for n, p in policy.named_parameters() if p.requires_grad}
    modes_before = [m.training for m in policy.modules()]
    assert policy.training
    assert trainable_before and all(".default." in n for n in trainable_before)

    # as accelerate does under mixed precision: the trainer's forward runs under bf16 autocast
    patched = torch.autocast("cpu", dtype=torch.bfloat16)(policy.forward)
    policy.forward = patched
    shared = SharedBaseVerifier(policy, load_processor(tiny_qwen3vl_dir), max_pixels=65536)
    disabled = SharedBaseVerifier(
        policy, load_processor(tiny_qwen3vl_dir), adapter_name=None, max_pixels=65536
    )
    got, got_base = shared.score(crops, queries), disabled.score(crops, queries)

    # the state the trainer relies on is restored: active adapter, grads, train mode
    assert policy.active_adapter == "default" and policy.training
    assert [m.training for m in policy.modules()] == modes_before
    assert {n for n, p in policy.named_parameters() if p.requires_grad} == trainable_before
    assert all(p.grad is None for p in policy.parameters())
    assert policy.__dict__["forward"] is patched

    separate = LocalVerifier.from_pretrained(
        tiny_qwen3vl_dir, adapter=random_adapter, device="cpu", max_pixels=65536
    )
    plain = LocalVerifier.from_pretrained(tiny_qwen3vl_dir, device="cpu", max_pixels=65536)
    assert got == pytest.approx(separate.score(crops, queries), abs=1e-5)
    assert got_base == pytest.approx(plain.score(crops, queries), abs=1e-5)
    # the three weight sets really differ (the test would catch a switch that does nothing)
    policy.eval()
    own = LocalVerifier(policy, load_processor(tiny_qwen3vl_dir), max_pixels=65536)
    own_scores = own.score(crops, queries)
    assert max(abs(a - b) for a, b in zip(got, got_base, strict=True)) > 1e-3
    assert max(abs(a - b) for a, b in zip(got, own_scores, strict=True)) > 1e-3

    with pytest.raises(ValueError, match="not loaded"):
        SharedBaseVerifier(policy, load_processor(tiny_qwen3vl_dir), adapter_name="nope")


# --- configuration ------------------------------------------------------------------------------


def _raw(**evolve):
    return {
        "mode": "remotezero",
        "model": "base",
        "output_dir": "/runs/x",
        "verifier": {"kind": "initial_policy"},
        "evolve": evolve,
    }


def test_round_configs_of_self_evolution_and_distillation():
    cfg = evolve_config_from_dict(_raw())
    r0, v0 = round_config(cfg, 0)
    assert r0.output_dir == "/runs/x/round-00" and r0.init_adapter is None
    assert (r0.verifier.kind, r0.verifier.adapter, v0["source"]) == (
        "shared_base",
        None,
        "initial_policy",
    )
    r1, v1 = round_config(cfg, 1)
    assert (r1.model, r1.init_adapter) == ("base", "/runs/x/round-00")
    assert (r1.verifier.kind, r1.verifier.adapter) == ("shared_base", "/runs/x/round-00")
    assert v1["source"] == "round-00" and v1["shared"]
    r2, _ = round_config(cfg, 2)
    assert r2.init_adapter == r2.verifier.adapter == "/runs/x/round-01"

    raw = _raw()
    raw["verifier"] = {"kind": "local", "model": "big"}  # distillation
    dist = evolve_config_from_dict(raw)
    d0, i0 = round_config(dist, 0)
    assert (d0.verifier.kind, d0.verifier.model, i0["source"]) == ("local", "big", "external")
    d1, i1 = round_config(dist, 1)
    assert (d1.verifier.kind, d1.verifier.model, d1.verifier.adapter) == (
        "shared_base",
        None,
        "/runs/x/round-00",
    )
    assert i1["model"] == "base"

    b1, _ = round_config(evolve_config_from_dict(_raw(policy_init="base")), 1)
    assert (b1.model, b1.init_adapter, b1.verifier.adapter) == ("base", None, "/runs/x/round-00")
    m1, mi = round_config(evolve_config_from_dict(_raw(carry="merge")), 1)
    assert (m1.model, m1.init_adapter, m1.merge_final) == ("/runs/x/round-00/merged", None, True)
    assert (m1.verifier.kind, m1.verifier.adapter, mi["model"]) == (
        "shared_base",
        None,
        "/runs/x/round-00/merged",
    )
    s1, si = round_config(evolve_config_from_dict(_raw(shared_verifier=False)), 1)
    assert (s1.verifier.kind, s1.verifier.model, s1.verifier.adapter) == (
        "local",
        "base",
        "/runs/x/round-00",
    )
    assert not si["shared"]

    sft = _raw()
    sft["init_adapter"] = "/sft"  # the policy starts from an adapter: so does its verifier copy
    f0, fi = round_config(evolve_config_from_dict(sft), 0)
    assert (f0.init_adapter, f0.verifier.kind, f0.verifier.adapter) == (
        "/sft",
        "shared_base",
        "/sft",
    )
    assert fi["source"] == "initial_policy"
    g0, _ = round_config(evolve_config_from_dict({**sft, "evolve": {"shared_verifier": False}}), 0)
    assert (g0.verifier.kind, g0.verifier.model, g0.verifier.adapter) == ("local", "base", "/sft")
    h1, _ = round_config(evolve_config_from_dict({**sft, "evolve": {"policy_init": "base"}}), 1)
    assert (h1.init_adapter, h1.verifier.adapter) == ("/sft", "/runs/x/round-00")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_raw(rounds=0), "rounds"),
        (_raw(policy_init="last"), "policy_init"),
        (_raw(carry="copy"), "carry"),
        (_raw(round=2), "unknown key"),
        (_raw(eval={"datset": "jsonl"}), "unknown key"),
        ({**_raw(), "mode": "remotereasoner", "verifier": {}}, "remotezero"),
    ],
)
def test_invalid_evolve_configs_are_rejected(raw, message):
    with pytest.raises(UserInputError, match=message):
        evolve_config_from_dict(raw)


def test_paper_evolve_config_pins_the_published_settings():
    cfg = load_evolve_config(ROOT / "configs" / "remotezero_evolve_qwen3vl_8b.yaml")
    t, g = cfg.train, cfg.train.grpo_kwargs()
    assert t.model == "Qwen/Qwen3-VL-8B-Instruct" and t.max_pixels == 802_816
    assert (g["num_train_epochs"], g["per_device_train_batch_size"]) == (10, 6)
    assert (g["gradient_accumulation_steps"], g["num_generations"], g["temperature"]) == (8, 4, 0.9)
    assert g["bf16"] is True and t.dtype == "bfloat16"
    assert t.verifier.kind == "http" and t.verifier.margin_ratio == 0.15
    assert cfg.evolve.shared_verifier and cfg.evolve.policy_init == "previous"
    tiny = load_evolve_config(TINY_EVOLVE)
    assert tiny.evolve.rounds == 2 and tiny.train.grpo["max_steps"] == 2


# --- report numbers -----------------------------------------------------------------------------


def test_verifier_agreement_exact_values():
    a = verifier_agreement([0.9, 0.2, 0.6, 0.1], [0.7, 0.4, 0.4, 0.3])
    assert a["n"] == 4 and a["decision_agreement"] == 0.75
    assert a["mean_abs_diff"] == pytest.approx(0.2)
    assert a["pearson_r"] == pytest.approx(0.17 / (0.41 * 0.09) ** 0.5)  # by hand
    assert verifier_agreement([0.5, 0.5], [0.1, 0.9])["pearson_r"] is None  # constant side
    assert verifier_agreement([], [])["decision_agreement"] is None
    with pytest.raises(ValueError):
        verifier_agreement([0.1], [0.1, 0.2])


def test_area_hack_warning_flags_rising_area_with_flat_accuracy():
    def m(area, acc=None):
        return {"reward_summary": {"box_area_ratio_mean": area}, "eval": {"box_Acc@0.5": acc}}

    assert "rose +100%" in area_hack_warning([m(0.2, 50.0), m(0.4, 50.5)])
    assert area_hack_warning([m(0.2, 50.0), m(0.4, 55.0)]) is None  # accuracy follows
    assert area_hack_warning([m(0.2, 50.0), m(0.22, 50.0)]) is None  # +10%: below 25%
    assert "no accuracy" in area_hack_warning([m(0.2), m(0.3)])
    assert area_hack_warning([m(0.2)]) is None


def test_reward_summary_keeps_the_last_record_of_a_step(tmp_path):
    log = tmp_path / "train_log.jsonl"
    rows = [
        {"step": 1, "reward": 0.1, "box_area_ratio": 0.5},
        {"step": 2, "reward": 0.9},  # killed, logged again after the resume
        {"step": 2, "reward": 0.3, "box_area_ratio": 0.7},
        {"step": 2, "train_runtime": 3.0},
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = reward_summary(log)
    assert s["steps"] == 2
    assert (s["reward_first"], s["reward_last"]) == (0.1, 0.3)
    assert s["reward_mean"] == pytest.approx(0.2)
    assert s["box_area_ratio_mean"] == pytest.approx(0.6)
    assert s["verifier_confidence_mean"] is None


# --- runs ---------------------------------------------------------------------------------------


def _scored(round_dir: Path) -> list[dict]:
    return [
        r
        for r in read_jsonl(round_dir / "rollouts" / "rank0.jsonl")
        if r["reward"] == "verification_reward"
    ]


def _reference_scores(verifier, ids: list[str]) -> dict[str, tuple[float, float]]:
    """(box crop, full image) confidences per record id, as the reward computes them."""
    from georeason.data import SAMPLES_DIR, sample_records
    from georeason.io import read_image
    from georeason.rewards import crop_for_verifier

    records = {r["id"]: r for r in sample_records()}
    out = {}
    for rid in ids:
        image = read_image(SAMPLES_DIR / records[rid]["image"]).pil()
        w, h = image.size
        box = crop_for_verifier(image, [0.1 * w, 0.1 * h, 0.3 * w, 0.3 * h], 0.15)
        q = records[rid]["query"]
        out[rid] = tuple(verifier.score([box, image], [q, q]))
    return out


def _assert_rewards_from(round_dir: Path, verifier) -> None:
    """Every verification reward of the round is ``verifier``'s confidence on the box crop, or
    on the full image minus the 0.7 area penalty."""
    rollouts = _scored(round_dir)
    assert rollouts
    ids = sorted({r["ids"][0] for r in rollouts})
    ref = _reference_scores(verifier, ids)
    for rec in rollouts:
        conf_box, conf_full = ref[rec["ids"][0]]
        for value in rec["values"]:
            ok = value == pytest.approx(conf_box, abs=1e-4) or value == pytest.approx(
                conf_full - 0.7, abs=1e-4
            )
            assert ok, (value, conf_box, conf_full)


def _safetensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


@pytest.mark.slow
def test_distillation_then_self_evolution_two_rounds(tiny_qwen3vl_dir, tmp_path):
    import torch

    from georeason.models.tiny import make_tiny
    from georeason.models.verifier import LocalVerifier
    from georeason.training.evolve import evolve

    external = make_tiny(tmp_path / "external", arch="qwen3_vl", seed=1)
    out = tmp_path / "run"
    cfg = load_evolve_config(
        TINY_EVOLVE,
        [
            *_common(out, tiny_qwen3vl_dir),
            "verifier.kind=local",
            f"verifier.model={external}",
            "evolve.eval={dataset: jsonl, limit: 2, max_new_tokens: 8, batch_size: 2}",
        ],
    )
    result = evolve(cfg, rounds=2)
    m0, m1 = (r.manifest for r in result.rounds)
    assert [m0["status"], m1["status"]] == ["finished", "finished"]
    assert m0["verifier"]["source"] == "external" and m0["verifier"]["model"] == str(external)
    assert m1["verifier"]["source"] == "round-00" and m1["verifier"]["shared"]
    assert m1["policy"]["init_adapter"] == str(out / "round-00")
    assert m0["global_step"] == m1["global_step"] == 2 and m0["resumed_from"] is None
    assert m0["data_sha256"] == m1["data_sha256"] and m0["config_sha256"] != m1["config_sha256"]
    assert m0["started_at"] <= m0["ended_at"] <= m1["started_at"] <= m1["ended_at"]
    assert m0["reward_summary"]["steps"] == 2 and m0["reward_summary"]["box_area_ratio_mean"] > 0
    assert set(m1["eval"]) == {"dataset", "n_samples", "box_Acc@0.5", "box_gIoU"}
    assert m1["eval"]["n_samples"] == 2 and 0.0 <= m1["eval"]["box_Acc@0.5"] <= 100.0

    # round 0 was scored by the external model, round 1 by round 0's policy (base + adapter)
    ext = LocalVerifier.from_pretrained(external, device="cpu", max_pixels=65536)
    _assert_rewards_from(out / "round-00", ext)
    prev = LocalVerifier.from_pretrained(
        tiny_qwen3vl_dir, adapter=out / "round-00", device="cpu", max_pixels=65536
    )
    _assert_rewards_from(out / "round-01", prev)
    base = LocalVerifier.from_pretrained(tiny_qwen3vl_dir, device="cpu", max_pixels=65536)
    ids = sorted({r["ids"][0] for r in _scored(out / "round-01")})
    diffs = [
        abs(a - b)
        for rid, pair in _reference_scores(prev, ids).items()
        for a, b in zip(pair, _reference_scores(base, [rid])[rid], strict=True)
    ]
    assert max(diffs) > 1e-3  # round 0's adapter really changed the verifier

    # the verifier adapter stayed frozen through round 1; the policy adapter kept training
    w0 = _safetensors(out / "round-00" / "adapter_model.safetensors")
    wv = _safetensors(out / "round-01" / "verifier" / "adapter_model.safetensors")
    w1 = _safetensors(out / "round-01" / "adapter_model.safetensors")
    assert w0.keys() == wv.keys() == w1.keys()
    assert all(torch.equal(w0[k], wv[k]) for k in w0)
    assert any(not torch.equal(w0[k], w1[k]) for k in w0)

    # the probe agreement and the report
    assert len(m0["verifier_probe"]) == len(m1["verifier_probe"]) == 10
    report = (out / "evolve_report.md").read_text()
    assert (out / "reward_curves.png").stat().st_size > 1000
    assert (out / "box_area_ratio.png").stat().st_size > 1000
    assert "| 0 | external (local:" in report and "| 1 | round-00 | yes | 2 |" in report
    agreement = verifier_agreement(m1["verifier_probe"], m0["verifier_probe"])
    assert f"{agreement['decision_agreement']:.0%} same decision" in report

    # a finished round is never overwritten: a changed config is refused
    changed = load_evolve_config(
        TINY_EVOLVE, [*_common(out, tiny_qwen3vl_dir), "verifier.margin_ratio=0.3"]
    )
    with pytest.raises(UserInputError, match="never overwritten"):
        evolve(changed, rounds=2)


@pytest.mark.slow
def test_self_evolution_killed_in_round_two_resumes_there(tiny_qwen3vl_dir, tmp_path):
    out = tmp_path / "run"
    args = ["evolve", "--config", str(TINY_EVOLVE), "--rounds", "2"]
    for item in _common(out, tiny_qwen3vl_dir):
        args += ["--set", item]
    proc = subprocess.Popen(
        [sys.executable, "-m", "georeason.cli", *args],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    marker = out / "round-01" / "checkpoint-1" / "trainer_state.json"
    deadline = time.monotonic() + 240
    while not marker.is_file():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    progress = proc.stderr.read().decode()
    assert "[evolve] round 1/2 step 2/2 reward=" in progress
    assert "[evolve] round 2/2: verifier = round-00 (shared_base, shared base)" in progress
    assert "[evolve] round 2/2 step 1/2 reward=" in progress
    assert read_manifest(out / "round-00")["status"] == "finished"
    assert read_manifest(out / "round-01")["status"] == "started"
    round0 = {
        p.name: p.read_bytes()
        for p in (out / "round-00").iterdir()
        if p.name in ("manifest.json", "train_log.jsonl", "adapter_model.safetensors")
    }
    assert len(round0) == 3

    assert cli.main(args) == 0
    assert {n: (out / "round-00" / n).read_bytes() for n in round0} == round0  # untouched
    m1 = read_manifest(out / "round-01")
    assert m1["status"] == "finished" and m1["global_step"] == 2
    assert m1["verifier"]["source"] == "round-00" and len(m1["resumed_at"]) == 1
    assert Path(m1["resumed_from"]).name in ("checkpoint-1", "checkpoint-2")
    steps = [r["step"] for r in _scored(out / "round-01")]
    assert steps[0] == 1 and steps[-1] == 2  # step 2 ran after the resume
    assert (out / "evolve_report.md").is_file()
