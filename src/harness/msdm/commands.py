"""``harness msdm ...``: MSDM / ISDM (thesis section 6.3): training, separation, total and partial
generation, the supervised baselines and Tables 6.1-6.3 with a listening page."""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from harness.core.args import (
    SEED,
    THREADS,
    Float,
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
from harness.core.atomic import atomic_dir, write_text
from harness.core.config import settings_arg
from harness.core.errors import HarnessError
from harness.core.logs import LOG
from harness.core.rows import write_rows_csv
from harness.core.seeds import derive_seed
from harness.train.loop import RunFiles

BACKBONES = ["trained", "vggish", "pann", "clap", "encodec"]  # trained: the file given by --encoder
STEM = Text(r"[A-Za-z0-9_]+", 64, "stem name")


def _setup(args) -> str:
    """Threads, and ``--device`` (``cuda`` on a machine without one stops with one line)."""
    from harness.core.runtime import deterministic_torch, torch_device

    deterministic_torch(args.threads)
    return torch_device(args.device)


def _files(args) -> RunFiles:
    return RunFiles(args.out, args.history, args.meta, args.checkpoint)


def _launch(processes: int) -> bool:
    """With ``--processes G`` > 1, outside a launched group: start G copies of this very command
    with torch.distributed's launcher (what ``accelerate launch`` uses), one per GPU (gloo on
    CPU), wait for them, and return True; inside the group (or with one process) return False."""
    import os
    import sys

    if processes <= 1 or "LOCAL_RANK" in os.environ:
        return False
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    LOG.info("launching %d data-parallel processes", processes)
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=processes, rdzv_backend="c10d",
                          rdzv_endpoint="localhost:0", run_id="harness", max_restarts=0)  # fmt: skip
    try:
        elastic_launch(config, entrypoint=sys.argv[0])(*sys.argv[1:])
    except Exception as err:  # torchrun raises ChildFailedError with every rank's traceback
        raise HarnessError(
            f"a data-parallel training process failed ({type(err).__name__}); see the log"
        ) from None
    return True


def _train(args):
    from harness.audio.arrays import load_tracks
    from harness.msdm.train import TrainSettings, train_model

    if _launch(args.processes):
        return
    device = _setup(args)
    settings = settings_arg(TrainSettings, args.settings, "--settings")
    if args.isdm:  # an ISDM stem model: its own steps and U-Net
        import dataclasses

        isdm = json.loads(args.isdm)
        settings = dataclasses.replace(settings, steps=isdm["steps"], unet=isdm["unet"])
    if (args.kind == "isdm") != bool(args.stem):
        raise HarnessError("--stem names the stem of an ISDM model, and only of one")
    tracks, _, stems = load_tracks(
        args.data, "train", settings.sample_rate, [args.stem] if args.stem else None
    )
    seed = derive_seed(args.seed, "msdm", args.kind, args.stem or "")
    train_model(tracks, stems, args.kind == "mixture", settings, seed, _files(args), device, args.stop_after)


def _train_supervised(args):
    from harness.audio.arrays import load_tracks
    from harness.msdm.baselines import SupervisedSettings, train_separator

    device = _setup(args)
    settings = settings_arg(SupervisedSettings, args.settings, "--settings")
    tracks, _, stems = load_tracks(args.data, "train", settings.sample_rate)
    seed = derive_seed(args.seed, "msdm", args.arch)
    train_separator(args.arch, tracks, stems, settings, seed, _files(args), device, args.stop_after)


def _import(args):
    from harness.diffusion.models import KIND, load_model
    from harness.train.files import load_state, save_state

    _, config = load_model(args.weights)  # refuses a file that is not an MSDM model
    if args.kind == "mixture" and not config["mixture"]:
        raise HarnessError(f"{args.weights}: a model of stems, not of mixtures")
    state = load_state(args.weights, KIND, "diffusion model")
    save_state(args.out, state.pop("kind"), state)
    LOG.info(
        "imported %s (stems %s%s)", args.weights, config["stems"], ", mixture" if config["mixture"] else ""
    )


def _eval_set(args, sample_rate: int):
    """(references per test track [N, samples], ids, stems, eval spec): the first ``seconds`` of
    each track, or whole tracks when ``seconds`` is null."""
    from harness.audio.arrays import evaluation_tracks

    spec = json.loads(args.eval)
    return (*evaluation_tracks(args.data, "test", sample_rate, spec["tracks"], spec["seconds"]), spec)


def _separate(args):
    from harness.audio.arrays import unwindow, windows
    from harness.metrics.sisdr import msdm_track_scores
    from harness.msdm.inference import Schedule, Variant, separate

    device = _setup(args)
    if bool(args.models) + bool(args.supervised) + bool(args.average) != 1:
        raise HarnessError("give one of --models (MSDM, or ISDM per stem), --supervised or --average")
    if args.average:
        model_stems, sample_rate = None, args.average
    elif args.models:
        from harness.msdm.models import load_separator

        denoise, model_stems, sample_rate = load_separator(args.models, device)
    else:
        from harness.msdm.baselines import load_separator as load_supervised

        model, config = load_supervised(args.supervised, device)
        model_stems, sample_rate = config["stems"], config["sample_rate"]
    refs, ids, stems, spec = _eval_set(args, sample_rate)
    model_stems = model_stems or stems
    if model_stems != stems:
        raise HarnessError(f"the models separate {model_stems}, the dataset has {stems}")
    parts, where = windows(refs, round(spec["window_seconds"] * sample_rate))
    mixtures = torch.from_numpy(parts.sum(1, keepdims=True))
    if args.models:
        if not (args.schedule and args.variant):
            raise HarnessError("diffusion separation needs --schedule and --variant")
        schedule = settings_arg(Schedule, args.schedule, "--schedule")
        chosen = json.loads(args.variant)  # checked against the config schema by --variant's type
        chosen.setdefault("gamma_over_sigma", None)
        chosen.setdefault("constrained", None)
        variant = Variant(**chosen)
        generator = torch.Generator(device=device).manual_seed(
            derive_seed(args.seed, "msdm", "separate", args.variant)
        )

        def run(batch):
            return separate(denoise, batch, stems, schedule, variant, generator)
    elif args.supervised:
        from harness.msdm.baselines import separate_supervised

        def run(batch):
            return separate_supervised(model, batch)
    else:  # the 'no signal' baseline: every source is y / N (SI-SDRi 0 by construction)

        def run(batch):
            return batch.expand(-1, len(stems), -1) / len(stems)

    size = spec["batch"]
    out = [run(mixtures[i : i + size].to(device)).cpu().numpy() for i in range(0, len(mixtures), size)]
    estimates = unwindow(np.concatenate(out), where, [r.shape[-1] for r in refs])
    summary, rows = msdm_track_scores(
        refs, estimates, stems, ids, sample_rate, spec["chunk_seconds"], spec["hop_seconds"]
    )
    write_rows_csv(args.csv, rows, ["track", "start", "end", *stems])
    write_text(args.summary, json.dumps({"stems": stems, **summary}, indent=1) + "\n")
    LOG.info("separation: %s", {k: round(v, 2) for k, v in summary.items() if k != "chunks"})
    if args.examples:
        from harness.msdm.report import write_separation_examples

        with atomic_dir(args.examples) as tmp:
            write_separation_examples(tmp, refs[0], estimates[0], stems, sample_rate, args.example_seconds)


def _generate(args):
    from harness.msdm.generation import run_generation

    device = _setup(args)
    run_generation(args, device)


def _fad_baselines(args):
    from harness.msdm.generation import fad_baselines

    _setup(args)
    fad_baselines(args)


def _report(args):
    from harness.msdm.report import write_report

    write_report(args)


def _listen(args):
    from harness.msdm.report import write_listening_page

    write_listening_page(args.out, args.examples)


def register(sub, step) -> None:
    """Add the msdm steps to the ``msdm`` subparser ``sub`` (``step`` adds --log/-v)."""
    p = step(
        sub,
        "train",
        _train,
        "Train MSDM, one ISDM stem model or the mixture model (resumable, data-parallel)",
    )
    _training(p, "/properties/msdm/properties/diffusion")
    p.add_argument("--kind", choices=["msdm", "isdm", "mixture"], required=True)
    p.add_argument("--stem", type=STEM, help="the stem of an ISDM model")
    p.add_argument("--isdm", type=JsonText(schema="/properties/msdm/properties/isdm"),
                   help="JSON msdm.isdm: steps and U-Net of an ISDM stem model, over --settings")  # fmt: skip
    p.add_argument("--processes", type=Int(1, 64), default=1, help="data-parallel processes (GPUs)")

    p = step(
        sub, "train-supervised", _train_supervised, "Train HDemucs or ConvTasNet on the stems (resumable)"
    )
    _training(p, "/properties/msdm/properties/supervised")
    p.add_argument("--arch", choices=["hdemucs", "convtasnet"], required=True)

    p = step(
        sub, "import", _import, "Take a user's trained MSDM weights instead of training (config `checkpoint`)"
    )
    p.add_argument("--weights", type=InFile("pt"), required=True)
    p.add_argument("--kind", choices=["msdm", "isdm", "mixture"], required=True)
    p.add_argument("--out", type=OutFile(), required=True)

    p = step(sub, "separate", _separate, "Separate the test songs; SI-SDRi with the MSDM protocol")
    _common(p)
    p.add_argument("--models", type=InFile("pt"), nargs="+", help="an MSDM model, or one ISDM model per stem")
    p.add_argument("--supervised", type=InFile("pt"), help="an HDemucs / ConvTasNet model")
    p.add_argument(
        "--average", type=Int(1000, 384000), help="the Average baseline (y / N) at this sample rate"
    )
    p.add_argument(
        "--eval",
        type=JsonText(schema="/properties/msdm/properties/separation/properties/eval"),
        required=True,
    )
    p.add_argument("--schedule", type=JsonText(schema="/$defs/msdm_schedule"), help="diffusion models only")
    p.add_argument("--variant", type=JsonText(schema="/$defs/msdm_variant"), help="diffusion models only")
    p.add_argument("--csv", type=OutFile(), required=True, help="SI-SDRi per stem and chunk")
    p.add_argument("--summary", type=OutFile(), required=True)
    p.add_argument("--examples", type=OutDir(), help="WAV examples of the first test song")
    p.add_argument("--example-seconds", type=Float(0, 3600, lo_open=True), default=4.0)

    p = step(sub, "generate", _generate, "Total or partial generation; sub-FAD against real test mixtures")
    _common(p)
    p.add_argument("--model", type=InFile("pt"), required=True)
    p.add_argument("--encoder", type=InFile("pt"), help="the trained FAD encoder (else --backbone)")
    p.add_argument("--backbone", choices=BACKBONES, required=True, help="the config's audio.fad.encoder")
    p.add_argument("--ckpt-dir", type=InDir(may_be_absent=True), default="models/pretrained/fad")
    p.add_argument("--task", choices=["total", "partial"], required=True)
    p.add_argument(
        "--generation", type=JsonText(schema="/properties/msdm/properties/generation"), required=True
    )
    p.add_argument("--csv", type=OutFile(), required=True)
    p.add_argument("--examples", type=OutDir(), required=True)

    p = step(
        sub, "fad-baselines", _fad_baselines, "FAD of real and random mixtures: what no signal looks like"
    )
    _common(p, device=False)
    p.add_argument("--encoder", type=InFile("pt"), help="the trained FAD encoder (else --backbone)")
    p.add_argument("--backbone", choices=BACKBONES, required=True, help="the config's audio.fad.encoder")
    p.add_argument("--ckpt-dir", type=InDir(may_be_absent=True), default="models/pretrained/fad")
    p.add_argument(
        "--generation", type=JsonText(schema="/properties/msdm/properties/generation"), required=True
    )
    p.add_argument("--sample-rate", type=Int(1000, 384000), required=True, help="the models' sample rate")
    p.add_argument("--csv", type=OutFile(), required=True)

    p = step(sub, "report", _report, "Tables 6.1-6.3 (our values)")
    p.add_argument("--separation", type=Text(r"[^=\n]{1,200}=.+", 4096, "ROW=JSON"), action="append", default=[],
                   help="ROW=summary JSON (Table 6.2), repeated")  # fmt: skip
    p.add_argument("--total", type=Text(r"[^=\n]{1,200}=.+", 4096, "ROW=CSV"), action="append", default=[],
                   help="ROW=generation CSV (Table 6.1), repeated")  # fmt: skip
    p.add_argument("--partial", type=InFile("csv", ("generated", "given", "fad")), required=True)
    p.add_argument("--baselines", type=InFile("csv", ("row", "task", "fad")), required=True)
    p.add_argument("--out-dir", type=IntoDir(), required=True)

    p = step(sub, "listen", _listen, "The listening page of example folders (MSDM's and GMSDI's)")
    p.add_argument(
        "--examples",
        type=InDir(),
        nargs="+",
        required=True,
        help="example folders (index.json and WAVs), linked relative to the page",
    )
    p.add_argument("--out", type=OutFile(), required=True)


def _common(p, device: bool = True) -> None:
    p.add_argument("--data", type=InDir(), required=True, help="the stem dataset (manifest.json)")
    p.add_argument("--seed", type=SEED, required=True)
    p.add_argument("--threads", type=THREADS, required=True)
    if device:
        p.add_argument("--device", choices=["cpu", "cuda"], required=True)
    else:
        p.set_defaults(device="cpu")


def _training(p, schema: str) -> None:
    _common(p)
    p.add_argument("--settings", type=JsonText(schema=schema), required=True, help="JSON hyperparameters")
    for name in ("out", "history", "meta"):
        p.add_argument(f"--{name}", type=OutFile(), required=True)
    p.add_argument("--checkpoint", type=StateFile(), required=True)
    p.add_argument("--stop-after", type=Int(1, 10**9), help=argparse.SUPPRESS)
