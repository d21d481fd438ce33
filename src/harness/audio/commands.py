"""``harness audio ...``: the embedded datasets, the thesis-scale downloads, the FAD encoder and
the data layer's report."""

from __future__ import annotations

import json

from harness.core.args import (
    NAME,
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
)
from harness.core.config import json_arg
from harness.core.seeds import derive_seed


def _embedded(args):
    from harness.audio import chorales, polyphony, synthpop
    from harness.audio.embedded import write_dataset
    from harness.core.config import config_subschema
    from harness.core.inputs import json_value

    schema = config_subschema(f"/properties/audio/properties/{args.dataset}")
    settings = json_value(args.settings, schema, f"--settings (audio.{args.dataset})")
    seed = derive_seed(args.seed, "audio", args.dataset)
    if args.dataset == "synthpop":
        songs, stems = synthpop.make_songs(seed, settings["tracks"], int(settings["bars"])), synthpop.STEMS
    else:
        module = chorales if args.dataset == "chorales" else polyphony
        songs = module.make_songs(seed, settings["tracks"], float(settings["max_seconds"]))
        stems = module.STEMS
    write_dataset(args.out, args.dataset, stems, songs, args.sample_rate, args.soundfont or None)


def _download(args):
    from harness.audio.download import prepare_dataset

    prepare_dataset(args.dataset, json_arg(args.spec, "--spec"), args.out, args.downloads)


def _fad_encoder(args):
    from harness.audio.dataset import StemDataset
    from harness.audio.encoder import EncoderSettings, train_encoder
    from harness.core.config import settings_arg
    from harness.core.runtime import deterministic_torch
    from harness.train.loop import RunFiles

    deterministic_torch(args.threads)
    settings = settings_arg(EncoderSettings, args.settings, "--settings")
    seed = derive_seed(args.seed, "audio", "fad_encoder")
    files = RunFiles(args.out, args.history, args.meta, args.checkpoint)
    train_encoder(StemDataset(args.dataset), files, settings, seed)


def _report(args):
    from harness.audio import report
    from harness.audio.dataset import StemDataset
    from harness.audio.encoder import fad_encoder
    from harness.core.rows import write_rows_csv
    from harness.core.runtime import deterministic_torch

    deterministic_torch(args.threads)
    datasets = [StemDataset(d) for d in args.datasets]
    write_rows_csv(args.datasets_csv, [r for ds in datasets for r in report.dataset_rows(ds)])
    write_rows_csv(args.baselines, [r for ds in datasets for r in report.average_baseline(ds)])
    encoder = fad_encoder(args.encoder, args.backbone, args.ckpt_dir)
    write_rows_csv(args.fad, [r for ds in datasets for r in report.fad_rows(ds, encoder)])
    report.plot_stems(datasets, args.figure)


def _clips(directory, sample_rate):
    from pathlib import Path

    from harness.core.errors import HarnessError
    from harness.io.wav import read_wav, resample, to_mono

    files = sorted(Path(directory).glob("*.wav"))
    if not files:
        raise HarnessError(f"{directory}: no .wav files")
    out = []
    for f in files:
        audio, sr = read_wav(f)
        out.append(resample(to_mono(audio), sr, sample_rate))
    return out


def _fad(args):
    from harness.audio.encoder import fad_encoder
    from harness.metrics.fad import fad_of_clips

    encoder = fad_encoder(args.encoder, args.backbone, args.ckpt_dir)
    value = fad_of_clips(
        encoder, _clips(args.background, encoder.sample_rate), _clips(args.eval, encoder.sample_rate)
    )
    print(json.dumps({"fad": round(value, 6), "encoder": encoder.name}))


def register(sub, step) -> None:
    p = step(
        sub, "embedded", _embedded, "generate and render an embedded multi-stem dataset (offline, seeded)"
    )
    p.add_argument("--dataset", required=True, choices=["synthpop", "chorales", "polyphony"])
    p.add_argument(
        "--settings",
        type=JsonText(),
        required=True,
        metavar="JSON",
        help="the config's audio.<dataset> entry",
    )
    p.add_argument("--sample-rate", type=Int(8000, 192_000), required=True)
    p.add_argument(
        "--soundfont", type=InFile("sf2"), default="", help="General MIDI .sf2 (default: Debian's FluidR3_GM)"
    )
    p.add_argument("--seed", type=SEED, required=True)
    p.add_argument("--out", type=OutDir(), required=True, metavar="DIR")
    p = step(sub, "download", _download, "download, verify, extract and index a thesis-scale dataset")
    p.add_argument("--dataset", type=NAME, required=True)
    p.add_argument(
        "--spec",
        type=JsonText(schema="/properties/audio/properties/datasets/additionalProperties"),
        required=True,
        metavar="JSON",
        help="the config's audio.datasets.<dataset> entry",
    )
    p.add_argument(
        "--downloads", type=IntoDir(), required=True, metavar="DIR", help="where archives are kept"
    )
    p.add_argument("--out", type=OutDir(), required=True, metavar="DIR")
    p = step(
        sub, "fad-encoder", _fad_encoder, "train the embedded scale's FAD encoder (a stem-classifier CNN)"
    )
    p.add_argument("--dataset", type=InDir(), required=True, metavar="DIR")
    p.add_argument(
        "--settings",
        type=JsonText(schema="/properties/audio/properties/fad/properties/training"),
        required=True,
        metavar="JSON",
    )
    p.add_argument("--seed", type=SEED, required=True)
    p.add_argument("--threads", type=THREADS, required=True)
    p.add_argument("--checkpoint", type=StateFile(), required=True, metavar="CKPT")
    p.add_argument("--out", type=OutFile(), required=True, metavar="PT")
    p.add_argument("--history", type=OutFile(), required=True, metavar="CSV")
    p.add_argument("--meta", type=OutFile(), required=True, metavar="JSON")
    p = step(sub, "report", _report, "dataset statistics, the Average baseline, FAD of real data, a figure")
    p.add_argument("--datasets", type=InDir(), nargs="+", required=True, metavar="DIR")
    p.add_argument(
        "--encoder", type=InFile("pt"), default="", metavar="PT", help="FAD encoder file (empty: --backbone)"
    )
    p.add_argument(
        "--backbone",
        required=True,
        choices=["trained", "vggish", "pann", "clap", "encodec"],
        help="the config's audio.fad.encoder (trained: the file given by --encoder)",
    )
    p.add_argument("--ckpt-dir", type=InDir(may_be_absent=True), required=True)
    p.add_argument("--datasets-csv", type=OutFile(), required=True, metavar="CSV")
    p.add_argument("--baselines", type=OutFile(), required=True, metavar="CSV")
    p.add_argument("--fad", type=OutFile(), required=True, metavar="CSV")
    p.add_argument("--figure", type=OutFile(), required=True, metavar="PNG")
    p.add_argument("--threads", type=THREADS, required=True, help="torch threads (0: torch's default)")
    p = step(sub, "fad", _fad, "Frechet Audio Distance between two directories of .wav clips")
    p.add_argument("background", type=InDir(), metavar="BACKGROUND_DIR")
    p.add_argument("eval", type=InDir(), metavar="EVAL_DIR")
    p.add_argument(
        "--encoder",
        type=InFile("pt"),
        metavar="PT",
        help="a FAD encoder trained by the DAG (audio_fad_encoder)",
    )
    p.add_argument("--backbone", choices=["vggish", "pann", "clap", "encodec"], default="vggish")
    p.add_argument(
        "--ckpt-dir",
        type=InDir(may_be_absent=True),
        default="models/pretrained/fad",
        help="where the backbone's checkpoint files are",
    )
