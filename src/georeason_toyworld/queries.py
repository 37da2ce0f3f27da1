"""Queries about toy scenes: plain referring expressions and implicit reasoning queries.

Two kinds of text (the distinction of RemoteZero / EarthReason; wordings are ours):

* ``"plain"``: a referring expression that names the category, with colour, size and position
  words, e.g. "the blue swimming pool", "the tree in the top-left corner".
* ``"implicit"``: a reasoning query that names no category and no synonym of one (see
  :data:`SYNONYMS`), e.g. "Where could the residents cool off on a hot day?".

Every wording set is split into ``"train"`` wordings (pretraining and RL) and ``"heldout"``
wordings (evaluation only); the two sets share no string. In the default scenes each category
appears at most once, so a query has exactly one target instance; with same-category distractors
the target's colour is added to make it unique.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import numpy as np

from georeason_toyworld.scenes import CATEGORIES, Scene

Kind = Literal["plain", "implicit"]
Wordings = Literal["train", "heldout"]
KINDS: tuple[str, ...] = ("plain", "implicit")
WORDINGS: tuple[str, ...] = ("train", "heldout")

#: Nouns used by plain referring expressions, per category.
NOUNS: dict[str, tuple[str, ...]] = {
    "building": ("building", "house"),
    "pool": ("swimming pool", "pool"),
    "tree": ("tree",),
    "road": ("road", "street"),
    "car": ("car",),
    "boat": ("boat",),
    "sports_field": ("sports field", "playing field"),
    "storage_tank": ("storage tank", "tank"),
}

#: Words an implicit query must never contain (whole words, also with a plural "s"/"es"): the
#: category nouns and their common synonyms. Checked against *every* category, not only the
#: query's own, so implicit queries name no category at all.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "building": NOUNS["building"] + ("home", "dwelling", "residence", "cottage", "villa"),
    "pool": NOUNS["pool"] + ("lido",),
    "tree": NOUNS["tree"] + ("oak", "pine", "forest", "woodland"),
    "road": NOUNS["road"] + ("highway", "lane", "motorway", "avenue"),
    "car": NOUNS["car"] + ("automobile", "vehicle", "sedan"),
    "boat": NOUNS["boat"] + ("ship", "vessel", "yacht", "dinghy"),
    "sports_field": NOUNS["sports_field"] + ("field", "pitch", "court", "stadium"),
    "storage_tank": NOUNS["storage_tank"] + ("silo",),
}

#: Implicit reasoning queries per category and wording set (ours).
IMPLICIT_QUERIES: dict[str, dict[str, tuple[str, ...]]] = {
    "building": {
        "train": (
            "Where do the people of this neighbourhood sleep at night?",
            "Where could a family shelter from a storm?",
            "What here has a pitched roof over people's heads?",
            "Where would the postman deliver the letters?",
            "Which place could someone rent to live in?",
        ),
        "heldout": (
            "Where could someone cook dinner and then go to bed?",
            "Where would a visitor knock on the front door?",
            "Which place would an estate agent try to sell?",
        ),
    },
    "pool": {
        "train": (
            "Where could the residents cool off on a hot day?",
            "Where might children splash around in summer?",
            "Which spot needs chlorine added every week?",
            "Where could someone swim a few laps in the garden?",
            "Where would a lifeguard keep watch?",
        ),
        "heldout": (
            "Where could someone practise their backstroke?",
            "Where would you jump in to escape the summer heat?",
            "What would need to be drained and scrubbed at the end of summer?",
        ),
    },
    "tree": {
        "train": (
            "Where could a bird build its nest?",
            "What would give shade to a picnic on a sunny afternoon?",
            "What here drops its leaves in autumn?",
            "Where could a child climb up into the branches?",
            "What here has a trunk and a leafy crown?",
        ),
        "heldout": (
            "Where could a squirrel hide its acorns up high?",
            "What could a woodcutter chop down for firewood?",
            "Where could someone hang a swing from a branch?",
        ),
    },
    "road": {
        "train": (
            "Along what could traffic pass through this area?",
            "Where would a cyclist ride to get across this scene?",
            "What here is paved with asphalt for driving?",
            "Where would you find painted dashed markings for drivers?",
            "Which route connects this place to the next town?",
        ),
        "heldout": (
            "Where would a snowplough clear the way after a blizzard?",
            "Along what would a bus route run here?",
            "Where would the traffic police set up a speed check?",
        ),
    },
    "car": {
        "train": (
            "What could someone drive to the supermarket?",
            "What here has four wheels and a windscreen?",
            "What might need a parking space tonight?",
            "What could take a family on a weekend trip over land?",
            "What here runs on petrol and carries a few passengers?",
        ),
        "heldout": (
            "What could get a parking ticket?",
            "What would a mechanic service at the garage?",
            "What could someone drive to the office in the morning?",
        ),
    },
    "boat": {
        "train": (
            "What could take a fisherman out onto the lake?",
            "What here floats and carries people across the water?",
            "What would need a mooring or an anchor?",
            "What could someone sail in on a windy day?",
            "What might be tied up at a jetty?",
        ),
        "heldout": (
            "What could rescue someone who fell into the lake?",
            "What here has a hull and a deck?",
            "What could carry passengers to the other shore?",
        ),
    },
    "sports_field": {
        "train": (
            "Where could two teams play a match?",
            "Where would the local club hold its football training?",
            "Where could students run during a physical education lesson?",
            "Where are white boundary lines painted for a game?",
            "Where might spectators cheer on a weekend tournament?",
        ),
        "heldout": (
            "Where could someone score a goal?",
            "Where would a referee blow the whistle?",
            "Where could kids kick a ball around on marked grass?",
        ),
    },
    "storage_tank": {
        "train": (
            "Where might fuel be stored in bulk?",
            "What here could hold thousands of litres of oil?",
            "Which round container stores liquids for the industry nearby?",
            "Where would a refinery keep its crude oil?",
            "What here holds chemicals under a round lid?",
        ),
        "heldout": (
            "Where could a depot keep its stock of diesel?",
            "What cylindrical container could store water for the factory?",
            "Where would an inspector check for an oil leak?",
        ),
    },
}

#: Plain referring-expression templates (ours). Fields: ``{noun}``, ``{colour}``, ``{size}``,
#: ``{where}`` (a position phrase of :data:`POSITION_PHRASES`).
PLAIN_TEMPLATES: dict[str, tuple[str, ...]] = {
    "train": (
        "the {colour} {noun}",
        "the {noun} {where}",
        "the {colour} {noun} {where}",
        "the {size} {colour} {noun}",
        "find the {colour} {noun}",
        "locate the {noun} {where}",
    ),
    "heldout": (
        "where is the {colour} {noun}?",
        "show me the {size} {noun} {where}",
        "the {noun} that is {colour}",
    ),
}

#: Position phrases for the 3x3 grid cells of :attr:`ToyObject.position_name`.
POSITION_PHRASES: dict[str, str] = {
    "top left": "in the top-left corner",
    "top": "at the top",
    "top right": "in the top-right corner",
    "left": "on the left",
    "centre": "in the centre",
    "right": "on the right",
    "bottom left": "in the bottom-left corner",
    "bottom": "at the bottom",
    "bottom right": "in the bottom-right corner",
}


def strip_position_phrases(query: str) -> str:
    """``query`` without its :data:`POSITION_PHRASES` (ours; the Hand's pretraining option
    :attr:`georeason_toyworld.pretrain.PretrainConfig.position_phrases`).

    Examples:
        >>> strip_position_phrases("locate the tree in the top-left corner")
        'locate the tree'
    """
    for phrase in POSITION_PHRASES.values():
        query = query.replace(" " + phrase, "")
    return query


#: Size words per category (roads are wide or narrow, not large or small).
SIZE_WORDS: dict[str, dict[str, str]] = {
    c: {"small": "small", "large": "large"} for c in CATEGORIES
}
SIZE_WORDS["road"] = {"small": "narrow", "large": "wide"}

#: Suffix naming the target's colour when the scene holds several instances of its category.
DISAMBIGUATION_SUFFIX = " It is the {colour} one."


def forbidden_words_pattern() -> re.Pattern[str]:
    """Regex matching any :data:`SYNONYMS` entry as whole words (plural ``s``/``es`` too)."""
    words = sorted({w for ws in SYNONYMS.values() for w in ws}, key=len, reverse=True)
    alt = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
    return re.compile(rf"\b(?:{alt})(?:s|es)?\b", re.IGNORECASE)


def plain_query(
    category: str,
    colour: str,
    size_name: str,
    position_name: str,
    rng: np.random.Generator,
    wordings: str = "train",
    need_colour: bool = False,
) -> tuple[str, int]:
    """One plain referring expression and the index of its template in the wording set.

    Args:
        need_colour: only use templates that mention the colour (to single out one of several
            same-category instances).

    Raises:
        ValueError: for an unknown category or wording set.
    """
    _check(category, wordings)
    templates = list(enumerate(PLAIN_TEMPLATES[wordings]))
    if need_colour:
        templates = [(i, t) for i, t in templates if "{colour}" in t]
    idx, template = templates[int(rng.integers(len(templates)))]
    nouns = NOUNS[category]
    text = template.format(
        noun=nouns[int(rng.integers(len(nouns)))],
        colour=colour,
        size=SIZE_WORDS[category][size_name],
        where=POSITION_PHRASES[position_name],
    )
    return text, idx


def implicit_query(
    category: str, rng: np.random.Generator, wordings: str = "train"
) -> tuple[str, int]:
    """One implicit reasoning query for ``category`` and its index in the wording set.

    Raises:
        ValueError: for an unknown category or wording set.
    """
    _check(category, wordings)
    options = IMPLICIT_QUERIES[category][wordings]
    idx = int(rng.integers(len(options)))
    return options[idx], idx


def _check(category: str, wordings: str) -> None:
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; choose from {list(CATEGORIES)}")
    if wordings not in WORDINGS:
        raise ValueError(f"wordings must be one of {WORDINGS}, got {wordings!r}")


def make_sample(
    scene: Scene,
    rng: np.random.Generator,
    kind: str = "plain",
    wordings: str = "train",
    category: str | None = None,
) -> dict[str, Any]:
    """A query about ``scene`` with exactly one target instance.

    Args:
        scene: a scene from :func:`georeason_toyworld.scenes.generate_scene`.
        rng: drives the choice of target (if ``category`` is None), template and nouns.
        kind: ``"plain"`` or ``"implicit"``.
        wordings: ``"train"`` or ``"heldout"`` wording set.
        category: the target category; None picks one of the scene's categories uniformly.

    Returns:
        ``{"query", "kind", "wordings", "wording_id" ("category/kind/wordings/index"),
        "target_category", "target_index" (into scene.objects), "target_box_xyxy_px" (list of 4
        floats, original pixels, pixel-corner convention)}``.

    Raises:
        ValueError: for an unknown kind or wording set, a category absent from the scene, or
            several instances of it that no colour word tells apart.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if wordings not in WORDINGS:
        raise ValueError(f"wordings must be one of {WORDINGS}, got {wordings!r}")
    present = sorted({o.category for o in scene.objects}, key=CATEGORIES.index)
    if category is None:
        if not present:
            raise ValueError(f"scene {scene.seed} has no objects")
        category = present[int(rng.integers(len(present)))]
    indices = scene.indices_of(category)
    if not indices:
        raise ValueError(f"scene {scene.seed} has no {category!r}; it has {present}")
    index = indices[int(rng.integers(len(indices)))]
    target = scene.objects[index]
    ambiguous = len(indices) > 1
    if ambiguous:
        colours = [scene.objects[i].colour_name for i in indices]
        if colours.count(target.colour_name) > 1:
            raise ValueError(
                f"scene {scene.seed}: {len(indices)} {category} instances share the colour "
                f"{target.colour_name!r}; the query would have more than one target"
            )
    if kind == "plain":
        text, idx = plain_query(
            category,
            target.colour_name,
            target.size_name,
            target.position_name,
            rng,
            wordings,
            need_colour=ambiguous,
        )
    else:
        text, idx = implicit_query(category, rng, wordings)
        if ambiguous:
            text += DISAMBIGUATION_SUFFIX.format(colour=target.colour_name)
    return {
        "query": text,
        "kind": kind,
        "wordings": wordings,
        "wording_id": f"{category}/{kind}/{wordings}/{idx}",
        "target_category": category,
        "target_index": index,
        "target_box_xyxy_px": [float(v) for v in target.bbox_xyxy_px],
    }


#: Frames of the neutral queries (ours; :func:`neutral_query`): question and request shapes like
#: those of the implicit queries ("Where could ...?", "Which ... here ...?"), with slots that only
#: :data:`NEUTRAL_WORDS` fill, so the sentence names and implies no category.
NEUTRAL_FRAMES: tuple[str, ...] = (
    "Pick one object of this scene.",
    "{verb} one {thing} of this {medium}.",
    "{verb} any {thing} you {like} in the {medium}.",
    "Where is the {adj} {thing}?",
    "Which {thing} here is {adj}?",
    "What {thing} could someone {like} in this {medium}?",
    "Where would you {like} the {adj} {thing}?",
    "{w} {w} {w} {w}?",
    "{w} {w} {w} {w} {w} {w}.",
)
#: Slot words of :data:`NEUTRAL_FRAMES` (ours). None is a category noun or synonym, a colour, a
#: size or position word, or a content word of any implicit wording (a test checks this), so
#: the pretraining of the Hand never pairs an implicit query's words with a box.
NEUTRAL_WORDS: dict[str, tuple[str, ...]] = {
    "verb": ("Pick", "Choose", "Select", "Mark", "Outline", "Highlight", "Circle"),
    "thing": ("object", "thing", "item", "shape", "element", "feature", "structure"),
    "medium": ("image", "picture", "view", "photo", "tile", "frame"),
    "like": ("like", "notice", "see", "prefer", "imagine", "remember", "describe"),
    "adj": ("interesting", "nice", "first", "favourite", "ordinary", "random", "strange"),
    "w": (
        "maybe", "perhaps", "please", "kindly", "now", "today", "monday", "friday", "music",
        "book", "chair", "table", "pencil", "paper", "cloud", "moon", "star", "planet", "song",
        "story", "idea", "question", "number", "seven", "nine", "happy", "quiet", "simple",
        "common", "usual", "careful", "gentle", "lucky", "soft", "early", "late", "again",
    ),
}  # fmt: skip


def neutral_query(rng: np.random.Generator) -> str:
    """A query that names and implies no category (ours): a :data:`NEUTRAL_FRAMES` frame with
    random :data:`NEUTRAL_WORDS`.

    Used by the Hand's think-grounding examples
    (:attr:`georeason_toyworld.pretrain.PretrainConfig.ground_queries`): the target is a random
    object of the scene named only in the reasoning, so the box must follow the reasoning; many
    different neutral wordings keep the Hand from learning that only one fixed sentence means
    "read the reasoning".

    Examples:
        >>> neutral_query(np.random.default_rng(5))
        'Where would you remember the interesting feature?'
    """
    frame = NEUTRAL_FRAMES[int(rng.integers(len(NEUTRAL_FRAMES)))]
    out = frame
    while "{" in out:
        start = out.index("{")
        slot = out[start + 1 : out.index("}", start)]
        words = NEUTRAL_WORDS[slot]
        word = words[int(rng.integers(len(words)))]
        if start == 0:
            word = word[:1].upper() + word[1:]
        out = out[:start] + word + out[out.index("}", start) + 1 :]
    return out
