"""Per-token loss of a pretrained toy policy's Hand answers (2026-12-01; not part of the run).

Teacher-forced next-token loss on plain-expression eval scenes of seed 0, split by the answer
part a token belongs to: the reasoning (category), the first digit of each coordinate, the other
digits, and the format tokens. Tells whether the Hand fails to name, to place (first digits) or
to size (later digits). One CPU thread::

    python docs/toyworld/probe_tokens.py runs/toyworld_v5/seed0/models/policy
"""

import sys
from collections import defaultdict

import numpy as np
import torch

from georeason.models.loading import load_model_and_processor
from georeason_toyworld.pretrain import TOY_MAX_PIXELS, _encode, hand_example
from georeason_toyworld.splits import build_split

torch.set_num_threads(1)
lm = load_model_and_processor(sys.argv[1], max_pixels=TOY_MAX_PIXELS, device="cpu")
model, proc = lm.model.eval(), lm.processor
tok = proc.tokenizer
recs = build_split("eval", 64, 0, kind="plain", wordings="train", size_px=128, layout="grid")
losses = defaultdict(list)
for start in range(0, len(recs), 16):
    ex = [
        hand_example(r["image"], r["query"], r["target_category"], r["boxes_xyxy_px"][0], lm.frame)
        for r in recs[start : start + 16]
    ]
    prompts = [
        proc.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m, _, _ in ex
    ]
    batch = _encode(proc, prompts, [a for _, a, _ in ex], [im for _, _, im in ex])
    with torch.no_grad():
        logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    labels = batch["labels"]
    lp = torch.log_softmax(logits[:, :-1].float(), -1)
    tgt = labels[:, 1:]
    for b in range(tgt.shape[0]):
        ids = [int(t) for t in tgt[b] if t != -100]
        nll = [-float(lp[b, i, tgt[b, i]]) for i in range(tgt.shape[1]) if tgt[b, i] != -100]
        pieces = [tok.decode([t]) for t in ids]
        text = "".join(pieces)
        in_answer, coord, digit_k = False, 0, 0
        pos = 0
        for piece, n in zip(pieces, nll, strict=True):
            pos += len(piece)
            if "<answer>" in text[:pos] and not in_answer:
                in_answer = True
            if not in_answer:
                losses["reasoning"].append(n)
            elif piece.strip().isdigit():
                losses["first digit" if digit_k == 0 else "later digits"].append(n)
                digit_k += 1
            else:
                if "," in piece:
                    coord, digit_k = coord + 1, 0
                losses["format"].append(n)
for k, v in losses.items():
    print(f"{k:14s} tokens {len(v):5d}  mean loss {np.mean(v):.3f}  share {np.sum(v):.1f}")
