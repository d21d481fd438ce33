"""``harness componet ...``: CompoNet (thesis section 6.5): the embedded base (VAE, latent pools,
U-Net), the adapter per dataset, Table 6.8's generations with MSDM / Random / ground truth and
examples of every task, and the report (Tables 6.6-6.8)."""

from __future__ import annotations

import argparse
import json

from harness.core.args import (
    SEED,
    THREADS,
    InDir,
    InFile,
    Int,
    IntoDir,
    JsonText,
    OutDir,
    OutFile,
    StateFile,
    Text,
)
from harness.core.config import settings_arg
from harness.core.errors import HarnessError
from harness.core.logs import LOG
from harness.core.seeds import derive_seed
from harness.train.loop import RunFiles

SCHEMA = "/properties/componet/properties"
BACKBONES = ["trained", "vggish", "pann", "clap", "encodec"]  # trained: the file given by --encoder
ENCODER = Text(r"(pkg:)?[A-Za-z0-9_.][A-Za-z0-9_./-]*", 500, "a directory or pkg:module/dir")


def _setup(args) -> str:
    from harness.core.runtime import deterministic_torch, torch_device

    deterministic_torch(args.threads)
    return torch_device(args.device)


def _files(args) -> RunFiles:
    return RunFiles(args.out, args.history, args.meta, args.checkpoint)


def _train_vae(args):
    import numpy as np

    from harness.audio.arrays import load_tracks
    from harness.componet.latent import MelSettings
    from harness.componet.train import RunSettings, train_vae

    device = _setup(args)
    mel = settings_arg(MelSettings, args.mel, "--mel")
    if args.pipeline:  # thesis scale: AudioLDM2's own VAE and vocoder
        from harness.componet.train import import_codec

        import_codec(args.pipeline, mel, _files(args))
        return
    if not args.data or not args.vae:
        raise HarnessError("train-vae needs --data and --vae (or --pipeline)")
    vae = json.loads(args.vae)
    tracks = []
    for root in args.data:
        tracks += load_tracks(root, "train", mel.sample_rate)[0]
    width = max(t.shape[0] for t in tracks)  # datasets with fewer stems get silent ones
    tracks = [np.pad(t, ((0, width - t.shape[0]), (0, 0))) for t in tracks]
    settings = settings_arg(RunSettings, json.dumps(vae["training"]), "--vae training")
    seed = derive_seed(args.seed, "componet", "vae")
    train_vae(
        tracks, mel, vae["model"], vae["kl_weight"], settings, seed, _files(args), device, args.stop_after
    )


def _latents(args):
    from harness.audio.arrays import load_tracks
    from harness.componet.train import load_codec, pool
    from harness.train.files import load_state, save_state

    device = _setup(args)
    codec = load_codec(load_state(args.vae, "componet-vae", "CompoNet VAE")).to(device)
    tracks, _, stems = load_tracks(args.data, "train", codec.mel_settings.sample_rate)
    seed = derive_seed(args.seed, "componet", "pool", args.dataset)
    out = pool(codec, tracks, stems, args.crops, seed, device)
    save_state(args.out, "componet-latents", {**out, "name": args.dataset})
    LOG.info("%s: latents %s of %d crops x %d sub-mixes", args.dataset, tuple(out["latents"].shape), args.crops,
             out["latents"].shape[1])  # fmt: skip


def _pools(paths: list[str]) -> dict[str, dict]:
    from harness.train.files import load_state

    pools = {}
    for path in paths:
        state = load_state(path, "componet-latents", "CompoNet latent pool")
        pools[state["name"]] = state
    return pools


def _train_base(args):
    from harness.componet.base import PromptBank, Schedule
    from harness.componet.tasks import all_pairs, prompt
    from harness.componet.train import BaseSettings, all_subsets, caption, train_base
    from harness.train.files import load_state

    device = _setup(args)
    tags = json.loads(args.tags)
    pools = _pools(args.latents)
    texts = []
    for name, p in pools.items():
        if set(tags.get(name, {})) != set(p["stems"]):
            raise HarnessError(f"--tags must name a tag for each stem of {name} ({p['stems']})")
        texts += [caption(s, tags[name]) for s in all_subsets(p["stems"]) if s]
        texts += [prompt(y, x, tags[name]) for y, x in all_pairs(p["stems"])]
    codec = load_state(args.vae, "componet-vae", "CompoNet VAE")
    schedule = settings_arg(Schedule, args.schedule, "--schedule")
    if args.pipeline:  # thesis scale: AudioLDM2's U-Net, schedule and prompt encoders
        from harness.componet.train import import_base

        if codec["config"].get("pipeline") != args.pipeline:
            raise HarnessError(f"{args.vae} is not the codec of the pipeline {args.pipeline}")
        import_base(args.pipeline, codec, tags, texts, schedule.sample_steps, _files(args))
        return
    missing = [
        f"--{k.replace('_', '-')}" for k in ("text_encoder", "unet", "settings") if not getattr(args, k)
    ]
    if missing:
        raise HarnessError(f"train-base needs {', '.join(missing)} (or --pipeline)")
    prompts = PromptBank.encode(args.text_encoder, texts)
    settings = settings_arg(BaseSettings, args.settings, "--settings")
    seed = derive_seed(args.seed, "componet", "base")
    train_base(pools, tags, prompts, codec, json.loads(args.unet), schedule, settings, seed, _files(args), device,
               args.stop_after)  # fmt: skip


def _train(args):
    from harness.componet.inference import load_base
    from harness.componet.train import BaseSettings, train_adapter
    from harness.train.files import load_state

    device = _setup(args)
    base = load_state(args.base, "componet-base", "CompoNet base model")
    [(name, data)] = _pools([args.latents]).items()
    tags = base["config"]["tags"].get(name)
    if tags is None:
        raise HarnessError(f"the base model {args.base} was not trained with {name}'s tags")
    unet, _, prompts, schedule = load_base(base)
    settings = settings_arg(BaseSettings, args.settings, "--settings")
    extra = {
        "base_unet_config": base["config"]["unet"],
        "stems": data["stems"],
        "tags": tags,
        "dataset": name,
    }
    seed = derive_seed(args.seed, "componet", "adapter", name)
    train_adapter(
        unet, data, tags, prompts, schedule, settings, seed, _files(args), device, extra, args.stop_after
    )


def _generate(args):
    import numpy as np
    import torch

    from harness.audio.arrays import load_tracks
    from harness.audio.encoder import backbone_encoder
    from harness.componet.evaluate import componet_answers, msdm_answers, queries, random_answers
    from harness.componet.inference import Model
    from harness.componet.tasks import TASK_NAMES, all_pairs, submix, task_of
    from harness.core.atomic import atomic_dir
    from harness.core.rows import write_rows_csv
    from harness.io.wav import write_wav
    from harness.metrics.fad import fad_of_mixes

    device = _setup(args)
    spec = json.loads(args.generation)
    model = Model.load(args.base, args.adapter, device=device)
    rate, length = model.codec.mel_settings.sample_rate, model.codec.mel_settings.samples
    tracks, _, stems = load_tracks(args.data, "test", rate)
    if stems != model.stems:
        raise HarnessError(f"the adapter knows the stems {model.stems}, {args.data} has {stems}")
    rng = np.random.default_rng(derive_seed(args.seed, "componet", "queries"))
    qs = queries(tracks, stems, spec["chunks"], length, rng)
    # drawn first: a test set without a Random answer stops before any sampling
    random = random_answers(
        qs, tracks, stems, length, np.random.default_rng(derive_seed(args.seed, "componet", "random"))
    )
    answers = {
        "componet": componet_answers(model, qs, spec["guidance"], derive_seed(args.seed, "componet", "gen"))
    }
    if args.msdm:
        from harness.diffusion.models import Padded, load_model
        from harness.diffusion.samplers import Schedule

        denoiser, config = load_model(args.msdm, device)
        if config["mixture"] or config["stems"] != stems:
            raise HarnessError(f"{args.msdm}: not an MSDM model of {stems}")
        sigmas = settings_arg(Schedule, args.msdm_schedule, "--msdm-schedule").sigmas()
        seed = derive_seed(args.seed, "componet", "msdm")
        answers["msdm"] = msdm_answers(Padded(denoiser), sigmas, qs, stems, spec["msdm_candidates"], seed, rate,
                                       config["sample_rate"])  # fmt: skip
    answers["random"] = random
    answers["truth"] = np.stack([submix(q.chunk, stems, q.x) for q in qs])
    answers["codec"] = model.through_codec(answers["truth"])  # what the codec alone costs
    encoder = backbone_encoder(args.backbone, args.encoder, args.ckpt_dir)
    real = list(answers["truth"])
    rows = [{"method": m, "fad": round(fad_of_mixes(encoder, real, a, rate), 4) if m != "truth" else "",
             "queries": len(qs), "encoder": args.backbone, "base": model.base} for m, a in answers.items()]  # fmt: skip
    write_rows_csv(args.csv, rows, ["method", "fad", "queries", "encoder", "base"])
    LOG.info("sub-FAD (%s): %s", encoder.name, {r["method"]: r["fad"] for r in rows})
    with atomic_dir(args.out_dir) as tmp:
        for i, q in enumerate(qs):
            name = f"{i:03d}.wav"
            write_wav(tmp / "conditioning" / name, submix(q.chunk, stems, q.y)[None], rate)
            for method, a in answers.items():
                write_wav(tmp / method / name, a[i][None], rate)
        (tmp / "queries.json").write_text(
            json.dumps([{"y": q.y, "x": q.x, "track": q.track} for q in qs], indent=1)
        )
    if args.tasks:  # one example of each task of Figure 6.6 on the first query's chunk
        from harness.audio.examples import write_examples

        chunk = qs[0].chunk
        on = [s for s in stems if np.linalg.norm(chunk[stems.index(s)]) / length >= 1.5e-5]
        pairs = all_pairs(on)
        examples = []
        for task in TASK_NAMES:
            y, x = next(p for p in pairs if task_of(*p) == task)
            inputs = submix(chunk, stems, y)[None]
            g = torch.Generator().manual_seed(derive_seed(args.seed, "componet", "task", task))
            out = model.perform(inputs, y, x, spec["guidance"], g)[0]
            examples.append((f"{task}_{'_'.join(y) or 'nothing'}_to_{'_'.join(x)}",
                             {"input (Y)": inputs[0], "CompoNet (X)": out, "truth (X)": submix(chunk, stems, x)}))  # fmt: skip
        with atomic_dir(args.tasks) as tmp:
            write_examples(tmp, examples, rate)


def _report(args):
    from harness.componet.report import write_report

    write_report(args)


def _run_outputs(p) -> None:
    for name in ("out", "history", "meta"):
        p.add_argument(f"--{name}", type=OutFile(), required=True)
    p.add_argument("--checkpoint", type=StateFile(), required=True)
    p.add_argument("--stop-after", type=Int(1, 10**9), help=argparse.SUPPRESS)


def _common(p) -> None:
    p.add_argument("--seed", type=SEED, required=True)
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu")
    p.add_argument("--threads", type=THREADS, default=1)


def register(sub, step) -> None:
    """Add the componet steps to the ``componet`` subparser ``sub`` (``step`` adds --log/-v)."""
    p = step(sub, "train-vae", _train_vae,
             "Train the embedded base's VAE on log-mels (resumable), or take an AudioLDM2 pipeline's")  # fmt: skip
    _common(p)
    p.add_argument("--data", type=InDir(), nargs="+", help="the datasets' folders (to train)")
    p.add_argument("--mel", type=JsonText(schema=f"{SCHEMA}/mel"), required=True)
    p.add_argument("--vae", type=JsonText(schema=f"{SCHEMA}/vae"), help="the VAE to train")
    p.add_argument("--pipeline", type=ENCODER, help="an AudioLDM2Pipeline directory: its VAE and vocoder")
    _run_outputs(p)

    p = step(sub, "latents", _latents, "VAE latents of every sub-mix of random training crops")
    _common(p)
    p.add_argument("--vae", type=InFile("pt"), required=True)
    p.add_argument("--data", type=InDir(), required=True)
    p.add_argument("--dataset", type=Text(r"[a-z0-9_]+", 100, "a dataset name"), required=True)
    p.add_argument("--crops", type=Int(1, 10**6), required=True)
    p.add_argument("--out", type=OutFile(), required=True)

    p = step(sub, "train-base", _train_base,
             "Train the embedded base U-Net on captioned sub-mixes (resumable), or take an AudioLDM2 pipeline's")  # fmt: skip
    _common(p)
    p.add_argument("--vae", type=InFile("pt"), required=True)
    p.add_argument("--latents", type=InFile("pt"), nargs="+", required=True)
    p.add_argument("--tags", type=JsonText(schema=f"{SCHEMA}/tags"), required=True)
    p.add_argument("--schedule", type=JsonText(schema=f"{SCHEMA}/base/properties/schedule"), required=True)
    p.add_argument("--text-encoder", type=ENCODER, help="to train: the prompts' text encoder")
    p.add_argument("--unet", type=JsonText(schema=f"{SCHEMA}/base/properties/unet"), help="to train")
    p.add_argument("--settings", type=JsonText(schema=f"{SCHEMA}/base/properties/training"), help="to train")
    p.add_argument("--pipeline", type=ENCODER, help="an AudioLDM2Pipeline directory: its U-Net and encoders")
    _run_outputs(p)

    p = step(sub, "train", _train, "Train the CompoNet adapter of one dataset, the base frozen (resumable)")
    _common(p)
    p.add_argument("--base", type=InFile("pt"), required=True)
    p.add_argument("--latents", type=InFile("pt"), required=True)
    p.add_argument("--settings", type=JsonText(schema=f"{SCHEMA}/adapter/properties/training"), required=True)
    _run_outputs(p)

    p = step(
        sub, "generate", _generate, "Table 6.8's generations and sub-FAD, WAV pairs for COCOLA, task examples"
    )
    _common(p)
    p.add_argument("--base", type=InFile("pt"), required=True)
    p.add_argument("--adapter", type=InFile("pt"), required=True)
    p.add_argument("--data", type=InDir(), required=True)
    p.add_argument("--generation", type=JsonText(schema=f"{SCHEMA}/generation"), required=True)
    p.add_argument("--msdm", type=InFile("pt"), help="the MSDM model of the same stems to compare with")
    p.add_argument("--msdm-schedule", type=JsonText(schema="/$defs/msdm_schedule"), help="with --msdm")
    p.add_argument("--encoder", type=InFile("pt"), help="the trained FAD encoder (else --backbone)")
    p.add_argument("--backbone", choices=BACKBONES, required=True, help="the config's audio.fad.encoder")
    p.add_argument("--ckpt-dir", type=InDir(may_be_absent=True), default="models/pretrained/fad")
    p.add_argument("--csv", type=OutFile(), required=True, help="sub-FAD of each method")
    p.add_argument("--out-dir", type=OutDir(), required=True, help="conditioning/ and one folder per method")
    p.add_argument("--tasks", type=OutDir(), help="one example of each task of Figure 6.6")

    p = step(sub, "report", _report, "Tables 6.6-6.8 (our values)")
    p.add_argument("--generation", type=Text(r"[a-z0-9_]+=.+", 4096, "DATASET=CSV"), action="append",
                   required=True, help="DATASET=sub-FAD CSV of `componet generate`, repeated")  # fmt: skip
    p.add_argument("--cocola", type=Text(r"[a-z0-9_]+/[a-z]+=.+", 4096, "DATASET/METHOD=JSON"), action="append",
                   default=[], help="DATASET/METHOD=summary JSON of `cocola score`, repeated")  # fmt: skip
    p.add_argument("--tasks", type=InFile("json"), help="the index.json of the task examples (Table 6.6)")
    p.add_argument("--names", type=JsonText(schema=f"{SCHEMA}/thesis_names"), required=True)
    p.add_argument(
        "--out-dir", type=IntoDir(), required=True, help="table_6_6.csv, table_6_7.csv, table_6_8.csv"
    )
