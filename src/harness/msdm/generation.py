"""Total and partial generation on the test set, scored with the sub-FAD (thesis 6.3.2): given
D_real, the ground-truth test mixture chunks, and a set I of given stems (none for total
generation), D_gen holds the sums of the given stems and the generated ones, and
sub-FAD = FAD(D_real, D_gen)."""

from __future__ import annotations

import json

import numpy as np
import torch

from harness.audio.arrays import active_chunks, load_tracks, subsets
from harness.audio.examples import write_examples
from harness.core.atomic import atomic_dir
from harness.core.config import settings_arg
from harness.core.logs import LOG
from harness.core.rows import write_rows_csv
from harness.core.seeds import derive_seed
from harness.io.wav import resample
from harness.metrics.fad import fad_of_mixes
from harness.msdm.inference import Schedule, generate_given, generate_total


def _encoder(args):
    from harness.audio.encoder import backbone_encoder

    return backbone_encoder(args.backbone, args.encoder, args.ckpt_dir)


def _real(args, spec: dict, rate: int, encoder) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """(D_real: every test mixture chunk with at least two active stems at the encoder's rate,
    the test tracks at the model's rate, the stems)."""
    from harness.audio.arrays import segments_with_sources

    tracks, _, stems = load_tracks(args.data, "test", rate)
    length = round(spec["seconds"] * rate)
    chunks = segments_with_sources(tracks, length, 2)
    real = [resample(c.sum(0, keepdims=True), rate, encoder.sample_rate) for c in chunks]
    return real, tracks, stems


def run_generation(args, device: str) -> None:
    from harness.diffusion.models import Padded, load_model

    spec = json.loads(args.generation)
    schedule = settings_arg(Schedule, json.dumps(spec["schedule"]), "--generation schedule")
    model, config = load_model(args.model, device)
    denoise, rate = Padded(model), config["sample_rate"]
    encoder = _encoder(args)
    real, tracks, stems = _real(args, spec, rate, encoder)
    length, n = round(spec["seconds"] * rate), spec["samples"]
    rng = np.random.default_rng(derive_seed(args.seed, "msdm", "chunks"))
    generator = torch.Generator(device=device).manual_seed(
        derive_seed(args.seed, "msdm", args.task, args.model)
    )
    rows, examples = [], []
    if args.task == "total":
        channels = 1 if config["mixture"] else len(config["stems"])
        out = generate_total(denoise, n, channels, length, schedule, spec["churn"], generator).cpu().numpy()
        rows.append({"generated": "all", "given": "", "fad": fad_of_mixes(encoder, real, out.sum(1), rate)})
        names = ["mixture"] if config["mixture"] else config["stems"]
        for i in range(spec["examples"]):
            examples.append((f"sample_{i + 1}", {**dict(zip(names, out[i])), "mix": out[i].sum(0)}))
    else:
        if config["mixture"] or config["stems"] != stems:
            from harness.core.errors import HarnessError

            raise HarnessError(f"partial generation needs an MSDM model of the stems {stems}")
        given = torch.from_numpy(active_chunks(tracks, length, n, rng)).to(device)
        for subset in subsets(stems):
            known = [s not in subset for s in stems]
            out = generate_given(
                denoise, given, known, schedule, spec["churn"], spec["corrections"], generator
            )
            out = out.cpu().numpy()
            label = ", ".join(s.capitalize() for s in subset)
            cond = ", ".join(s.capitalize() for s, k in zip(stems, known) if k)
            rows.append(
                {"generated": label, "given": cond, "fad": fad_of_mixes(encoder, real, out.sum(1), rate)}
            )
            LOG.info("partial generation %s | given %s: sub-FAD %.3f", label, cond, rows[-1]["fad"])
            name = "gen_" + "_".join(subset)
            tracks_out = {
                f"{s} ({'given' if k else 'generated'})": out[0, i]
                for i, (s, k) in enumerate(zip(stems, known))
            }
            examples.append(
                (name, {**tracks_out, "mix": out[0].sum(0), "original mix": given[0].sum(0).cpu().numpy()})
            )
    write_rows_csv(args.csv, rows, ["generated", "given", "fad"])
    with atomic_dir(args.examples) as tmp:
        write_examples(tmp, examples, rate)


def fad_baselines(args) -> None:
    """Rows that show what the FAD numbers mean at this scale: real training mixtures (the floor),
    mixtures of stems drawn from different test songs (total generation without coherence), and
    for each subset of Table 6.3 the Random baseline: the generated stems taken from another song."""
    spec = json.loads(args.generation)
    encoder = _encoder(args)
    rate = args.sample_rate
    real, tracks, stems = _real(args, spec, rate, encoder)
    length, n = round(spec["seconds"] * rate), spec["samples"]
    rng = np.random.default_rng(derive_seed(args.seed, "msdm", "fad-baselines"))
    train, _, _ = load_tracks(args.data, "train", rate)
    train_chunks = active_chunks(train, length, n, rng)
    rows = [
        {
            "row": "Real training mixtures (floor)",
            "task": "total",
            "fad": fad_of_mixes(encoder, real, train_chunks.sum(1), rate),
        }
    ]
    chunks = active_chunks(tracks, length, n, np.random.default_rng(derive_seed(args.seed, "msdm", "chunks")))
    shuffled = np.stack([chunks[rng.permutation(n), i] for i in range(len(stems))], axis=1)
    rows.append(
        {
            "row": "Stems of different songs",
            "task": "total",
            "fad": fad_of_mixes(encoder, real, shuffled.sum(1), rate),
        }
    )
    other = chunks[np.roll(np.arange(n), 1)]  # each chunk's missing stems from the next chunk
    for subset in subsets(stems):
        mask = np.array([s in subset for s in stems])[None, :, None]
        mixed = np.where(mask, other, chunks).sum(1)
        label = ", ".join(s.capitalize() for s in subset)
        cond = ", ".join(s.capitalize() for s in stems if s not in subset)
        rows.append(
            {
                "row": f"{label} | given {cond}",
                "task": "partial",
                "fad": fad_of_mixes(encoder, real, mixed, rate),
            }
        )
    write_rows_csv(args.csv, rows, ["row", "task", "fad"])
