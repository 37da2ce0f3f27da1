"""Caption metrics as GeoZero computes them: BLEU-1..4, METEOR, ROUGE-1, ROUGE-L, CIDEr.

Source: the caption branch of ``single_infer_eval_qwen3vl_think.py`` in the public GeoZero
repository (arXiv 2511.22645). Every text is first normalised with
:func:`georeason.eval.geozero_rules.normalize_answer` and split on whitespace (no PTB tokeniser).

- BLEU-n: NLTK ``corpus_bleu`` over all samples, every reference of a sample, weights
  ``(1,0,0,0)``, ``(1/2,1/2,0,0)``, ``(1/3,1/3,1/3,0)``, ``(1/4,)*4``, smoothing
  ``SmoothingFunction().method1`` (Papineni et al., 2002; Chen & Cherry, 2014).
- CIDEr: pycocoevalcap's ``Cider().compute_score`` on the normalised strings (its CIDEr-D with
  sigma 6 and document frequencies from this set's references; Vedantam et al., 2015).
- ROUGE-1 / ROUGE-L: the ``rouge`` package's F scores, per sample the best over references,
  averaged over samples. An empty hypothesis scores 0 and counts; a sample where no reference can
  be scored is skipped and counted in ``ROUGE_skipped_samples`` (Lin, 2004).
- METEOR: NLTK ``meteor_score`` with WordNet synonyms, per sample the best over references,
  averaged (Banerjee & Lavie, 2005). Without WordNet it is reported as None with the reason in
  ``METEOR_unavailable``, never as 0.

All scores are fractions in ``[0, 1]`` (CIDEr may exceed 1), as GeoZero prints them.
"""

from __future__ import annotations

from collections.abc import Sequence

from georeason.eval.geozero_rules import normalize_answer

_BLEU_WEIGHTS = {
    1: (1.0, 0, 0, 0),
    2: (0.5, 0.5, 0, 0),
    3: (1 / 3, 1 / 3, 1 / 3, 0),
    4: (0.25, 0.25, 0.25, 0.25),
}


def _rouge(norm_preds: list[str], norm_refs: list[list[str]]) -> dict[str, float | int]:
    from rouge import Rouge

    rouge = Rouge()
    r1_sum = rl_sum = 0.0
    valid = skipped = 0
    for hyp, refs in zip(norm_preds, norm_refs, strict=True):
        hyp = hyp.strip()
        if not hyp:  # an empty answer scores 0 and counts
            valid += 1
            continue
        scores = []
        for ref in refs:
            ref = (ref or "").strip()
            if not ref:
                continue
            try:
                scores.append(rouge.get_scores(hyp, ref)[0])
            except Exception:  # the rouge package fails on some degenerate strings
                continue
        if not scores:
            skipped += 1
            continue
        r1_sum += max(s["rouge-1"]["f"] for s in scores)
        rl_sum += max(s["rouge-l"]["f"] for s in scores)
        valid += 1
    den = max(valid, 1)
    return {
        "ROUGE-1": r1_sum / den,
        "ROUGE-L": rl_sum / den,
        "ROUGE_valid_coverage": valid / len(norm_preds),
        "ROUGE_skipped_samples": skipped,
    }


def _meteor(norm_preds: list[str], norm_refs: list[list[str]]) -> dict[str, float | str | None]:
    from georeason.eval.wordnet_data import load_wordnet

    wordnet = load_wordnet()
    if wordnet is None:
        return {
            "METEOR": None,
            "METEOR_unavailable": "WordNet not found: install Debian's wordnet-base and "
            "wordnet-sense-index (make setup does), or NLTK's wordnet corpus",
        }
    from nltk.translate.meteor_score import meteor_score

    per_sample = [
        max(meteor_score([r.split()], hyp.split(), wordnet=wordnet) for r in refs)
        for hyp, refs in zip(norm_preds, norm_refs, strict=True)
    ]
    return {"METEOR": sum(per_sample) / len(per_sample)}


def caption_metrics(
    preds: Sequence[str], references: Sequence[Sequence[str]]
) -> dict[str, float | int | str | None]:
    """Score captions against several references each, GeoZero's way (module docstring).

    Args:
        preds: one extracted answer per sample.
        references: the reference captions of each sample (at least one).

    Returns:
        ``BLEU-1``..``BLEU-4``, ``CIDEr``, ``ROUGE-1``, ``ROUGE-L``, ``ROUGE_valid_coverage``,
        ``ROUGE_skipped_samples``, ``METEOR`` (None if WordNet is missing, with
        ``METEOR_unavailable``), ``n``.

    Raises:
        ValueError: lengths differ, no sample, or a sample without references.
    """
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu
    from pycocoevalcap.cider.cider import Cider

    if len(preds) != len(references):
        raise ValueError(f"{len(preds)} predictions but {len(references)} reference lists")
    if not preds:
        raise ValueError("no sample to score")
    if any(len(refs) == 0 for refs in references):
        raise ValueError("every caption sample needs at least one reference")
    norm_preds = [normalize_answer(p) for p in preds]
    norm_refs = [[normalize_answer(r) for r in refs] for refs in references]
    refs_tok = [[r.split() for r in refs] for refs in norm_refs]
    hyps_tok = [p.split() for p in norm_preds]
    smooth = SmoothingFunction().method1
    out: dict[str, float | int | str | None] = {
        f"BLEU-{n}": float(corpus_bleu(refs_tok, hyps_tok, weights=w, smoothing_function=smooth))
        for n, w in _BLEU_WEIGHTS.items()
    }
    gts = {i: refs for i, refs in enumerate(norm_refs)}
    res = {i: [p] for i, p in enumerate(norm_preds)}
    cider, _ = Cider().compute_score(gts, res)
    out["CIDEr"] = float(cider)
    out.update(_rouge(norm_preds, norm_refs))
    out.update(_meteor(norm_preds, norm_refs))
    out["n"] = len(preds)
    return out
