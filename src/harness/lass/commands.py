"""``harness lass ...``: LASS on images (thesis ch. 5): MNIST, VQ-VAE, prior, likelihood counts,
separation with each sampler, baselines, timing and the chapter's tables and figure."""

from __future__ import annotations

import json

import numpy as np
import torch

from harness.core.args import (
    NAME,
    SEED,
    THREADS,
    Float,
    InDir,
    InFile,
    Int,
    IntoDir,
    JsonText,
    OutFile,
    StateFile,
    Text,
)
from harness.core.atomic import atomic_path, write_text
from harness.core.config import json_arg, settings_arg
from harness.core.errors import HarnessError
from harness.core.logs import LOG
from harness.core.rows import write_rows_csv
from harness.core.seeds import derive_seed
from harness.train.loop import RunFiles

# the per-mixture columns of `harness lass separate` (harness.lass.evaluate.separate_mixtures)
SEPARATION_COLUMNS = (
    "psnr",
    "psnr_unrefined",
    "psnr_ceiling",
    "true_pair_counted",
    "fallbacks",
    "truth_possible",
    "search_error",
    "psnr_reranked",
    "rerank_choice",
)


def _threads(args) -> None:
    from harness.core.runtime import deterministic_torch

    deterministic_torch(args.threads)


def _device(args) -> str:
    from harness.core.runtime import torch_device

    return torch_device(args.device)


def _train_split(args):
    """(train, held-out) images: the last ``--valid`` training digits are held out."""
    from harness.lass.data import load_split

    images = load_split(args.data, "train")
    if not 0 < args.valid < len(images):
        raise HarnessError(f"--valid {args.valid} must be between 1 and {len(images) - 1}")
    return images[: -args.valid], images[-args.valid :]


def _data(args):
    from harness.core.config import config_subschema
    from harness.core.inputs import json_value
    from harness.lass.data import prepare_celeba, prepare_mnist

    schema = config_subschema(f"/properties/lass/properties/{args.dataset}/properties/data")
    spec = json_value(args.spec, schema, f"--spec (lass.{args.dataset}.data)")
    if args.dataset == "mnist":
        prepare_mnist(spec.get("source", "<none>"), args.out, spec, args.downloads)
    else:
        prepare_celeba(spec, args.out, args.downloads)


def _files(args) -> RunFiles:
    return RunFiles(args.out, args.history, args.meta, args.checkpoint)


def _train_vqvae(args):
    from harness.lass.config import VQVAESettings
    from harness.lass.train import train_vqvae

    _threads(args)
    train, valid = _train_split(args)
    settings = settings_arg(VQVAESettings, args.settings, "--settings")
    seed = derive_seed(args.seed, "lass", "vqvae")
    train_vqvae(train, valid, settings, seed, _files(args), _device(args), args.stop_after)


def _train_prior(args):
    from harness.lass.config import PriorSettings
    from harness.lass.models import load_vqvae
    from harness.lass.train import encode_all, train_prior

    _threads(args)
    settings = settings_arg(PriorSettings, args.settings, "--settings")
    train, valid = _train_split(args)
    vqvae = load_vqvae(args.vqvae, _device(args))
    train_codes = encode_all(vqvae, train).flatten(1)
    valid_codes = encode_all(vqvae, valid).flatten(1)
    seed = derive_seed(args.seed, "lass", "prior")
    train_prior(train_codes, valid_codes, settings, vqvae.config.codes, seed, _files(args), _device(args),
                args.stop_after)  # fmt: skip


def _likelihood(args):
    from harness.lass.config import LikelihoodSettings
    from harness.lass.data import load_split
    from harness.lass.likelihood import count_likelihood, likelihood_stats
    from harness.lass.models import load_vqvae

    _threads(args)
    images = load_split(args.data, "train")
    settings = settings_arg(LikelihoodSettings, args.settings, "--settings")
    vqvae = load_vqvae(args.vqvae, _device(args))
    counts, mixtures = count_likelihood(
        vqvae, images, settings.epochs, settings.batch, derive_seed(args.seed, "lass", "likelihood")
    )
    meta = likelihood_stats(counts, args.dataset, mixtures)
    counts.save(args.out, meta)
    write_text(args.meta, json.dumps(meta, indent=1) + "\n")
    LOG.info("likelihood: %d non-zeros, density %.3f%%", counts.nnz, meta["density_percent"])


def _load_lass(args):
    from harness.lass.likelihood import Likelihood, SparseCounts
    from harness.lass.models import load_prior, load_vqvae

    device = _device(args)
    vqvae = load_vqvae(args.vqvae, device)
    prior = load_prior(args.prior, device)
    likelihood = Likelihood(SparseCounts.load(args.counts), device)
    if likelihood.codes != vqvae.config.codes:
        raise HarnessError(f"likelihood has K = {likelihood.codes} codes but the VQ-VAE {vqvae.config.codes}")
    return vqvae, prior, likelihood


def _mixture_sources(args, n: int, device: str):
    from harness.lass.data import load_split, mixture_pairs

    images = load_split(args.data, args.split)
    pairs = mixture_pairs(len(images), n, derive_seed(args.seed, "lass", "mixtures", args.mixture_set))
    return (
        torch.from_numpy(images[pairs[:, 0]]).to(device),
        torch.from_numpy(images[pairs[:, 1]]).to(device),
        pairs,
    )


def _sampler(text: str):
    from harness.lass.separate import Sampler

    spec = json_arg(text, "--sampler")
    if not isinstance(spec, dict):
        raise HarnessError("--sampler must be a JSON mapping")
    try:
        return Sampler(**spec)
    except TypeError as err:
        raise HarnessError(f"--sampler: {err}") from None


def _refine(text: str):
    from harness.lass.config import RefineSettings

    return settings_arg(RefineSettings, text, "--refine")


def _separate(args):
    from harness.lass.config import RerankSettings
    from harness.lass.evaluate import fid_summary, separate_mixtures

    _threads(args)
    vqvae, prior, likelihood = _load_lass(args)
    x1, x2, pairs = _mixture_sources(args, args.mixtures, _device(args))
    sampler, refine = _sampler(args.sampler), _refine(args.refine)
    rerank = settings_arg(RerankSettings, args.rerank, "--rerank") if args.rerank else None
    seed = derive_seed(args.seed, "lass", "separate", args.mixture_set, args.sampler)
    timing = {}
    e1, e2, rows = separate_mixtures(vqvae, prior, likelihood, x1, x2, sampler, refine, seed,
                                     ceiling=not args.no_ceiling, rerank=rerank, timing=timing)  # fmt: skip
    for row, (a, b) in zip(rows, pairs):
        row.update(source_1=int(a), source_2=int(b))
    columns = [c for c in SEPARATION_COLUMNS if c in rows[0]]  # without the ceiling if it was left out
    write_rows_csv(args.csv, rows, ["mixture", "source_1", "source_2", *columns])
    if args.summary:
        summary = {"mixtures": len(rows), "sampler": json.loads(args.sampler), "split": args.split,
                   "refine": json.loads(args.refine),
                   "mean_psnr": float(np.mean([r["psnr"] for r in rows])),
                   "fallbacks": int(sum(r["fallbacks"] for r in rows)),
                   "positions": len(rows) * int(np.prod(vqvae.encode(x1[:1]).shape[1:]))}  # fmt: skip
        if "psnr_reranked" in rows[0]:
            summary.update(rerank=json.loads(args.rerank),
                           mean_psnr_reranked=float(np.mean([r["psnr_reranked"] for r in rows])),
                           rerank_seconds_per_mixture=timing["rerank_seconds"] / len(rows))  # fmt: skip
        if args.inception_weights:
            summary.update(fid_summary(args.inception_weights, x1, x2, e1, e2))
        write_text(args.summary, json.dumps(summary, indent=1) + "\n")
    if args.estimates:
        with atomic_path(args.estimates) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, estimate_1=e1.cpu().numpy(), estimate_2=e2.cpu().numpy(),
                                source_1=x1.cpu().numpy(), source_2=x2.cpu().numpy(), pairs=pairs)  # fmt: skip


def _baselines(args):
    from harness.lass.config import NMFSettings
    from harness.lass.data import load_split
    from harness.lass.evaluate import baseline_rows

    _threads(args)
    if (args.vqvae is None) != (args.refine is None):
        raise HarnessError("--vqvae and --refine go together (the ceiling refines the sources' own codes)")
    x1, x2, pairs = _mixture_sources(args, args.mixtures, "cpu")
    settings = settings_arg(NMFSettings, args.nmf, "--nmf")
    train = load_split(args.data, "train")
    ceiling = None
    if args.vqvae:
        from harness.lass.evaluate import ceiling_psnr
        from harness.lass.models import load_vqvae

        ceiling = ceiling_psnr(load_vqvae(args.vqvae, "cpu"), x1, x2, _refine(args.refine))
        LOG.info("ceiling (the sources' own codes refined): %.2f dB", float(ceiling.mean()))
    rows = baseline_rows(train, x1, x2, pairs, settings, derive_seed(args.seed, "lass", "nmf"), args.threads,
                         ceiling)  # fmt: skip
    write_rows_csv(args.csv, rows)


def _timing(args):
    from harness.lass.evaluate import time_separations

    _threads(args)
    vqvae, prior, likelihood = _load_lass(args)
    x1, x2, _ = _mixture_sources(args, args.repeats, _device(args))
    generator = torch.Generator(device=x1.device).manual_seed(derive_seed(args.seed, "lass", "timing"))
    out = time_separations(vqvae, prior, likelihood, x1, x2, _sampler(args.sampler), json.loads(args.sampler),
                           _refine(args.refine), generator)  # fmt: skip
    write_text(args.out, json.dumps(out, indent=1) + "\n")


def _report(args):
    from harness.lass.report import write_report

    write_report(
        likelihood_meta=args.likelihood_meta, test_csv=args.test_csv, test_summary=args.test_summary,
        baselines_csv=args.baselines_csv, timing_thesis_json=args.timing_thesis_settings,
        sampler_csvs=dict(item.split("=", 1) for item in args.sampler_csv), sampler_names=json_arg(args.sampler_names, "--sampler-names"),
        timing_json=args.timing, estimates=args.estimates, out_dir=args.out_dir, figure=args.figure,
        test_sampler=args.test_sampler, celeba_likelihood_meta=args.celeba_likelihood_meta,
        celeba_summary=args.celeba_summary, audio=_audio_report(args),
    )  # fmt: skip


def _audio_report(args) -> dict | None:
    """``write_report``'s audio arguments, when the --audio-* files are given (all or none)."""
    given = [
        args.audio_likelihood_meta,
        args.audio_test_csv,
        args.audio_test_summary,
        args.audio_baselines_csv,
    ]
    if not any(given):
        return None
    if not all(given):
        raise HarnessError("the audio report needs --audio-likelihood-meta, --audio-test-csv, "
                           "--audio-test-summary and --audio-baselines-csv together")  # fmt: skip
    return {"likelihood_meta": args.audio_likelihood_meta, "test_csv": args.audio_test_csv,
            "test_summary": args.audio_test_summary, "baselines_csv": args.audio_baselines_csv,
            "sampler_csvs": dict(item.split("=", 1) for item in args.audio_sampler_csv),
            "sampler_names": json_arg(args.audio_sampler_names or "{}", "--audio-sampler-names"),
            "test_sampler": args.audio_test_sampler or "", "dataset": args.audio_dataset}  # fmt: skip


# ---- LASS on music (thesis 5.4.2): drums + bass, Tables 5.1, 5.3-5.5 (harness.lass.audio) ----

AUDIO_COLUMNS = ("sdr_1", "sdr_2", "ceiling_1", "ceiling_2", "true_pair_counted", "fallbacks", "seconds")


def _read_chunks(path: str, split: str) -> dict:
    """The ``harness lass audio-chunks`` file: chunks ``[n, 2, L]`` of ``split``, stems, rate."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in (split, "stems", "sample_rate")}
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as err:
        raise HarnessError(f"audio chunks {path} are corrupt or lack {split}: {str(err)[:120]}") from None
    chunks = data[split]
    if data["stems"].shape != (2,) or data["sample_rate"].ndim != 0:
        raise HarnessError(f"{path}: stems must name 2 stems and sample_rate be one number")
    if chunks.ndim != 3 or chunks.shape[1] != 2 or not len(chunks) or chunks.dtype != np.float32:
        raise HarnessError(f"{path}: {split} must hold float32 chunks [n, 2, samples], got {chunks.shape}")
    return {
        "chunks": chunks,
        "stems": [str(s) for s in data["stems"]],
        "sample_rate": int(data["sample_rate"]),
    }


def _audio_tracks(args, chunks: dict):
    from harness.audio.arrays import load_tracks

    return load_tracks(args.dataset, "train", chunks["sample_rate"], chunks["stems"])[0]


def _audio_chunks(args):
    from harness.lass.audio import chunk_length, mixture_chunks

    length = chunk_length(args.seconds, args.sample_rate, args.multiple)
    out = {"stems": np.array(args.stems), "sample_rate": np.array(args.sample_rate)}
    for split, n in (("valid", args.valid), ("test", args.test)):
        seed = derive_seed(args.seed, "lass", "audio", split)
        out[split], names = mixture_chunks(args.dataset, split, args.stems, args.sample_rate, length, n, seed)
        out[f"{split}_names"] = np.array(names)
    with atomic_path(args.out) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **out)
    LOG.info("audio chunks: %d valid and %d test mixtures of %d samples", args.valid, args.test, length)


def _train_audio_vqvae(args):
    from harness.lass.audio import AudioVQVAESettings, train_audio_vqvae

    _threads(args)
    chunks = _read_chunks(args.chunks, "valid")
    settings = settings_arg(AudioVQVAESettings, args.settings, "--settings")
    seed = derive_seed(args.seed, "lass", "audio", "vqvae")
    train_audio_vqvae(_audio_tracks(args, chunks), chunks["chunks"], settings, seed, _files(args), _device(args),
                      args.stop_after)  # fmt: skip


def _train_audio_prior(args):
    from harness.lass.audio import encode_waves, prior_windows
    from harness.lass.config import PriorSettings
    from harness.lass.models import load_audio_vqvae
    from harness.lass.train import train_prior

    _threads(args)
    chunks = _read_chunks(args.chunks, "valid")
    if args.stem not in chunks["stems"]:
        raise HarnessError(f"--stem {args.stem!r} is not one of the chunks' stems {chunks['stems']}")
    row = chunks["stems"].index(args.stem)
    settings = settings_arg(PriorSettings, args.settings, "--settings")
    vqvae = load_audio_vqvae(args.vqvae, _device(args))
    valid = encode_waves(vqvae, chunks["chunks"][:, row])
    train = prior_windows(vqvae, _audio_tracks(args, chunks), row, valid.shape[1], args.window_hop)
    LOG.info("%s prior: %d training windows of %d codes", args.stem, len(train), valid.shape[1])
    seed = derive_seed(args.seed, "lass", "audio", "prior", args.stem)
    train_prior(
        train, valid, settings, vqvae.config.codes, seed, _files(args), _device(args), args.stop_after
    )


def _audio_likelihood(args):
    from harness.lass.audio import AudioLikelihoodSettings, count_audio_likelihood
    from harness.lass.likelihood import likelihood_stats
    from harness.lass.models import load_audio_vqvae

    _threads(args)
    chunks = _read_chunks(args.chunks, "valid")
    settings = settings_arg(AudioLikelihoodSettings, args.settings, "--settings")
    vqvae = load_audio_vqvae(args.vqvae, _device(args))
    seed = derive_seed(args.seed, "lass", "audio", "likelihood")
    counts = count_audio_likelihood(vqvae, _audio_tracks(args, chunks), settings, seed)
    meta = likelihood_stats(counts, args.dataset_name, settings.pairs)
    counts.save(args.out, meta)
    write_text(args.meta, json.dumps(meta, indent=1) + "\n")
    LOG.info("audio likelihood: %d non-zeros, density %.4f%%", counts.nnz, meta["density_percent"])


def _separate_audio(args):
    from harness.lass.audio import separate_chunks
    from harness.lass.likelihood import Likelihood, SparseCounts
    from harness.lass.models import load_audio_vqvae, load_prior
    from harness.lass.separate import PriorPair

    _threads(args)
    device = _device(args)
    chunks = _read_chunks(args.chunks, args.split)
    vqvae = load_audio_vqvae(args.vqvae, device)
    priors = [load_prior(p, device) for p in args.priors]
    likelihood = Likelihood(SparseCounts.load(args.counts), device)
    if likelihood.codes != vqvae.config.codes:
        raise HarnessError(f"likelihood has K = {likelihood.codes} codes but the VQ-VAE {vqvae.config.codes}")
    for path, prior in zip(args.priors, priors):
        if prior.config.vocab_size != vqvae.config.codes + 1:
            raise HarnessError(
                f"{path}: a prior over {prior.config.vocab_size - 1} codes, the VQ-VAE has {vqvae.config.codes}"
            )
    sampler = _sampler(args.sampler)
    seed = derive_seed(args.seed, "lass", "audio", "separate", args.split, args.sampler)
    estimates, rows = separate_chunks(vqvae, PriorPair(*priors, vqvae.config.codes), likelihood, chunks["chunks"],
                                      sampler, chunks["sample_rate"], seed)  # fmt: skip
    write_rows_csv(args.csv, rows, ["mixture", *AUDIO_COLUMNS])
    if args.summary:
        summary = {"mixtures": len(rows), "split": args.split, "stems": chunks["stems"],
                   "sample_rate": chunks["sample_rate"], "samples": int(chunks["chunks"].shape[-1]),
                   "sampler": json.loads(args.sampler),
                   "seconds": [r["seconds"] for r in rows], "device": device, "threads": args.threads,
                   "vqvae": {"codes": vqvae.config.codes, "dim": vqvae.config.dim, "hop": vqvae.config.hop},
                   "fallbacks": int(sum(r["fallbacks"] for r in rows)),
                   "positions": len(rows) * chunks["chunks"].shape[-1] // vqvae.config.hop}  # fmt: skip
        write_text(args.summary, json.dumps(summary, indent=1) + "\n")
    if args.estimates:
        with atomic_path(args.estimates) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, estimates=estimates, sources=chunks["chunks"])


def _audio_baselines(args):
    from harness.audio import blind
    from harness.audio.separators import load_separator, separate_supervised
    from harness.lass.audio import score_rows

    _threads(args)
    data = _read_chunks(args.chunks, args.split)
    chunks, rate = data["chunks"], data["sample_rate"]
    mixtures = chunks.sum(1)  # x1 + x2: what the blind methods and the supervised models take
    rows = score_rows("mixture", chunks, np.repeat(mixtures[:, None], 2, 1), rate)
    seed = derive_seed(args.seed, "lass", "audio", "blind")
    for method in args.blind:
        estimates = np.stack([blind.separate(method, y, rate, seed) for y in mixtures])
        rows += score_rows(method, chunks, estimates, rate, permute=True)
        LOG.info("blind %s done", method)
    for item in args.supervised:
        name, path = item.split("=", 1)
        model, config = load_separator(path, "cpu")
        if config["sample_rate"] != rate or list(config["stems"]) != data["stems"]:
            raise HarnessError(f"{path}: a separator of {config['stems']} at {config['sample_rate']} Hz, "
                               f"the chunks hold {data['stems']} at {rate} Hz")  # fmt: skip
        estimates = separate_supervised(model, torch.from_numpy(mixtures[:, None])).numpy()
        rows += score_rows(name, chunks, estimates, rate)
    write_rows_csv(args.csv, rows, ["method", "mixture", "sdr_1", "sdr_2"])


def register(sub, step) -> None:
    """Add the lass steps to the ``lass`` subparser ``sub`` (``step`` adds --log/-v)."""
    p = step(
        sub, "data", _data, "Prepare MNIST (package copy or IDX download) or CelebA 32x32 as one npz file"
    )
    p.add_argument("--dataset", choices=["mnist", "celeba"], required=True)
    p.add_argument(
        "--spec", type=JsonText(), required=True, help="JSON: the dataset's lass.<dataset>.data config"
    )
    p.add_argument("--downloads", type=IntoDir(), required=True, help="folder for the downloaded files")
    p.add_argument("--out", type=OutFile(), required=True)
    _register_training(sub, step)
    _register_separation(sub, step)
    _register_audio(sub, step)
    _register_report(sub, step)


def _common(p, models=False, mixtures=False, device=True) -> None:
    p.add_argument("--data", type=InFile("npz"), required=True, help="prepared MNIST npz")
    p.add_argument("--seed", type=SEED, required=True)
    p.add_argument("--threads", type=THREADS, required=True)
    if device:  # the baselines run on the CPU (scikit-learn)
        p.add_argument("--device", choices=["cpu", "cuda"], required=True)
    if models:
        p.add_argument("--vqvae", type=InFile("pt"), required=True)
        p.add_argument("--prior", type=InFile("pt"), required=True)
        p.add_argument("--counts", type=InFile("pt"), required=True)
    if mixtures:
        p.add_argument("--mixture-set", type=NAME, default="test", help="name of the seeded mixture set")
        p.add_argument(
            "--split",
            choices=["train", "valid", "test"],
            default="test",
            help="split the mixtures' sources come from",
        )


def _training(p, schema: str) -> None:
    _common(p)
    p.add_argument("--settings", type=JsonText(schema=schema), required=True, help="JSON hyperparameters")
    p.add_argument("--valid", type=Int(1, 10**7), required=True, help="held-out training digits")
    for name in ("out", "history", "meta"):
        p.add_argument(f"--{name}", type=OutFile(), required=True)
    p.add_argument("--checkpoint", type=StateFile(), required=True)
    p.add_argument("--stop-after", type=Int(1, 10**9), help=argparse_suppress())


def _register_training(sub, step) -> None:
    p = step(sub, "train-vqvae", _train_vqvae, "Train the VQ-VAE (resumable)")
    _training(p, "/$defs/lass_vqvae")
    p = step(sub, "train-prior", _train_prior, "Train the GPT-2 prior over VQ-VAE codes (resumable)")
    _training(p, "/$defs/lass_prior")
    p.add_argument("--vqvae", type=InFile("pt"), required=True)

    p = step(sub, "likelihood", _likelihood, "Count the sparse likelihood tensor over training mixtures")
    _common(p)
    p.add_argument("--vqvae", type=InFile("pt"), required=True)
    p.add_argument(
        "--settings",
        type=JsonText(schema="/$defs/lass_likelihood"),
        required=True,
        help='JSON: {"epochs": passes over random pairs, "batch": pairs per step}',
    )
    p.add_argument("--dataset", type=NAME, default="mnist", help="the dataset's name in the statistics")
    p.add_argument("--out", type=OutFile(), required=True)
    p.add_argument("--meta", type=OutFile(), required=True)


def _sampler_and_refine(p) -> None:
    p.add_argument(
        "--sampler",
        type=JsonText(schema="/$defs/lass_sampler"),
        required=True,
        help='JSON, e.g. {"kind": "top_k", "candidates": 64, "top_k": 32}',
    )
    p.add_argument(
        "--refine",
        type=JsonText(schema="/$defs/lass_refine"),
        required=True,
        help='JSON: {"steps": T, "alpha": 0.1}',
    )


def _register_separation(sub, step) -> None:
    p = step(sub, "separate", _separate, "Separate test mixtures with one sampler; PSNR per mixture")
    _common(p, models=True, mixtures=True)
    p.add_argument("--mixtures", type=Int(1, 100_000), required=True)
    _sampler_and_refine(p)
    p.add_argument(
        "--no-ceiling",
        action="store_true",
        help="skip refining the sources' own codes (psnr_ceiling): it depends on the mixtures only, "
        "not on the sampler, and doubles the refinement's cost",
    )
    p.add_argument(
        "--rerank",
        type=JsonText(schema="/$defs/lass_rerank"),
        help='JSON {"candidates": R, "steps": n}: also score the prior re-ranking (ours) of the R best '
        "candidates by L2, each refined n steps (psnr_reranked, rerank_choice); the estimates stay L2's",
    )
    p.add_argument("--csv", type=OutFile(), required=True)
    p.add_argument("--estimates", type=OutFile(), help="npz of the separated images")
    p.add_argument("--summary", type=OutFile(), help="JSON: mean PSNR and, with --inception-weights, FID")
    p.add_argument(
        "--inception-weights",
        type=InFile("pt"),
        help="local Inception-v3 weights for FID (nothing is downloaded)",
    )

    p = step(sub, "baselines", _baselines,
             "Average and NMF separations of the same test mixtures, and the ceiling (the sources' own codes refined)")  # fmt: skip
    _common(p, mixtures=True, device=False)
    p.add_argument("--mixtures", type=Int(1, 100_000), required=True)
    p.add_argument(
        "--nmf",
        type=JsonText(schema="/properties/lass/properties/nmf"),
        required=True,
        help="JSON: components, train_images, max_iter",
    )
    p.add_argument("--vqvae", type=InFile("pt"), help="with --refine: also the ceiling (psnr_ceiling)")
    p.add_argument(
        "--refine",
        type=JsonText(schema="/$defs/lass_refine"),
        help="JSON: the separations' refinement, applied to the sources' own codes",
    )
    p.add_argument("--csv", type=OutFile(), required=True)

    p = step(sub, "timing", _timing, "Seconds per separation (sampling, selection, refinement), repeated")
    _common(p, models=True, mixtures=True)
    p.add_argument("--repeats", type=Int(1, 10**5), required=True)
    _sampler_and_refine(p)
    p.add_argument("--out", type=OutFile(), required=True)


def _audio_common(p, dataset=False, vqvae=False) -> None:
    p.add_argument("--chunks", type=InFile("npz"), required=True, help="from `harness lass audio-chunks`")
    if dataset:
        p.add_argument("--dataset", type=InDir(), required=True, help="the stem dataset (its train tracks)")
    if vqvae:
        p.add_argument("--vqvae", type=InFile("pt"), required=True)
    p.add_argument("--seed", type=SEED, required=True)
    p.add_argument("--threads", type=THREADS, required=True)
    p.add_argument("--device", choices=["cpu", "cuda"], required=True)


def _audio_training(p, schema: str, vqvae=False) -> None:
    _audio_common(p, dataset=True, vqvae=vqvae)
    p.add_argument("--settings", type=JsonText(schema=schema), required=True, help="JSON hyperparameters")
    for name in ("out", "history", "meta"):
        p.add_argument(f"--{name}", type=OutFile(), required=True)
    p.add_argument("--checkpoint", type=StateFile(), required=True)
    p.add_argument("--stop-after", type=Int(1, 10**9), help=argparse_suppress())


def _register_audio(sub, step) -> None:
    p = step(
        sub, "audio-chunks", _audio_chunks, "Validation and test mixtures: aligned 2-stem chunks of songs"
    )
    p.add_argument("--dataset", type=InDir(), required=True, help="a stem dataset (harness audio embedded)")
    p.add_argument("--stems", type=NAME, nargs=2, required=True, help="source 1 and source 2")
    p.add_argument("--sample-rate", type=Int(1000, 384000), required=True)
    p.add_argument("--seconds", type=Float(0, 3600, lo_open=True), required=True)
    p.add_argument(
        "--multiple", type=Int(1, 10**6), required=True, help="chunk length rounds up to it (the hop)"
    )
    p.add_argument("--valid", type=Int(1, 10**6), required=True)
    p.add_argument("--test", type=Int(1, 10**6), required=True)
    p.add_argument("--seed", type=SEED, required=True)
    p.add_argument("--out", type=OutFile(), required=True)

    p = step(sub, "train-audio-vqvae", _train_audio_vqvae, "Train the audio VQ-VAE on stems and mixtures")
    _audio_training(p, "/$defs/lass_audio_vqvae")
    p = step(sub, "train-audio-prior", _train_audio_prior, "Train one stem's GPT-2 prior over audio codes")
    _audio_training(p, "/$defs/lass_prior", vqvae=True)
    p.add_argument("--stem", type=NAME, required=True)
    p.add_argument("--window-hop", type=Int(1, 10**6), required=True, help="codes between training windows")

    p = step(sub, "audio-likelihood", _audio_likelihood, "Count L over random (stem 1, stem 2) crop pairs")
    _audio_common(p, dataset=True, vqvae=True)
    p.add_argument("--settings", type=JsonText(schema="/$defs/lass_audio_likelihood"), required=True)
    p.add_argument("--name", dest="dataset_name", type=NAME, default="audio")
    p.add_argument("--out", type=OutFile(), required=True)
    p.add_argument("--meta", type=OutFile(), required=True)

    p = step(
        sub, "separate-audio", _separate_audio, "LASS on audio mixtures with one sampler; SDR per mixture"
    )
    _audio_common(p, vqvae=True)
    p.add_argument("--split", choices=["valid", "test"], required=True)
    p.add_argument(
        "--priors", type=InFile("pt"), nargs=2, required=True, help="the priors of stem 1 and stem 2"
    )
    p.add_argument("--counts", type=InFile("pt"), required=True)
    p.add_argument("--sampler", type=JsonText(schema="/$defs/lass_sampler"), required=True)
    p.add_argument("--csv", type=OutFile(), required=True)
    p.add_argument("--summary", type=OutFile())
    p.add_argument("--estimates", type=OutFile(), help="npz of the separations and sources")

    p = step(
        sub, "audio-baselines", _audio_baselines, "Blind and supervised separations of the same mixtures"
    )
    _audio_common(p)
    p.add_argument("--split", choices=["valid", "test"], required=True)
    p.add_argument("--blind", nargs="*", default=[], choices=["rpca", "ica", "hpss", "repet_sim", "ft2d"])
    p.add_argument("--supervised", type=Text(r"[A-Za-z0-9_.-]+=.+", 4096, "NAME=PT"), action="append",
                   default=[], help="NAME=PT: a separator from `harness msdm train-supervised`, repeated")  # fmt: skip
    p.add_argument("--csv", type=OutFile(), required=True)


def _register_report(sub, step) -> None:
    p = step(sub, "report", _report, "Tables 5.1-5.4 (our values) and Figure 5.3")
    p.add_argument("--likelihood-meta", type=InFile("json"), required=True)
    # the columns every test run writes: it leaves the ceiling to the baselines step (`lass_test`
    # passes --no-ceiling), and the prior re-ranking's columns come only where it ran
    test_columns = tuple(
        c for c in SEPARATION_COLUMNS if c not in ("psnr_ceiling", "psnr_reranked", "rerank_choice")
    )
    p.add_argument("--test-csv", type=InFile("csv", test_columns), required=True)
    p.add_argument(
        "--test-summary", type=InFile("json"), required=True, help="the test run's sampler and refinement"
    )
    p.add_argument("--test-sampler", type=NAME, required=True, help="the test run's sampler name")
    p.add_argument(
        "--baselines-csv", type=InFile("csv", ("average_psnr", "nmf_psnr", "psnr_ceiling")), required=True
    )
    p.add_argument(
        "--sampler-csv",
        type=Text(r"[A-Za-z0-9_.-]+=.+", 4096, "NAME=CSV"),
        action="append",
        default=[],
        help="NAME=CSV (Table 5.3), repeated",
    )
    p.add_argument(
        "--sampler-names", type=JsonText(own_schema=LABELS), required=True, help="JSON {NAME: row label}"
    )
    p.add_argument("--timing", type=InFile("json"), required=True)
    p.add_argument(
        "--timing-thesis-settings",
        type=InFile("json"),
        required=True,
        help="timing at the thesis's C and T (the --timing file where its run is at them: one row)",
    )
    p.add_argument("--estimates", type=InFile("npz"), required=True)
    p.add_argument("--out-dir", type=IntoDir(), required=True)
    p.add_argument("--figure", type=OutFile(), required=True)
    p.add_argument(
        "--celeba-likelihood-meta", type=InFile("json"), help="CelebA likelihood statistics (thesis scale)"
    )
    p.add_argument(
        "--celeba-summary", type=InFile("json"), help="CelebA separation summary with FID (thesis scale)"
    )
    # LASS on music: the Slakh rows of Tables 5.1, 5.3, 5.4 and Table 5.5
    p.add_argument("--audio-likelihood-meta", type=InFile("json"))
    p.add_argument("--audio-test-csv", type=InFile("csv", AUDIO_COLUMNS))
    p.add_argument("--audio-test-summary", type=InFile("json"))
    p.add_argument("--audio-baselines-csv", type=InFile("csv", ("method", "sdr_1", "sdr_2")))
    p.add_argument("--audio-sampler-csv", type=Text(r"[A-Za-z0-9_.-]+=.+", 4096, "NAME=CSV"), action="append",
                   default=[], help="NAME=CSV (Table 5.3's Slakh column), repeated")  # fmt: skip
    p.add_argument("--audio-sampler-names", type=JsonText(own_schema=LABELS), help="JSON {NAME: row label}")
    p.add_argument("--audio-test-sampler", type=NAME)
    p.add_argument("--audio-dataset", type=NAME, default="synthpop", help="the audio dataset's name")


LABELS = json.dumps({"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}})


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS
