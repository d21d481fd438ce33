"""GMSDI's experiments on a stem dataset (thesis 6.4.5): separation of test songs with the
Separator or the Extractor at one embedding scale (Tables 6.4-6.5), single-stem prompting with
and without negative prompts against ISDM (Figure 6.4), and total and partial generation against
MSDM (Figure 6.5), scored with FAD."""

from __future__ import annotations

import numpy as np
import torch

from harness.audio.arrays import active_chunks, segments_with_sources, unwindow, windows
from harness.core.errors import HarnessError
from harness.core.logs import LOG, progress
from harness.core.seeds import derive_seed
from harness.diffusion.models import KIND, Padded, load_model
from harness.diffusion.samplers import Schedule
from harness.diffusion.scores import prior_score
from harness.gmsdi import inference as eq
from harness.gmsdi.prompts import label, lookup
from harness.metrics.fad import fad_of_mixes
from harness.metrics.sisdr import msdm_track_scores
from harness.train.files import load_state


class Model:
    """A GMSDI model file: the conditional denoiser (any length), its stems, rate and prompts."""

    def __init__(self, path: str, device: str):
        denoiser, config = load_model(path, device)
        if not config.get("embedding_features"):
            raise HarnessError(f"{path}: not a text-conditioned (GMSDI) model")
        state = load_state(path, KIND, "diffusion model")
        table = state.get("prompts")
        if not isinstance(table, dict) or not all(isinstance(v, torch.Tensor) for v in table.values()):
            raise HarnessError(f"{path}: the model file holds no prompt embeddings")
        self.padded = Padded(denoiser)
        self.null = denoiser.net.null.detach()
        self.table = {k: v.to(device) for k, v in table.items()}
        self.stems, self.rate, self.device = list(config["stems"]), int(config["sample_rate"]), device
        self.embedder = None  # the audio encoder of a self-conditioned model, when it is not the metric's
        # a self-conditioned model's embedding statistics (its prompts are standardised with them)
        self.embedding_mean, self.embedding_std = state.get("embedding_mean"), state.get("embedding_std")

    def denoise(self, x, sigma, embedding):
        return self.padded(x, sigma, embedding=embedding)

    def prompt(self, stems) -> torch.Tensor:
        return lookup(self.table, [s for s in self.stems if s in set(stems)]) if stems else self.null

    def negative(self, stem: str, negatives: dict[str, list[str]]) -> torch.Tensor:
        """The negative prompt of a single-stem prompt (the null embedding if none is set)."""
        return self.prompt(negatives.get(stem, []))


def _bar(steps: int, desc: str):
    bar = progress(total=steps, desc=desc)
    return bar, (lambda i: bar.update(1))


# ----------------------------------------------------------------------------- separation
@torch.no_grad()
def separate_set(model: Model, refs: list[np.ndarray], method: dict, schedule: Schedule, churn: float,
                 negatives: dict, spec: dict, generator: torch.Generator) -> list[np.ndarray]:  # fmt: skip
    """Estimates per track [N, samples] by the Separator (``method`` {"kind": "separator",
    "constrained": stem, "w"}) or the Extractor ({"kind": "extractor", "negative": [stems], "w"})."""
    stems, w, sigmas = model.stems, float(method["w"]), schedule.sigmas()
    parts, where = windows(refs, round(spec["window_seconds"] * model.rate))
    mixtures = torch.from_numpy(parts.sum(1, keepdims=True)).to(model.device)
    out = np.zeros_like(parts)
    null = model.null.expand(2, -1)
    for start in range(0, len(mixtures), spec["batch"]):
        mix = mixtures[start : start + spec["batch"]]
        if method["kind"] == "separator":
            order = [s for s in stems if s != method["constrained"]] + [method["constrained"]]
            prompts = torch.stack([model.prompt([s]) for s in order])
            nulls = model.null.expand(len(order), -1)

            def score(v, s, prompts=prompts, nulls=nulls, mix=mix):
                return eq.separator_score(model.denoise, v, s, mix, prompts, nulls, w)

            bar, tick = _bar(len(sigmas) - 1, "separator")
            est = eq.separate(score, mix, len(order), sigmas, churn, generator, tick).cpu().numpy()
            bar.close()
            for i, s in enumerate(order):
                out[start : start + len(mix), stems.index(s)] = est[:, i]
        else:
            for k, stem in enumerate(stems):
                negative = model.negative(stem, negatives) if stem in method["negative"] else model.null
                neg = torch.stack([negative, null[1]])
                z, c = model.prompt([stem]), model.prompt([s for s in stems if s != stem])

                def score(v, s, z=z, c=c, neg=neg, mix=mix):
                    return eq.extractor_score(model.denoise, v, s, mix, z, c, neg, w)

                bar, tick = _bar(len(sigmas) - 1, f"extractor ({stem})")
                est = eq.separate(score, mix, 2, sigmas, churn, generator, tick).cpu().numpy()
                bar.close()
                out[start : start + len(mix), k] = est[:, 0]
    return unwindow(out, where, [r.shape[-1] for r in refs])


def score_set(refs, estimates, stems, ids, rate, spec) -> tuple[dict, list[dict]]:
    return msdm_track_scores(refs, estimates, stems, ids, rate, spec["chunk_seconds"], spec["hop_seconds"])


def choose(summaries: list[dict], kind: str) -> dict:
    """The grid cell of ``kind`` with the best All SI-SDRi (the first on ties): the method
    Table 6.5 evaluates (thesis: w = 3 with Drums constrained, w = 7.5 for the Extractor)."""
    cells = [s for s in summaries if s["method"]["kind"] == kind]
    if not cells:
        raise HarnessError(f"no {kind} cell among the grid summaries")
    return max(cells, key=lambda s: s["All"])["method"]


# ----------------------------------------------------------------------------- generation
def _real_stem(tracks: list[np.ndarray], index: int, length: int, rate: int, encoder) -> list[np.ndarray]:
    """Every non-overlapping test chunk where stem ``index`` sounds, at the encoder's rate."""
    from harness.io.wav import resample

    chunks = segments_with_sources([t[index : index + 1] for t in tracks], length, 1)
    if not chunks:
        raise HarnessError("no test chunk holds the stem: nothing to compare with")
    return [resample(c, rate, encoder.sample_rate) for c in chunks]


def _real_mixes(tracks, length, rate, encoder) -> list[np.ndarray]:
    from harness.io.wav import resample

    return [resample(c.sum(0, keepdims=True), rate, encoder.sample_rate)
            for c in segments_with_sources(tracks, length, 2)]  # fmt: skip


@torch.no_grad()
def single_stems(model: Model, isdm: dict[str, torch.nn.Module], tracks, spec: dict, negatives: dict,
                 encoder, seed: int) -> tuple[list[dict], list]:  # fmt: skip
    """Figure 6.4: per stem, FAD between test chunks of the stem and samples prompted with its
    label, with and without its negative prompt, and samples of its ISDM model."""
    schedule = Schedule(**spec["schedule"])
    n, length, w = spec["samples"], round(spec["seconds"] * model.rate), float(spec["w"])
    rows, examples = [], []
    for k, stem in enumerate(model.stems):
        real = _real_stem(tracks, k, length, model.rate, encoder)
        settings = [("prompt", model.null), ("negative prompt", model.negative(stem, negatives))]
        outputs = {}
        for name, neg in settings:
            prompts, nulls = model.prompt([stem])[None], neg[None]
            gen = torch.Generator(device=model.device).manual_seed(
                derive_seed(seed, "gmsdi", "stems", stem, name)
            )

            def score(v, s, prompts=prompts, nulls=nulls):
                return eq.guided_score(model.denoise, v, s, prompts, nulls, w)

            outputs[name] = eq.adpm2(score, (n, 1, length), schedule.sigmas(), gen, device=model.device)
        if stem in isdm:
            gen = torch.Generator(device=model.device).manual_seed(
                derive_seed(seed, "gmsdi", "stems", stem, "isdm")
            )

            def score(v, s, d=isdm[stem]):
                return prior_score(d, v, eq.scalar_sigma(s).to(v.dtype))

            outputs["ISDM"] = eq.adpm2(score, (n, 1, length), schedule.sigmas(), gen, device=model.device)
        for name, out in outputs.items():
            out = out.cpu().numpy()[:, 0]
            fad = fad_of_mixes(encoder, real, out, model.rate)
            rows.append({"stem": stem, "model": "ISDM" if name == "ISDM" else f"GMSDI ({name})",
                         "negative": label(negatives.get(stem, [])) if name == "negative prompt" else "",
                         "fad": fad, "rms": round(float(np.sqrt((out**2).mean())), 5)})  # fmt: skip
            LOG.info("%s %s: FAD %.3f, rms %.4f", stem, name, fad, rows[-1]["rms"])
        examples.append((stem, {f"{stem} ({name})": o.cpu().numpy()[0, 0] for name, o in outputs.items()}))
    return rows, examples


@torch.no_grad()
def mixtures(model: Model, msdm, tracks, spec: dict, encoder, seed: int) -> tuple[list[dict], list]:
    """Figure 6.5: FAD against real test mixtures of total generation (eq. 6.13, gamma_y = inf)
    and of each partial generation task (eq. 6.15; the given stems are test chunks with every
    stem sounding, the chunks MSDM's partial generation draws), beside MSDM's (partial: the
    candidate with the highest L2 norm of ``best_of``, as the thesis does against silence)."""
    from harness.diffusion.samplers import generate, generate_partial

    stems, rate = model.stems, model.rate
    n, length, w = spec["samples"], round(spec["seconds"] * rate), float(spec["w"])
    sigmas = Schedule(**spec["schedule"]).sigmas()
    real = _real_mixes(tracks, length, rate, encoder)
    rows, examples = [], []
    gen = torch.Generator(device=model.device).manual_seed(derive_seed(seed, "gmsdi", "total"))
    prompts = torch.stack([model.prompt([s]) for s in stems] + [model.prompt(stems)])
    nulls = model.null.expand(len(stems) + 1, -1)

    def total(v, s):
        return eq.total_generation_score(model.denoise, v, s, prompts, nulls, w, spec["gamma_x"], None)

    bar, tick = _bar(len(sigmas) - 1, "total generation")
    out = (
        eq.adpm2(total, (n, len(stems) + 1, length), sigmas, gen, device=model.device, progress=tick)
        .cpu()
        .numpy()
    )
    bar.close()
    rows.append(
        {
            "task": "All",
            "given": "",
            "model": "GMSDI",
            "fad": fad_of_mixes(encoder, real, out[:, :-1].sum(1), rate),
        }
    )
    examples.append(("total_1", {**{s: out[0, i] for i, s in enumerate(stems)}, "mix (sum of stems)": out[0, :-1].sum(0),
                                 "mixture channel y": out[0, -1]}))  # fmt: skip
    msdm_model, msdm_spec = msdm
    msdm_sigmas = Schedule(**msdm_spec["schedule"]).sigmas()
    if msdm_model is not None:
        g = torch.Generator(device=model.device).manual_seed(derive_seed(seed, "gmsdi", "msdm-total"))
        m = generate(msdm_model, (n, len(stems), length), msdm_sigmas, 0.0, 0, g).cpu().numpy()
        rows.append(
            {"task": "All", "given": "", "model": "MSDM", "fad": fad_of_mixes(encoder, real, m.sum(1), rate)}
        )
    given = active_chunks(tracks, length, n, np.random.default_rng(derive_seed(seed, "msdm", "chunks")))
    for subset in spec["partial"]:
        known = [s not in subset for s in stems]
        idx_j = [i for i, s in enumerate(stems) if s in subset]
        idx_i = [i for i, s in enumerate(stems) if s not in subset]
        x_given = torch.from_numpy(given[:, idx_i]).to(model.device)
        p = torch.stack([model.prompt([stems[i]]) for i in idx_j] + [model.prompt(stems)])
        nl = model.null.expand(len(idx_j) + 1, -1)
        g = torch.Generator(device=model.device).manual_seed(derive_seed(seed, "gmsdi", "partial", *subset))

        def partial(v, s, p=p, nl=nl, x_given=x_given, g=g):
            return eq.partial_generation_score(model.denoise, v, s, x_given, p, nl, w, spec["gamma_x"],
                                               spec["gamma_y"], spec["alpha"], spec["beta"], g)  # fmt: skip

        bar, tick = _bar(len(sigmas) - 1, f"partial generation ({label(subset)})")
        out = eq.adpm2(partial, (n, len(idx_j) + 1, length), sigmas, g, device=model.device, progress=tick)
        bar.close()
        out = out.cpu().numpy()
        mix = given[:, idx_i].sum(1) + out[:, :-1].sum(1)
        task, cond = label(subset), label([stems[i] for i in idx_i])
        rows.append(
            {"task": task, "given": cond, "model": "GMSDI", "fad": fad_of_mixes(encoder, real, mix, rate)}
        )
        tracks_out = {f"{stems[i]} (given)": given[0, i] for i in idx_i}
        tracks_out.update({f"{stems[i]} (generated)": out[0, j] for j, i in enumerate(idx_j)})
        examples.append(("partial_" + "_".join(subset), {**tracks_out, "mix": mix[0]}))
        if msdm_model is not None:
            candidates = []
            for c in range(spec["msdm_best_of"]):
                gm = torch.Generator(device=model.device).manual_seed(
                    derive_seed(seed, "gmsdi", "msdm-partial", *subset, c)
                )
                full = torch.from_numpy(given).to(model.device)
                candidates.append(
                    generate_partial(msdm_model, full, known, msdm_sigmas, 0.0, 0, gm).cpu().numpy()
                )
            stack = np.stack(candidates)  # [C, n, N, L]
            norms = np.linalg.norm(stack[:, :, idx_j].reshape(len(candidates), n, -1), axis=-1)
            best = stack[norms.argmax(0), np.arange(n)]
            rows.append({"task": task, "given": cond, "model": f"MSDM (best of {spec['msdm_best_of']} by L2 norm)",
                         "fad": fad_of_mixes(encoder, real, best.sum(1), rate)})  # fmt: skip
        LOG.info("generation %s: %s", task, [r["fad"] for r in rows if r["task"] == task])
    return rows, examples


@torch.no_grad()
def self_prompted(model: Model, tracks, spec: dict, encoder, seed: int) -> tuple[list[dict], list]:
    """The unsupervised model (thesis: MTG-Jamendo with CLAP): samples prompted with the audio
    embedding of a test chunk against unprompted ones (the null embedding). FAD against every test
    chunk, and the mean cosine similarity between each sample's embedding and its prompt chunk's,
    both centred on the test chunks' mean embedding (beside it, the similarity to another chunk's
    embedding, and the null embedding's samples: what no adherence scores)."""
    from harness.gmsdi.data import audio_embeddings

    n, length, w = spec["samples"], round(spec["seconds"] * model.rate), float(spec["w"])
    mixes = [t.sum(0, keepdims=True) for t in tracks]
    chunks = segments_with_sources(mixes, length, 1)
    if len(chunks) < n:
        raise HarnessError(f"only {len(chunks)} test chunks of {spec['seconds']} s with sound, {n} asked")
    rng = np.random.default_rng(derive_seed(seed, "gmsdi", "self-prompted"))
    refs = np.stack([chunks[i] for i in sorted(rng.choice(len(chunks), n, replace=False))])  # [n, 1, L]
    from harness.io.wav import resample

    real = [resample(c, model.rate, encoder.sample_rate) for c in chunks]
    ref_emb = audio_embeddings(encoder, refs, model.rate)
    prompts = audio_embeddings(model.embedder, refs, model.rate) if model.embedder else ref_emb
    if not isinstance(model.embedding_mean, torch.Tensor) or not isinstance(
        model.embedding_std, torch.Tensor
    ):
        raise HarnessError("the self-conditioned model file holds no embedding statistics")
    prompts = (prompts - model.embedding_mean) / model.embedding_std
    sigmas = Schedule(**spec["schedule"]).sigmas()
    rows, examples, outputs = [], [], {}
    for name, prompt, weight in (("own embedding of a test chunk", prompts.to(model.device), w),
                                 ("null embedding", model.null.expand(n, -1), 0.0)):  # fmt: skip
        gen = torch.Generator(device=model.device).manual_seed(
            derive_seed(seed, "gmsdi", "self-prompted", name)
        )

        def score(v, s, prompt=prompt, weight=weight):
            return eq.guided_score(model.denoise, v, s, prompt[:, None], model.null.expand(n, 1, -1), weight)

        outputs[name] = eq.adpm2(score, (n, 1, length), sigmas, gen, device=model.device).cpu().numpy()
    cos = torch.nn.functional.cosine_similarity
    center = torch.from_numpy(
        np.asarray(encoder.embed(real), np.float32).mean(0)
    )  # cosines of centred embeddings
    ref_emb = ref_emb - center
    for name, out in outputs.items():
        emb = audio_embeddings(encoder, out, model.rate) - center
        row = {"prompt": name, "w": w if name.startswith("own") else 0.0,
               "fad": fad_of_mixes(encoder, real, out[:, 0], model.rate),
               "cosine_to_prompt_chunk": round(float(cos(emb, ref_emb, dim=1).mean()), 4),
               "cosine_to_other_chunk": round(float(cos(emb, ref_emb.roll(1, 0), dim=1).mean()), 4)}  # fmt: skip
        rows.append(row)
        LOG.info("self-prompted (%s): %s", name, row)
    for i in range(min(spec["examples"], n)):
        examples.append((f"prompt_{i + 1}", {"prompt chunk": refs[i, 0], **{
            f"sample ({name})": out[i, 0] for name, out in outputs.items()}}))  # fmt: skip
    return rows, examples
