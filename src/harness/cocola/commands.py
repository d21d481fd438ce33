"""``harness cocola ...``: COCOLA (thesis ch. 7): split files, training, the accuracy of eq. 7.5
(Table 7.1), the COCOLA score of eq. 7.4, and the report (Table 7.1, Figure 7.3)."""

from __future__ import annotations

import argparse
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
    OutFile,
    StateFile,
    Text,
)
from harness.core.config import settings_arg
from harness.core.errors import HarnessError
from harness.core.seeds import derive_seed
from harness.train.loop import RunFiles

SCHEMA = "/properties/cocola/properties"
PAIR_ARG = Text(r"[^=\n]{1,200}=.+", 4096, "NAME=FILE")


def _setup(args) -> str:
    from harness.core.runtime import deterministic_torch, torch_device

    deterministic_torch(args.threads)
    return torch_device(args.device)


def _settings(args):
    from harness.cocola.model import Features, ModelSettings

    return settings_arg(Features, args.features, "--features"), settings_arg(
        ModelSettings, args.model, "--model"
    )


def _datasets(args) -> list[tuple[str, dict]]:
    """(dataset folder, split file) of each ``--data`` / ``--split`` given, checked to agree."""
    from harness.audio.dataset import StemDataset
    from harness.cocola.data import load_split

    if len(args.data) != len(args.split):
        raise HarnessError(f"{len(args.data)} --data folders but {len(args.split)} --split files")
    out = []
    for root, path in zip(args.data, args.split):
        split = load_split(path)
        name = StemDataset(root).name
        if split["dataset"] != name:
            raise HarnessError(f"{path} is the split of {split['dataset']!r}, {root} holds {name!r}")
        out.append((root, split))
    return out


def _split(args):
    from harness.cocola.data import make_split
    from harness.cocola.model import Features
    from harness.cocola.train import TrainSettings
    from harness.core.atomic import write_text
    from harness.core.logs import LOG

    features = settings_arg(Features, args.features, "--features")
    training = settings_arg(TrainSettings, args.training, "--training")
    evaluation = json.loads(args.evaluation)
    rate = features.sample_rate
    window = round(training.window_seconds * rate)
    hop = max(1, round((1 - training.max_overlap) * window))
    seed = derive_seed(args.seed, "cocola", "split")
    split = make_split(args.data, window, hop, training.active_db, rate, seed,
                       {"valid": evaluation["valid_pairs"], "test": None})  # fmt: skip
    if not split["pairs"]["test"] and split["tracks"]["test"]:
        raise HarnessError(
            f"{args.data}: no test window has two active stems above {training.active_db} dBFS"
        )
    write_text(args.out, json.dumps(split, indent=1) + "\n")
    LOG.info("%s: tracks %s; %d validation and %d test pairs", split["dataset"],
             {s: len(v) for s, v in split["tracks"].items()}, len(split["pairs"]["valid"]),
             len(split["pairs"]["test"]))  # fmt: skip


def _train(args):
    from harness.cocola.data import check_split, load_tracks, matching
    from harness.cocola.train import TrainSettings, train_cocola

    device = _setup(args)
    features, model = _settings(args)
    settings = settings_arg(TrainSettings, args.settings, "--settings")
    filters = json.loads(args.filters) if args.filters else {}
    window = round(settings.window_seconds * features.sample_rate)
    tracks, valid = [], []
    for root, split in _datasets(args):
        check_split(split, features.sample_rate, window)
        ids = matching(split["tracks"]["train"], filters.get(split["dataset"]))
        if not ids:
            raise HarnessError(f"{root}: no training track (filter {filters.get(split['dataset'])!r})")
        tracks += load_tracks(root, ids, features.sample_rate, args.cache)
        pairs = split["pairs"].get("valid", [])
        valid_tracks = load_tracks(
            root, sorted({p["track"] for p in pairs}), features.sample_rate, args.cache
        )
        valid.append(({t.id: t for t in valid_tracks}, pairs))
    seed = derive_seed(args.seed, "cocola", args.name)
    files = RunFiles(args.out, args.history, args.meta, args.checkpoint)
    train_cocola(tracks, valid, features, model, settings, seed, files, device, args.stop_after)


def _evaluate(args):
    from harness.cocola.evaluate import accuracy_rows

    device = _setup(args)
    if bool(args.checkpoint) == bool(args.baseline):
        raise HarnessError("give --checkpoint (a trained model) or --baseline, one of them")
    if args.baseline == "untrained" and not (args.features and args.model):
        raise HarnessError("--baseline untrained needs --features and --model (the settings it would train)")
    datasets = _datasets(args)
    rows = accuracy_rows(args, datasets, device)
    from harness.core.rows import write_rows_csv

    write_rows_csv(args.csv, rows)


def _score(args):
    from harness.cocola.score import score_folders

    device = _setup(args)
    score_folders(args, device)


def _report(args):
    from harness.cocola.report import write_report

    write_report(args)


def register(sub, step) -> None:
    """Add the cocola steps to the ``cocola`` subparser ``sub`` (``step`` adds --log/-v)."""
    p = step(
        sub, "split", _split, "Write a dataset's split file: its tracks per split and the evaluation pairs"
    )
    p.add_argument("--data", type=InDir(), required=True, help="the stem dataset (manifest.json)")
    p.add_argument("--features", type=JsonText(schema=f"{SCHEMA}/features"), required=True)
    p.add_argument("--training", type=JsonText(schema=f"{SCHEMA}/training"), required=True)
    p.add_argument("--evaluation", type=JsonText(schema=f"{SCHEMA}/evaluation"), required=True)
    p.add_argument("--seed", type=SEED, required=True)
    p.add_argument("--out", type=OutFile(), required=True)

    p = step(sub, "train", _train, "Train a COCOLA encoder on one or more datasets (resumable)")
    _data(p)
    _run(p)
    _model(p, required=True)
    p.add_argument("--settings", type=JsonText(schema=f"{SCHEMA}/training"), required=True)
    p.add_argument("--filters", type=JsonText(schema=f"{SCHEMA}/all_tracks"),
                   help="JSON {dataset: regex}: train only on the tracks whose id matches")  # fmt: skip
    p.add_argument("--name", type=NAME, required=True, help="the model's name (its seed stream)")
    for name in ("out", "history", "meta"):
        p.add_argument(f"--{name}", type=OutFile(), required=True)
    p.add_argument("--checkpoint", type=StateFile(), required=True)
    p.add_argument("--stop-after", type=Int(1, 10**9), help=argparse.SUPPRESS)

    p = step(sub, "evaluate", _evaluate, "Accuracy of eq. 7.5 on the test pairs of each dataset, K = 2, 4, 8")
    _data(p)
    _run(p)
    p.add_argument("--checkpoint", type=InFile("pt"), help="a trained COCOLA model")
    p.add_argument("--baseline", choices=["untrained", "chroma"],
                   help="untrained: the encoder at its seeded initialisation; chroma: cosine of mean chroma")  # fmt: skip
    _model(p, required=False)
    p.add_argument("--evaluation", type=JsonText(schema=f"{SCHEMA}/evaluation"), required=True)
    p.add_argument("--csv", type=OutFile(), required=True)

    p = step(
        sub, "score", _score, "COCOLA score (eq. 7.4) of conditioning / accompaniment pairs of WAV files"
    )
    p.add_argument("--checkpoint", type=InFile("pt"), required=True)
    p.add_argument("--conditioning", type=InDir(), required=True, help="WAV files y")
    p.add_argument("--accompaniment", type=InDir(), required=True, help="WAV files x~, same names as y")
    p.add_argument("--resample", action="store_true", help="convert another sample rate to the model's")
    p.add_argument("--batch", type=Int(1, 4096), default=32)
    p.add_argument("--threads", type=THREADS, default=1)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--csv", type=OutFile(), required=True, help="the score of each pair")
    p.add_argument("--summary", type=OutFile(), help="JSON: mean, standard error, pairs, silent")
    p.add_argument("--silent-answers", choices=["refuse", "skip"], default="refuse",
                   help="a silent accompaniment stops the step (refuse) or is counted, not scored (skip)")  # fmt: skip

    p = step(sub, "report", _report, "Table 7.1 (our values), the K = 2, 4, 8 table and Figure 7.3")
    p.add_argument("--accuracy", type=PAIR_ARG, action="append", default=[],
                   help="MODEL=accuracy CSV of `cocola evaluate`, repeated")  # fmt: skip
    p.add_argument("--history", type=PAIR_ARG, action="append", default=[],
                   help="SIMILARITY=training history CSV of the All model (Figure 7.3), repeated")  # fmt: skip
    p.add_argument("--names", type=JsonText(schema=f"{SCHEMA}/thesis_names"), required=True)
    p.add_argument(
        "--held-out", type=JsonText(kind=list), required=True, help="JSON list of held-out datasets"
    )
    p.add_argument("--out-dir", type=IntoDir(), required=True, help="table_7_1.csv and accuracy.{csv,md}")
    p.add_argument("--figure", type=OutFile(), required=True)


def _data(p) -> None:
    p.add_argument("--data", type=InDir(), nargs="+", required=True, help="stem datasets (manifest.json)")
    p.add_argument(
        "--split", type=InFile("json"), nargs="+", required=True, help="their split files, in order"
    )
    p.add_argument("--cache", type=IntoDir(),
                   help="resample each track once into this folder and map it from disk (data larger than memory)")  # fmt: skip


def _run(p) -> None:
    p.add_argument("--seed", type=SEED, required=True)
    p.add_argument("--threads", type=THREADS, required=True)
    p.add_argument("--device", choices=["cpu", "cuda"], required=True)


def _model(p, required: bool) -> None:
    p.add_argument("--features", type=JsonText(schema=f"{SCHEMA}/features"), required=required)
    p.add_argument("--model", type=JsonText(schema=f"{SCHEMA}/model"), required=required)
