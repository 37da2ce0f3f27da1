"""Toy world: procedural top-down scenes, referring and reasoning queries, seeded splits.

A CPU-scale test bed for annotation-free GRPO (RemoteZero): small (112 px by default) scenes with
a few visually distinct object categories placed plausibly (pools near buildings, boats on water,
cars on roads), plain referring expressions ("the blue pool") and implicit reasoning queries that
name no category ("where could the residents cool off on a hot day?"), and pretrain / rl / eval
splits derived from ``(split name, seed)`` so they never overlap. See :mod:`.scenes`,
:mod:`.queries` and :mod:`.splits`.
"""

from __future__ import annotations

from georeason_toyworld.queries import (
    IMPLICIT_QUERIES,
    NOUNS,
    PLAIN_TEMPLATES,
    SYNONYMS,
    make_sample,
)
from georeason_toyworld.scenes import CATEGORIES, PALETTES, Scene, ToyObject, generate_scene
from georeason_toyworld.splits import SPLITS, build_split, scene_seed, write_split

__all__ = [
    "CATEGORIES",
    "IMPLICIT_QUERIES",
    "NOUNS",
    "PALETTES",
    "PLAIN_TEMPLATES",
    "SPLITS",
    "SYNONYMS",
    "Scene",
    "ToyObject",
    "build_split",
    "generate_scene",
    "make_sample",
    "scene_seed",
    "write_split",
]
