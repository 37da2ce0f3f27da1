"""Toy world: determinism, placement rules, tight boxes, query wordings, splits, writer, CLI."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
from PIL import Image

from georeason.errors import UserInputError
from georeason.masks import mask_to_box
from georeason_toyworld import queries as Q
from georeason_toyworld.cli import main
from georeason_toyworld.scenes import (
    CATEGORIES,
    LANDCOVER_CODES,
    MIN_OBJECT_SIDE_FRAC,
    PALETTES,
    POOL_MAX_GAP_FRAC,
    POOL_MIN_GAP_FRAC,
    generate_scene,
)
from georeason_toyworld.splits import (
    ANNOTATION_KEYS,
    MAX_SCENES_PER_SEED,
    build_split,
    scene_seed,
    write_split,
)

SIZE = 112
# one scene per (seed, required category): every category is the target 8 times
SCENE_ARGS = [(seed, CATEGORIES[seed % len(CATEGORIES)]) for seed in range(64)]


@pytest.fixture(scope="module")
def scenes():
    return [generate_scene(seed, SIZE, required=(cat,)) for seed, cat in SCENE_ARGS]


@pytest.fixture(scope="module")
def hard_scenes():
    return [
        generate_scene(1000 + seed, SIZE, required=(cat,), same_category_distractors=True)
        for seed, cat in SCENE_ARGS
    ]


def _ring(mask: np.ndarray, inner: int, outer: int) -> np.ndarray:
    def dil(r):
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        return cv2.dilate(mask.astype(np.uint8), k).astype(bool)

    return dil(outer) & ~(dil(inner) if inner else mask)


# ------------------------------------------------------------------------------- scenes


def test_same_seed_same_bytes_and_objects():
    a = generate_scene(123, SIZE, required=("boat",))
    b = generate_scene(123, SIZE, required=("boat",))
    assert a.image.dtype == np.uint8 and a.image.shape == (SIZE, SIZE, 3)
    assert a.image.tobytes() == b.image.tobytes()
    assert a.objects == b.objects
    assert np.array_equal(a.instance_map, b.instance_map)
    assert np.array_equal(a.landcover, b.landcover)


def test_different_seeds_differ(scenes):
    images = {s.image.tobytes() for s in scenes}
    assert len(images) == len(scenes)
    layouts = {tuple((o.category, o.bbox_xyxy_px) for o in s.objects) for s in scenes}
    assert len(layouts) == len(scenes)


def test_size_scales_with_size_px():
    big = generate_scene(7, 224, required=("tree",))
    assert big.image.shape == (224, 224, 3)
    assert all(
        max(o.bbox_xyxy_px[2] - o.bbox_xyxy_px[0], o.bbox_xyxy_px[3] - o.bbox_xyxy_px[1])
        >= MIN_OBJECT_SIDE_FRAC * 224
        for o in big.objects
    )


def test_required_category_present_exactly_once(scenes):
    for (seed, cat), scene in zip(SCENE_ARGS, scenes, strict=True):
        counts = {c: len(scene.indices_of(c)) for c in CATEGORIES}
        assert counts[cat] == 1, (seed, cat)
        assert max(counts.values()) == 1, (seed, counts)  # default: no same-category distractor
        assert len(scene.objects) >= 2, seed  # the target never stands alone


def test_boats_inside_water(scenes):
    n = 0
    water_code = LANDCOVER_CODES["water"]
    for scene in scenes:
        water = scene.landcover == water_code
        for i in scene.indices_of("boat"):
            n += 1
            assert scene.water_side is not None
            # the boat and a one-pixel ring around it lie on water
            assert water[_ring(scene.mask(i), 0, 1) | scene.mask(i)].all(), scene.seed
        for i, o in enumerate(scene.objects):
            if o.category != "boat":
                assert not (water & scene.mask(i)).any(), (scene.seed, o.category)
    assert n >= 8


def test_cars_on_roads(scenes):
    n = 0
    for scene in scenes:
        for i in scene.indices_of("car"):
            n += 1
            (r,) = scene.indices_of("road")
            road_area = scene.mask(r) | scene.mask(i)
            # the car plus a one-pixel ring around it lie on the road band
            assert road_area[_ring(scene.mask(i), 0, 1)].all(), scene.seed
    assert n >= 8


def test_pools_near_buildings(scenes):
    n = 0
    for scene in scenes:
        for i in scene.indices_of("pool"):
            n += 1
            buildings = np.zeros((SIZE, SIZE), bool)
            for b in scene.indices_of("building"):
                buildings |= scene.mask(b)
            assert buildings.any(), scene.seed
            dist = cv2.distanceTransform((~buildings).astype(np.uint8), cv2.DIST_L2, 5)
            gap = float(dist[scene.mask(i)].min())
            # POOL_MIN_GAP..POOL_MAX_GAP of the side, with 1 px for rasterisation and blur
            assert POOL_MIN_GAP_FRAC * SIZE - 1.5 <= gap <= POOL_MAX_GAP_FRAC * SIZE + 1.5, (
                scene.seed,
                gap,
            )
    assert n >= 8


def test_boxes_tight_around_visible_pixels(scenes, hard_scenes):
    for scene in scenes + hard_scenes:
        assert scene.instance_map.max() == len(scene.objects)
        for i, o in enumerate(scene.objects):
            mask = scene.mask(i)
            assert mask_to_box(mask) == list(o.bbox_xyxy_px), (scene.seed, o.category)
            x1, y1, x2, y2 = o.bbox_xyxy_px
            assert 0 <= x1 < x2 <= SIZE and 0 <= y1 < y2 <= SIZE
            assert max(x2 - x1, y2 - y1) >= MIN_OBJECT_SIDE_FRAC * SIZE, (scene.seed, o)
            assert o.colour_name in PALETTES[o.category]
    for scene in scenes:  # one instance per category: the category mask gives the same box
        for o in scene.objects:
            assert mask_to_box(scene.category_mask(o.category)) == list(o.bbox_xyxy_px)


def test_mask_pixels_carry_the_object_colour(scenes):
    """The instance mask marks where the object's colour is drawn, not its surroundings."""
    for scene in scenes:
        img = scene.image.astype(np.int32)
        for i, o in enumerate(scene.objects):
            near = np.abs(img - np.array(o.rgb)).max(axis=2) <= 30
            inside = near[scene.mask(i)].mean()
            outside = near[_ring(scene.mask(i), 1, 3)].mean()
            assert inside >= 0.3, (scene.seed, o.category, inside)
            assert inside - outside >= 0.25, (scene.seed, o.category, inside, outside)


def test_generate_scene_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown categories"):
        generate_scene(0, required=("lighthouse",))
    with pytest.raises(ValueError, match="non-negative"):
        generate_scene(-1)
    with pytest.raises(ValueError, match="at least 64"):
        generate_scene(0, 32)
    with pytest.raises(ValueError, match="num_categories"):
        generate_scene(0, num_categories=(4, 2))


# ------------------------------------------------------------------------------- queries


def test_heldout_wordings_never_in_train_wordings():
    for cat in CATEGORIES:
        train, held = Q.IMPLICIT_QUERIES[cat]["train"], Q.IMPLICIT_QUERIES[cat]["heldout"]
        assert len(train) >= 3 and len(held) >= 2
        assert len(set(train)) == len(train) and len(set(held)) == len(held)
        all_train = {q for c in CATEGORIES for q in Q.IMPLICIT_QUERIES[c]["train"]}
        assert not set(held) & all_train, cat
    assert not set(Q.PLAIN_TEMPLATES["train"]) & set(Q.PLAIN_TEMPLATES["heldout"])


def test_forbidden_pattern_catches_category_words():
    pattern = Q.forbidden_words_pattern()
    for text in (
        "the pools here",
        "A Swimming  Pool",
        "where are the vehicles?",
        "a tank",
        "two BOATS",
        "playing fields",
    ):
        assert pattern.search(text), text
    for text in ("carries passengers", "a fieldwork trip", "swim a lap", "tankard of ale"):
        assert not pattern.search(text), text


def test_implicit_queries_name_no_category():
    pattern = Q.forbidden_words_pattern()
    for cat in CATEGORIES:
        for wordings in Q.WORDINGS:
            for text in Q.IMPLICIT_QUERIES[cat][wordings]:
                assert not pattern.search(text), (cat, text, pattern.search(text))


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def test_neutral_queries_share_no_content_word_with_any_wording():
    implicit = set().union(
        *(_words(q) for c in CATEGORIES for ws in Q.IMPLICIT_QUERIES[c].values() for q in ws)
    )
    plain = set().union(*(_words(t) for ts in Q.PLAIN_TEMPLATES.values() for t in ts))
    plain |= set().union(*(_words(p) for p in Q.POSITION_PHRASES.values()))
    plain |= set().union(*(_words(w) for c in CATEGORIES for w in PALETTES[c]))
    plain |= {"small", "large", "narrow", "wide"}
    slot_words = set().union(*(_words(" ".join(ws)) for ws in Q.NEUTRAL_WORDS.values()))
    assert not slot_words & (implicit | plain), slot_words & (implicit | plain)
    pattern = Q.forbidden_words_pattern()
    rng = np.random.default_rng(0)
    queries = [Q.neutral_query(rng) for _ in range(500)]
    frame_words = set().union(*(_words(re.sub(r"{\w+}", " ", f)) for f in Q.NEUTRAL_FRAMES))
    for q in queries:
        assert "{" not in q and q[0].isupper(), q
        assert not pattern.search(q), q
        assert _words(q) <= slot_words | frame_words, q
    assert len(set(queries)) > 300
    assert Q.neutral_query(np.random.default_rng(7)) == Q.neutral_query(np.random.default_rng(7))


def test_strip_position_phrases_leaves_no_position_word():
    rng = np.random.default_rng(0)
    for cat in CATEGORIES:
        for _ in range(20):
            colour = next(iter(PALETTES[cat]))
            q, _ = Q.plain_query(cat, colour, "large", "top left", rng)
            out = Q.strip_position_phrases(q)
            assert not any(p in out for p in Q.POSITION_PHRASES.values()), out
            assert out == q.replace(" in the top-left corner", ""), (q, out)
            assert any(noun in out for noun in Q.NOUNS[cat]), out


def test_make_sample_exactly_one_target(scenes):
    rng = np.random.default_rng(0)
    for (_, cat), scene in zip(SCENE_ARGS, scenes, strict=True):
        for kind in Q.KINDS:
            s = Q.make_sample(scene, rng, kind, "train", category=cat)
            assert s["target_category"] == cat
            assert [o.category for o in scene.objects].count(cat) == 1
            t = scene.objects[s["target_index"]]
            assert t.category == cat
            assert s["target_box_xyxy_px"] == list(t.bbox_xyxy_px)
            if kind == "plain":
                assert any(n in s["query"] for n in Q.NOUNS[cat])
            else:
                assert s["query"] in Q.IMPLICIT_QUERIES[cat]["train"]
        # category None picks one of the scene's own categories
        s = Q.make_sample(scene, rng, "implicit", "heldout")
        assert s["query"] in Q.IMPLICIT_QUERIES[s["target_category"]]["heldout"]
        assert scene.indices_of(s["target_category"])


def test_plain_query_uses_target_attributes():
    rng = np.random.default_rng(3)
    texts = {Q.plain_query("pool", "turquoise", "large", "top left", rng)[0] for _ in range(60)}
    assert "the turquoise swimming pool" in texts or "the turquoise pool" in texts
    assert any("in the top-left corner" in t for t in texts)
    assert all(t.startswith(("the ", "find ", "locate ")) for t in texts)
    roads = {Q.plain_query("road", "grey", "small", "centre", rng)[0] for _ in range(60)}
    assert any("narrow" in t for t in roads) and not any("small" in t for t in roads)


def test_same_category_distractors_are_disambiguated_by_colour(hard_scenes):
    rng = np.random.default_rng(1)
    n_ambiguous = 0
    for scene in hard_scenes:
        for cat in {o.category for o in scene.objects}:
            idx = scene.indices_of(cat)
            if len(idx) < 2:
                continue
            n_ambiguous += 1
            colours = [scene.objects[i].colour_name for i in idx]
            assert len(set(colours)) == len(colours)
            for kind in Q.KINDS:
                s = Q.make_sample(scene, rng, kind, "train", category=cat)
                target = scene.objects[s["target_index"]]
                assert target.colour_name in s["query"]
                others = [scene.objects[i].colour_name for i in idx if i != s["target_index"]]
                assert not any(
                    f" {c} " in f" {s['query']} " for c in others if c not in target.colour_name
                )
    assert n_ambiguous >= 5


def test_make_sample_errors(scenes):
    scene = scenes[0]
    rng = np.random.default_rng(0)
    missing = next(c for c in CATEGORIES if not scene.indices_of(c))
    with pytest.raises(ValueError, match="has no"):
        Q.make_sample(scene, rng, "plain", "train", category=missing)
    with pytest.raises(ValueError, match="kind"):
        Q.make_sample(scene, rng, "riddle", "train")
    with pytest.raises(ValueError, match="wordings"):
        Q.make_sample(scene, rng, "plain", "test")


# ------------------------------------------------------------------------------- splits


def test_scene_seeds_of_splits_never_overlap():
    seeds = {
        name: {scene_seed(name, s, i) for s in range(4) for i in range(2000)}
        for name in ("pretrain", "rl", "eval")
    }
    assert all(len(v) == 4 * 2000 for v in seeds.values())  # injective within a split
    assert not seeds["pretrain"] & seeds["rl"]
    assert not seeds["pretrain"] & seeds["eval"]
    assert not seeds["rl"] & seeds["eval"]
    # exact values of the documented formula
    assert scene_seed("pretrain", 0, 0) == 0
    assert scene_seed("eval", 2, 5) == 3 * (2 * MAX_SCENES_PER_SEED + 5) + 2
    # the last index of seed s and the first of seed s+1 stay distinct
    assert scene_seed("rl", 0, MAX_SCENES_PER_SEED - 1) < scene_seed("rl", 1, 0)
    with pytest.raises(UserInputError):
        scene_seed("rl", 0, MAX_SCENES_PER_SEED)
    with pytest.raises(UserInputError):
        scene_seed("test", 0, 0)
    with pytest.raises(UserInputError):
        scene_seed("eval", -1, 0)


def test_split_records_disjoint_and_deterministic():
    pre = build_split("pretrain", 8, 0)
    again = build_split("pretrain", 8, 0)
    ev = build_split("eval", 8, 0)
    ev1 = build_split("eval", 8, 1)
    for a, b in zip(pre, again, strict=True):
        assert np.array_equal(np.asarray(a["image"]), np.asarray(b["image"]))
        assert {k: v for k, v in a.items() if k != "image"} == {
            k: v for k, v in b.items() if k != "image"
        }
    images = [np.asarray(r["image"]).tobytes() for r in pre + ev + ev1]
    assert len(set(images)) == len(images)
    ids = [r["id"] for r in pre + ev + ev1]
    assert len(set(ids)) == len(ids)
    assert {r["scene_seed"] % 3 for r in pre} == {0} and {r["scene_seed"] % 3 for r in ev} == {2}


def test_split_categories_balanced_and_one_target():
    recs = build_split("eval", 16, 4)
    cats = [r["target_category"] for r in recs]
    assert sorted(cats) == sorted(CATEGORIES * 2)
    for r in recs:
        scene = generate_scene(r["scene_seed"], SIZE, required=(r["target_category"],))
        (i,) = scene.indices_of(r["target_category"])  # exactly one instance
        assert r["boxes_xyxy_px"] == [list(scene.objects[i].bbox_xyxy_px)]
        assert np.array_equal(np.asarray(r["image"]), scene.image)


def test_split_query_kinds_and_wordings():
    pre, rl, ev = build_split("pretrain", 8, 2), build_split("rl", 8, 2), build_split("eval", 8, 2)
    held = {q for c in CATEGORIES for q in Q.IMPLICIT_QUERIES[c]["heldout"]}
    train = {q for c in CATEGORIES for q in Q.IMPLICIT_QUERIES[c]["train"]}
    assert all(r["kind"] == "plain" and r["wordings"] == "train" for r in pre)
    assert all(r["implicit_query"] in train for r in pre)
    assert all(r["query"] in train for r in rl)
    assert all(r["query"] in held for r in ev)
    for r in pre:
        cats = [o["category"] for o in r["objects"]]
        assert cats.count(r["target_category"]) == 1
        (obj,) = [o for o in r["objects"] if o["category"] == r["target_category"]]
        assert r["boxes_xyxy_px"] == [obj["box_xyxy_px"]]
    plain_ev = build_split("eval", 8, 2, kind="plain")
    assert all(r["kind"] == "plain" and r["wordings"] == "heldout" for r in plain_ev)


def test_rl_records_carry_no_box():
    rl = build_split("rl", 8, 0)
    for r in rl:
        assert set(r) == {
            "id",
            "split",
            "image",
            "query",
            "kind",
            "wordings",
            "layout",
            "grid_cells",
        }
        assert not set(r) & set(ANNOTATION_KEYS)
        assert isinstance(r["image"], Image.Image) and r["image"].size == (SIZE, SIZE)


def test_split_without_position_phrases_keeps_scenes_and_targets():
    kw = {"size_px": 96, "layout": "grid", "grid_cells": 3}
    for name, kind in (("pretrain", "plain"), ("eval", "plain"), ("eval", "implicit")):
        full = build_split(name, 40, 3, kind=kind, **kw)
        bare = build_split(name, 40, 3, kind=kind, position_phrases=False, **kw)
        assert [r["boxes_xyxy_px"] for r in full] == [r["boxes_xyxy_px"] for r in bare]
        assert [r["image"].tobytes() for r in full] == [r["image"].tobytes() for r in bare]
        for f, b in zip(full, bare, strict=True):
            assert b["query"] == Q.strip_position_phrases(f["query"])
            for key in ("query", "plain_query"):
                if key in b:
                    assert not any(p in b[key] for p in Q.POSITION_PHRASES.values()), b[key]
        changed = sum(f["query"] != b["query"] for f, b in zip(full, bare, strict=True))
        assert (changed > 5) if kind == "plain" else (changed == 0), (name, kind, changed)


def test_build_split_rejects_bad_arguments():
    with pytest.raises(UserInputError, match="unknown split"):
        build_split("test", 2, 0)
    with pytest.raises(UserInputError, match="n must be"):
        build_split("eval", -1, 0)
    with pytest.raises(UserInputError, match="kind"):
        build_split("eval", 1, 0, kind="riddle")
    assert build_split("eval", 0, 0) == []


# ------------------------------------------------------------------------------- writer, CLI


def test_writer_round_trips_through_rs_samples_loaders(tmp_path):
    from georeason.eval.datasets import build_dataset
    from georeason.training.config import DataConfig
    from georeason.training.data import build_rows, read_records

    recs = build_split("eval", 6, 9)
    path = write_split(recs, tmp_path / "ev", manifest={"split": "eval", "seed": 9})
    assert path == tmp_path / "ev" / "queries.jsonl"
    assert json.loads((tmp_path / "ev" / "manifest.json").read_text())["seed"] == 9
    dataset = build_dataset("jsonl", tmp_path / "ev")
    samples = list(dataset)
    assert [s.id for s in samples] == [r["id"] for r in recs]
    for s, r in zip(samples, recs, strict=True):
        assert s.query == r["query"]
        assert s.boxes_xyxy_px.tolist() == r["boxes_xyxy_px"]
        assert s.label == r["target_category"]
        assert np.array_equal(
            np.asarray(Image.open(s.image_path).convert("RGB")), np.asarray(r["image"])
        )
    line = json.loads(path.read_text().splitlines()[0])
    assert line["gt_mask"] is None and line["image"] == f"images/{recs[0]['id']}.png"

    rl_path = write_split(build_split("rl", 4, 9), tmp_path / "rl")
    for text in rl_path.read_text().splitlines():
        assert not set(json.loads(text)) & set(ANNOTATION_KEYS)
    records, root = read_records(DataConfig(path=str(rl_path)))
    rows = build_rows(records, root, "resized_px", need_boxes=False)
    assert [r["boxes_xyxy_px"] for r in rows] == [[]] * 4
    with pytest.raises(UserInputError):
        build_rows(records, root, "resized_px", need_boxes=True)

    with pytest.raises(UserInputError, match="exists"):
        write_split(recs, tmp_path / "ev")
    write_split(recs[:2], tmp_path / "ev", overwrite=True)
    assert len(path.read_text().splitlines()) == 2


def test_writer_rejects_bad_records(tmp_path):
    with pytest.raises(UserInputError, match="needs 'id'"):
        write_split([{"query": "q"}], tmp_path / "a")
    img = Image.new("RGB", (4, 4))
    with pytest.raises(UserInputError, match="duplicate or unsafe"):
        write_split([{"id": "x", "image": img}, {"id": "x", "image": img}], tmp_path / "b")
    with pytest.raises(UserInputError, match="unsafe"):
        write_split([{"id": "../x", "image": img}], tmp_path / "c")
    with pytest.raises(UserInputError, match="not found"):
        write_split([{"id": "x", "image": str(tmp_path / "missing.png")}], tmp_path / "d")
    img.save(tmp_path / "src.PNG")
    path = write_split([{"id": "p", "image": tmp_path / "src.PNG", "query": "q"}], tmp_path / "e")
    line = json.loads(path.read_text())
    assert line == {"id": "p", "image": "images/p.png", "query": "q"}
    assert (tmp_path / "e" / "images" / "p.png").read_bytes() == (tmp_path / "src.PNG").read_bytes()


def test_cli_generate(tmp_path, capsys):
    out = tmp_path / "pre"
    argv = [
        "generate",
        "--out",
        str(out),
        "--split",
        "pretrain",
        "--n",
        "3",
        "--seed",
        "5",
        "--size",
        "96",
    ]
    assert main(argv) == 0
    lines = [json.loads(x) for x in (out / "queries.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == [f"pretrain-s5-{i:06d}" for i in range(3)]
    assert Image.open(out / lines[0]["image"]).size == (96, 96)
    assert json.loads((out / "manifest.json").read_text())["kind"] == "plain"
    assert main(argv) == 2  # exists, no --overwrite
    assert "exists" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    assert (
        main(
            [
                "generate",
                "--out",
                str(tmp_path / "x"),
                "--split",
                "eval",
                "--n",
                "1",
                "--seed",
                "-3",
            ]
        )
        == 2
    )
