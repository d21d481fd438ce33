"""Coherent sub-mix classification (thesis 7.5.1, eq. 7.5) and the COCOLA score (eq. 7.4).

Accuracy: every evaluation pair (m1, m2) of a test split is embedded once; the similarity of
every anchor with every positive, S[k, j] = sim(h1_k, h2_j), then scores any batch. A batch is
K distinct windows drawn at random (seeded); its accuracy is the share of its rows whose
largest entry is on the diagonal, and the result is the mean over many batches, as the thesis
averages over the batches of its test loader. Chance is 1/K. A row whose largest entry is shared
by several columns, the diagonal among them, scores 1/(number tied): the expectation of argmax
with random tie-breaking, so an encoder that maps everything to one point scores chance, not 0.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from harness.core.logs import progress


def embed(
    model, audio: list[np.ndarray], device: str, batch: int = 32, desc: str | None = None
) -> torch.Tensor:
    """[n, d] embeddings of ``n`` equal-length clips, ``batch`` at a time."""
    out = []
    chunks = range(0, len(audio), batch)
    for i in progress(chunks, desc=desc) if desc else chunks:
        x = torch.from_numpy(np.stack(audio[i : i + batch]).astype(np.float32)).to(device)
        with torch.no_grad():
            out.append(model.embed(x))
    return torch.cat(out)


def embed_pairs(model, pairs: list[tuple[np.ndarray, np.ndarray]], device: str, desc: str | None = None):
    model.eval()
    h1 = embed(model, [a for a, _ in pairs], device, desc=desc)
    h2 = embed(model, [p for _, p in pairs], device, desc=desc)
    return h1, h2


def group_accuracy(sim: np.ndarray, k: int, groups: int, rng: np.random.Generator) -> tuple[float, float]:
    """(mean, standard error) over ``groups`` random batches of ``k`` distinct windows of the
    eq. 7.5 accuracy, given the full similarity matrix ``sim`` [n, n]."""
    n = sim.shape[0]
    if n < k:
        raise ValueError(f"{n} windows cannot make a batch of {k}")
    scores = np.empty(groups)
    for g in range(groups):
        idx = rng.choice(n, k, replace=False)
        block = sim[np.ix_(idx, idx)]
        top = block.max(axis=1, keepdims=True)
        tied = (block == top).sum(axis=1)
        scores[g] = np.mean((np.diag(block) == top[:, 0]) / tied)
    return float(scores.mean()), float(scores.std(ddof=1) / np.sqrt(groups)) if groups > 1 else 0.0


def chroma_similarity(pairs: list[tuple[np.ndarray, np.ndarray]], rate: int) -> np.ndarray:
    """A baseline with no learning: the cosine similarity of the time-averaged chroma (12 pitch
    classes, librosa) of every anchor with every positive. It sees shared harmony, not rhythm."""
    import librosa

    def chroma(audio):
        c = librosa.feature.chroma_stft(y=np.asarray(audio, np.float32), sr=rate, tuning=0.0).mean(axis=1)
        return c / max(float(np.linalg.norm(c)), 1e-12)

    a = np.stack([chroma(x) for x, _ in pairs])
    p = np.stack([chroma(y) for _, y in pairs])
    return a @ p.T


def accuracy_rows(args, datasets: list[tuple[str, dict]], device: str) -> list[dict]:
    """Eq. 7.5 accuracy of one model (or baseline) on the test pairs of every dataset, for each
    K of the evaluation settings. The random batches depend on the dataset and K only, so
    every model is scored on the very same batches."""
    from harness.cocola.data import check_split, load_tracks, pair_audio
    from harness.cocola.model import Cocola, Features, ModelSettings, load_model
    from harness.core.config import settings_arg
    from harness.core.errors import HarnessError
    from harness.core.seeds import derive_seed

    evaluation = json.loads(args.evaluation)
    if args.checkpoint:
        model = load_model(args.checkpoint).to(device)
        rate, name = model.features.sample_rate, "trained"
    else:
        features = settings_arg(Features, args.features, "--features") if args.features else Features()
        rate, name = features.sample_rate, args.baseline
        model = None
        if args.baseline == "untrained":
            torch.manual_seed(derive_seed(args.seed, "cocola", "untrained"))
            model = Cocola(features, settings_arg(ModelSettings, args.model, "--model")).to(device).eval()
    rows = []
    for root, split in datasets:
        check_split(split, rate, model.window if args.checkpoint else None)
        window = split["window"]
        pairs = split["pairs"].get("test", [])
        if len(pairs) < max(evaluation["ks"]):
            raise HarnessError(
                f"{split['dataset']}: {len(pairs)} test pairs, fewer than K = {max(evaluation['ks'])}"
            )
        tracks = {t.id: t for t in load_tracks(root, sorted({p["track"] for p in pairs}), rate, args.cache)}
        audio = [pair_audio(tracks, p, window) for p in pairs]
        if model is None:
            sim = chroma_similarity(audio, rate)
        else:
            h1, h2 = embed_pairs(model, audio, device, desc=f"embedding {split['dataset']}")
            with torch.no_grad():
                sim = model.similarity(h1, h2).cpu().numpy()
        for k in evaluation["ks"]:
            groups = np.random.default_rng(derive_seed(args.seed, "cocola", "batches", split["dataset"], k))
            mean, sem = group_accuracy(sim, k, evaluation["groups"], groups)
            rows.append({"model": name, "test_set": split["dataset"], "k": k, "accuracy": round(100 * mean, 2),
                         "sem": round(100 * sem, 2), "chance": round(100 / k, 2), "pairs": len(pairs)})  # fmt: skip
    return rows
