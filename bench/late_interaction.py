"""Experiment: late interaction (ColBERT-style MaxSim) with the stock MiniLM, beside its mean-pooled
vectors, on the shared SQuAD dev half. Not part of the product.

For every answerable question, the article's citable sentences (the product's segmentation) are
ranked by the cosine of mean-pooled MiniLM vectors (what the first stage's dense score is), by
MaxSim over the same forward pass's token vectors (each question token's best cosine with any of
the sentence's tokens, averaged over the question's tokens: what late interaction would store at
ingest and compute at question time), by BM25 (the product's keyword index), and by 50/50 blends
of min-max-normalised scores (the product's reference blend). Prints hit@1 and mrr@5
of each as JSON, with the machine. Nothing here is fitted, so no cross-validation is needed.

    .venv/bin/python -m bench.late_interaction [--articles N] [--threads 2] [--model DIR]
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bench import machine
from bench.squad import DEFAULT_DATA, TOP_K, hit_rank, load_articles
from index.encoder import BUNDLED_MODEL, resolve_model_path
from index.fusion import convex, minmax
from index.lexical import LexicalIndex
from qa.article import parse_text, search_text
from qa.segment import segment

Array = npt.NDArray[np.float32]


def encode(model: Any, texts: Sequence[str]) -> tuple[Array, list[Array]]:
    """Mean-pooled unit vectors and per-text unit token vectors, from one forward pass."""
    out = model.encode(
        list(texts),
        output_value=None,
        batch_size=64,
        convert_to_numpy=False,
        show_progress_bar=False,
    )
    pooled = np.stack([o["sentence_embedding"].float().numpy() for o in out])
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    tokens = []
    for o in out:
        vectors = o["token_embeddings"].float().numpy()
        vectors = vectors[: int(o["attention_mask"].sum())]
        tokens.append(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
    return pooled, tokens


def maxsim(question: Array, sentences: Sequence[Array]) -> Array:
    scores = [float((question @ s.T).max(axis=1).mean()) for s in sentences]
    return np.array(scores, dtype=np.float32)


RANKERS = (
    "dense",
    "maxsim",
    "bm25",
    "blend50 (dense, bm25)",
    "blend50 (maxsim, bm25)",
    "blend (dense, maxsim, bm25)",
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--articles", type=int)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--model", default=BUNDLED_MODEL, help="model name or directory (bench.train_encoder's)"
    )
    args = parser.parse_args(argv)
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    model = SentenceTransformer(str(resolve_model_path(args.model)), device="cpu")
    ranks: dict[str, list[int | None]] = {name: [] for name in RANKERS}
    for squad in load_articles(args.data, args.articles, None):
        article = parse_text(squad.text, title=squad.title)
        shift = squad.text.index(article.text)  # parsing trims the text's ends
        citable = [s for s in segment(article).sentences if s.kind.citable]
        spans = [(s.start + shift, s.end + shift) for s in citable]
        pooled, tokens = encode(model, [search_text(s.text, s.kind) for s in citable])
        questions = [q for q in squad.questions if q.answerable]
        q_pooled, q_tokens = encode(model, [q.text for q in questions])
        lexical = LexicalIndex([s.text for s in citable])
        for question, q_vector, q_token in zip(questions, q_pooled, q_tokens, strict=True):
            dense = pooled @ q_vector
            late = maxsim(q_token, tokens)
            bm25 = lexical.scores(question.text)
            rankings = {
                "dense": dense,
                "maxsim": late,
                "bm25": bm25,
                "blend50 (dense, bm25)": convex(dense, bm25, 0.5),
                "blend50 (maxsim, bm25)": convex(late, bm25, 0.5),
                "blend (dense, maxsim, bm25)": (convex(dense, bm25, 0.5) + minmax(late)) / 2,
            }
            for name, scores in rankings.items():
                order = np.argsort(-scores, kind="stable")[:TOP_K]
                ranks[name].append(hit_rank([spans[i] for i in order], question.golds))
    report: dict[str, Any] = {
        "machine": machine(),
        "model": args.model,
        "questions": len(ranks["dense"]),
    }
    for name, found in ranks.items():
        report[name] = {
            "hit@1": round(sum(r == 1 for r in found) / len(found), 4),
            "mrr@5": round(sum(1 / r for r in found if r) / len(found), 4),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
