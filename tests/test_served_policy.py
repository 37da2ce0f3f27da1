"""The policy behind an OpenAI-compatible server: a real ``transformers serve`` on loopback with
the tiny random-weight checkpoints gives the in-process policy's greedy text and boxes, through
``locate``, ``eval`` and the web app's backend."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from georeason.errors import GeoreasonError, UserInputError
from georeason.serving.openai_chat import openai_content
from georeason.serving.policy_client import MODEL_FAMILIES, ServedPolicy, model_family_of


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("Qwen/Qwen2.5-VL-7B-Instruct", "qwen2_5_vl"),
        ("qwen2_5_vl-remotezero-round3", "qwen2_5_vl"),
        ("Qwen/Qwen3-VL-8B-Instruct", "qwen3_vl"),
        ("GeoZero-Qwen3_VL-8B", "qwen3_vl"),
    ],
)
def test_model_family_from_the_served_name(name, family):
    assert model_family_of(name) == family


def test_model_family_is_never_guessed():
    with pytest.raises(UserInputError, match="pass --model-family"):
        model_family_of("/models/my-finetune")
    with pytest.raises(UserInputError, match="--model-family must be one of"):
        model_family_of("x", "llava")
    assert model_family_of("/models/my-finetune", "qwen3_vl") == "qwen3_vl"


def test_openai_content_replaces_image_parts_in_order():
    msgs = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "a"},
                {"type": "image"},
                {"type": "text", "text": "b"},
                {"type": "image"},
            ],
        }
    ]
    out = openai_content(msgs, ["data:1", "data:2"])
    assert out[0]["content"] == [
        {"type": "text", "text": "a"},
        {"type": "image_url", "image_url": {"url": "data:1"}},
        {"type": "text", "text": "b"},
        {"type": "image_url", "image_url": {"url": "data:2"}},
    ]
    assert msgs[0]["content"][1] == {"type": "image"}  # the input is not modified
    with pytest.raises(ValueError, match="more image parts"):
        openai_content(msgs, ["data:1"])
    with pytest.raises(ValueError, match="3 image"):
        openai_content(msgs, ["d"] * 3)


@pytest.mark.parametrize("family", sorted(MODEL_FAMILIES))
def test_sent_image_is_a_fixed_point_of_the_processor_resize(family, samples_dir):
    """The image sent is already at its smart_resize size, so the server's resize keeps it."""
    from georeason.io import read_image

    policy = ServedPolicy("http://127.0.0.1:9/v1", "m", model_family=family)
    image = read_image(samples_dir / "images/isaid_P0004.png")  # 824 x 1464, not aligned
    pil, original, sent = policy.model_input(image)
    factor = MODEL_FAMILIES[family][1]
    assert original == (1464, 824) and (pil.height, pil.width) == sent
    assert sent[0] % factor == 0 and sent[1] % factor == 0
    assert policy.frame_spec.model_input_hw(sent) == sent  # idempotent: the server keeps it
    assert sent[0] * sent[1] <= 802_816


def test_server_down_is_one_line(samples_dir, capsys):
    from _servers import free_port

    from georeason.cli import main

    url = f"http://127.0.0.1:{free_port()}/v1"
    rc = main(
        [
            "locate",
            str(samples_dir / "images/dior_00001.jpg"),
            "a golf field",
            "--policy-url",
            url,
            "--policy-model",
            "Qwen/Qwen2.5-VL-7B-Instruct",
            "--out",
            "/nonexistent/x",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert f"policy server {url} unreachable" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--policy-model", "Qwen2.5-VL"], "--policy-model and --model-family go with"),
        (["--policy-url", "http://x/v1"], "--policy-url needs --policy-model"),
        (
            ["--policy-url", "http://x/v1", "--policy-model", "Qwen2.5-VL", "--samples", "4"],
            "--samples with --policy-url needs --verifier",
        ),
        (
            ["--policy-url", "http://x/v1", "--policy-model", "Qwen2.5-VL", "--concurrency", "0"],
            "--concurrency must be at least 1",
        ),
    ],
)
def test_served_policy_argument_errors(samples_dir, capsys, extra, message, tmp_path):
    from georeason.cli import main

    src = ["--boxes", "[[0,0,5,5]]"] if "--policy-url" not in extra else []
    rc = main(
        [
            "locate",
            str(samples_dir / "images/dior_00001.jpg"),
            "q",
            "--out",
            str(tmp_path),
            *src,
            *extra,
        ]
    )
    assert rc == 2 and message in capsys.readouterr().err


@pytest.fixture(scope="module")
def served_url_for():
    """``arch -> base URL`` of the server for that tiny checkpoint: one real ``transformers
    serve`` on loopback for both (it loads the model a request names), or the servers named by
    ``GEOREASON_SERVED_URL_QWEN2_5_VL`` / ``GEOREASON_SERVED_URL_QWEN3_VL`` (one vLLM server per
    model, started by ``scripts/vllm_check.sh``)."""
    urls = {a: os.environ.get(f"GEOREASON_SERVED_URL_{a.upper()}") for a in MODEL_FAMILIES}
    proc = None
    if not all(urls.values()):
        from _servers import free_port, start_transformers_serve

        port = free_port()
        proc = start_transformers_serve(port)
        urls = {a: f"http://127.0.0.1:{port}/v1" for a in MODEL_FAMILIES}
    yield urls.__getitem__
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def served_url(served_url_for):
    """The server of the tiny Qwen2.5-VL checkpoint."""
    return served_url_for("qwen2_5_vl")


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["qwen2_5_vl", "qwen3_vl"])
def test_served_greedy_equals_in_process(
    served_url_for, arch, tiny_qwen25vl_dir, tiny_qwen3vl_dir, samples_dir
):
    """Same tiny checkpoint, same images: the served policy gives the in-process greedy text
    and boxes, for both answer frames."""
    from georeason.io import read_image
    from georeason.models.policy import Policy

    model_dir = str(tiny_qwen25vl_dir if arch == "qwen2_5_vl" else tiny_qwen3vl_dir)
    images = [
        read_image(samples_dir / "images/isaid_P0004.png"),
        read_image(samples_dir / "images/neon_OSBS_029.tif"),
        read_image(samples_dir / "images/dota_P1888.png"),
    ]
    queries = ["the small vehicles", "the tree crowns", "the buses"]
    local = Policy.from_pretrained(model_dir).locate(images, queries, max_new_tokens=48)
    url = served_url_for(arch)
    served = ServedPolicy(url, model_dir, model_family=arch, concurrency=3).locate(
        images, queries, max_new_tokens=48
    )
    for a, b in zip(local, served, strict=True):
        assert b.text == a.text
        assert b.model_input_hw == a.model_input_hw and b.frame == a.frame
        np.testing.assert_array_equal(b.boxes_xyxy_px, a.boxes_xyxy_px)
    assert any(loc.text for loc in served)


@pytest.mark.slow
def test_eval_and_locate_through_policy_url(served_url, tiny_qwen25vl_dir, tmp_path, samples_dir):
    """``eval --policy-url`` scores exactly as ``eval --model``; ``locate --policy-url`` writes
    the in-process result."""
    from georeason.cli import main

    common = [
        "eval",
        "--dataset",
        "jsonl",
        "--task",
        "region",
        "--max-new-tokens",
        "40",
        "--limit",
        "4",
        "--no-progress",
    ]
    served = [
        "--policy-url",
        served_url,
        "--policy-model",
        str(tiny_qwen25vl_dir),
        "--model-family",
        "qwen2_5_vl",
    ]
    assert main([*common, "--model", str(tiny_qwen25vl_dir), "--out", str(tmp_path / "a")]) == 0
    assert main([*common, *served, "--out", str(tmp_path / "b")]) == 0
    metrics = [json.loads((tmp_path / d / "metrics.json").read_text()) for d in "ab"]
    assert metrics[0] == metrics[1]
    rows = [
        [json.loads(line) for line in (tmp_path / d / "results.jsonl").read_text().splitlines()]
        for d in "ab"
    ]
    for r_local, r_served in zip(*rows, strict=True):
        assert (r_local["id"], r_local["text"], r_local["pred_boxes_xyxy_px"]) == (
            r_served["id"],
            r_served["text"],
            r_served["pred_boxes_xyxy_px"],
        )
    run = json.loads((tmp_path / "b" / "run.json").read_text())
    assert "@ " + served_url in json.dumps(run)

    image = str(samples_dir / "images/dior_00001.jpg")
    assert (
        main(
            [
                "locate",
                image,
                "a golf field",
                "--model",
                str(tiny_qwen25vl_dir),
                "--max-new-tokens",
                "40",
                "--out",
                str(tmp_path / "la"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "locate",
                image,
                "a golf field",
                *served,
                "--max-new-tokens",
                "40",
                "--out",
                str(tmp_path / "lb"),
            ]
        )
        == 0
    )
    la, lb = (json.loads((tmp_path / d / "result.json").read_text()) for d in ("la", "lb"))
    assert lb["raw_text"] == la["raw_text"] and lb["boxes_xyxy_px"] == la["boxes_xyxy_px"]
    assert lb["weights"] == "served" and lb["model"].endswith("@ " + served_url)


@pytest.mark.slow
def test_app_backend_with_a_served_policy(served_url, tiny_qwen25vl_dir, samples_dir):
    from georeason.app.backend import AppBackend
    from georeason.models.segmenters import build_segmenter

    policy = ServedPolicy(served_url, str(tiny_qwen25vl_dir), model_family="qwen2_5_vl")
    backend = AppBackend(policy, build_segmenter("default"), locate_options={"max_new_tokens": 24})
    res = backend.run(str(samples_dir / "images/neon_OSBS_029.tif"), "the trees", "contour")
    assert res.files["result.geojson"].is_file() and res.georeferenced
    with pytest.raises(GeoreasonError, match="type a query"):
        backend.run(str(samples_dir / "images/neon_OSBS_029.tif"), "", "contour")


@pytest.mark.slow
@pytest.mark.parametrize("task", ["scene_cls", "caption"])
def test_geozero_tasks_through_policy_url(
    served_url_for, task, tiny_qwen3vl_dir, tmp_path, samples_dir
):
    """GeoZero's free-text tasks through ``--policy-url`` give the in-process answers: greedy
    (scene_cls) and 5-beam search (caption; ``transformers serve`` refuses vLLM's extra
    fields with HTTP 422, so the client falls back to its ``generation_config`` field)."""
    from georeason.cli import main

    data = [
        {
            "conversations": [
                {"from": "human", "value": f"<image>{q}"},
                {"from": "gpt", "value": "golf course"},
            ],
            "images": [image],
        }
        for q, image in [
            ("What scene is this?", "images/dior_00001.jpg"),
            ("Describe the image.", "images/dota_P1888.png"),
        ]
    ]
    (tmp_path / "g.json").write_text(json.dumps(data))
    common = ["eval", "--dataset", "geozero", "--geozero-task", task, "--data"]
    common += [str(tmp_path / "g.json"), "--root", str(samples_dir), "--max-new-tokens", "12"]
    common += ["--no-progress"]
    served = ["--policy-url", served_url_for("qwen3_vl"), "--policy-model"]
    served += [str(tiny_qwen3vl_dir), "--model-family", "qwen3_vl", "--concurrency", "1"]
    assert main([*common, "--model", str(tiny_qwen3vl_dir), "--out", str(tmp_path / "a")]) == 0
    assert main([*common, *served, "--out", str(tmp_path / "b")]) == 0
    rows = [
        [json.loads(x) for x in (tmp_path / d / "predictions.jsonl").read_text().splitlines()]
        for d in "ab"
    ]
    assert [r["raw_output"] for r in rows[1]] == [r["raw_output"] for r in rows[0]]
    assert any(r["raw_output"] for r in rows[0])
    metrics = [json.loads((tmp_path / d / "metrics.json").read_text()) for d in "ab"]
    assert {k: v for k, v in metrics[0].items() if isinstance(v, float)} == {
        k: v for k, v in metrics[1].items() if isinstance(v, float)
    }
    if task == "caption":  # the beam search went through the generation_config fallback
        from georeason.io import read_image

        policy = ServedPolicy(served_url_for("qwen3_vl"), str(tiny_qwen3vl_dir), "qwen3_vl")
        chat = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi"}]}]
        image = read_image(samples_dir / "images/dota_P1888.png")
        assert not policy._generation_config_field
        (text,) = policy.generate_chat([chat], [[image]], num_beams=2, max_new_tokens=4)
        assert isinstance(text, str) and policy._generation_config_field


def test_served_pixel_budget_follows_the_processor_rule():
    """A ``max_pixels`` under the family's default minimum lowers the minimum (as the
    processors do); an explicit minimum above the maximum is one clear error."""
    url = "http://127.0.0.1:9/v1"  # never contacted
    spec = ServedPolicy(url, "m", model_family="qwen3_vl", max_pixels=50_000).frame_spec
    assert (spec.min_pixels, spec.max_pixels, spec.factor) == (50_000, 50_000, 32)
    spec = ServedPolicy(url, "m", model_family="qwen2_5_vl").frame_spec
    assert (spec.min_pixels, spec.max_pixels) == (56 * 56, 802_816)
    with pytest.raises(UserInputError, match="min_pixels 90000 > max_pixels 50000"):
        ServedPolicy(url, "m", model_family="qwen3_vl", max_pixels=50_000, min_pixels=90_000)


# --- self-evolution rounds evaluated through a server ---------------------------------------


def _result_texts(eval_dir) -> list[tuple[str, str]]:
    """``(id, completion)`` of an evaluation folder's results, sorted. transformers serve drops
    the leading space of a completion whose first token starts with one (" dam" -> "dam" on the
    random model); the rest is the same text, so leading spaces are not compared."""
    rows = [json.loads(x) for x in (eval_dir / "results.jsonl").read_text().splitlines()]
    return sorted((r["id"], r["text"].lstrip(" ")) for r in rows)


def _train_raw(model, **extra) -> dict:
    return {"mode": "remotezero", "model": str(model), "output_dir": "unused", **extra}


@pytest.fixture(scope="module")
def round_adapters(tiny_qwen25vl_dir, tmp_path_factory):
    """Two copies of one round folder holding a random (non-identity) LoRA adapter."""
    import shutil

    import torch
    from peft import LoraConfig, get_peft_model

    from georeason.models.loading import load_model_and_processor

    run = tmp_path_factory.mktemp("evolve_run")
    model = load_model_and_processor(tiny_qwen25vl_dir, device="cpu").model
    torch.manual_seed(2)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    get_peft_model(model, cfg).save_pretrained(str(run / "round_1"))
    shutil.copytree(run / "round_1", run / "round_1_served")
    return run / "round_1", run / "round_1_served"


@pytest.mark.slow
def test_served_round_eval_equals_in_process(
    served_url, tiny_qwen25vl_dir, round_adapters, tmp_path
):
    """evolve's per-round evaluation through ``transformers serve``: the round's LoRA is merged
    into ``ROUND/merged``, which the server loads by path; the served answers equal in-process
    greedy decoding of that merged model, and the metrics equal the in-process round eval."""
    if os.environ.get("GEOREASON_SERVED_URL_QWEN2_5_VL"):
        pytest.skip("a vLLM server serves one model and cannot load a folder by path")
    from georeason.data import SAMPLES_DIR
    from georeason.eval.datasets import build_dataset
    from georeason.eval.runner import PolicyPredictor, evaluate
    from georeason.models.policy import Policy
    from georeason.training.config import config_from_dict
    from georeason.training.round_probe import EvalSettings, evaluate_round

    cfg = config_from_dict(_train_raw(tiny_qwen25vl_dir, max_pixels=65536))
    local_dir, served_dir = round_adapters
    common = {"limit": 3, "max_new_tokens": 24, "batch_size": 3}
    local = evaluate_round(cfg, local_dir, EvalSettings(**common))
    served = evaluate_round(
        cfg, served_dir, EvalSettings(**common, policy_url=served_url, concurrency=2)
    )
    assert served == local and served["n_samples"] == 3
    merged = served_dir.resolve() / "merged"
    assert (merged / "config.json").is_file() and not (served_dir / "merged.partial").exists()
    run = json.loads((served_dir / "eval" / "run.json").read_text())
    assert f"{merged} @ {served_url}" in json.dumps(run)

    policy = Policy.from_pretrained(str(merged), max_pixels=65536, device="cpu")
    dataset = build_dataset("jsonl", str(SAMPLES_DIR), "test")
    predictor = PolicyPredictor(policy, None, 24, 3)
    evaluate(
        dataset,
        predictor,
        "region",
        tmp_path / "merged_eval",
        batch_size=3,
        limit=3,
        progress=False,
    )

    served_texts = _result_texts(served_dir / "eval")
    assert served_texts == _result_texts(tmp_path / "merged_eval")
    assert any(t for _, t in served_texts)


@pytest.mark.slow
def test_served_round_eval_lora_mode_errors(served_url, tiny_qwen25vl_dir, round_adapters):
    """``served_model: lora`` needs vLLM's runtime LoRA API: transformers serve has none (one
    clear error naming the fix); adapters trained on merged weights are refused up front."""
    from georeason.serving.openai_chat import ServerResponseError
    from georeason.training.config import config_from_dict
    from georeason.training.round_probe import EvalSettings, served_round_policy

    cfg = config_from_dict(_train_raw(tiny_qwen25vl_dir))
    settings = EvalSettings(policy_url=served_url, served_model="lora")
    if not os.environ.get("GEOREASON_SERVED_URL_QWEN2_5_VL"):  # vLLM check: it does load them
        with pytest.raises(ServerResponseError, match="VLLM_ALLOW_RUNTIME_LORA_UPDATING"):
            served_round_policy(cfg, round_adapters[0], settings)
    merged_base = round_adapters[0].parent / "round_0" / "merged"
    cfg_merged = config_from_dict(_train_raw(merged_base))
    with pytest.raises(UserInputError, match="trained on merged weights"):
        served_round_policy(cfg_merged, round_adapters[0], settings)


@pytest.mark.slow
def test_served_round_eval_lora_on_vllm(tiny_qwen25vl_dir, round_adapters, tmp_path):
    """``served_model: lora`` on vLLM (``scripts/vllm_check.sh`` starts the Qwen2.5-VL server
    with ``--enable-lora``): the adapter registered at run time evaluates as in-process."""
    import shutil

    from georeason.training.config import config_from_dict
    from georeason.training.round_probe import EvalSettings, evaluate_round

    url = os.environ.get("GEOREASON_SERVED_URL_QWEN2_5_VL")
    if not url:
        pytest.skip("needs vllm serve --enable-lora (scripts/vllm_check.sh on a GPU machine)")
    cfg = config_from_dict(_train_raw(tiny_qwen25vl_dir, max_pixels=65536))
    local_dir = tmp_path / "run" / "round_1"
    served_dir = tmp_path / "run_lora" / "round_1"
    shutil.copytree(round_adapters[0], local_dir, ignore=shutil.ignore_patterns("eval"))
    shutil.copytree(round_adapters[0], served_dir, ignore=shutil.ignore_patterns("eval"))
    common = {"limit": 3, "max_new_tokens": 24, "batch_size": 3}
    local = evaluate_round(cfg, local_dir, EvalSettings(**common))
    settings = EvalSettings(**common, policy_url=url, served_model="lora", concurrency=2)
    assert evaluate_round(cfg, served_dir, settings) == local

    assert _result_texts(served_dir / "eval") == _result_texts(local_dir / "eval")


def test_eval_settings_reject_bad_served_options():
    from georeason.training.round_probe import EvalSettings

    with pytest.raises(UserInputError, match="path or lora"):
        EvalSettings(served_model="vllm")
    with pytest.raises(UserInputError, match="at least 1"):
        EvalSettings(concurrency=0)
