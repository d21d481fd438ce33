"""``harness gmsdi ...``: GMSDI (thesis section 6.4): training the text-conditioned mixture model,
zero-shot separation (the Table 6.4 grid and Table 6.5), single-stem prompting (Figure 6.4),
total and partial generation (Figure 6.5), and the report."""

from __future__ import annotations

import argparse
import json

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
METHOD = {"type": "object", "additionalProperties": False, "required": ["kind", "w"],
          "properties": {"kind": {"enum": ["separator", "extractor"]}, "w": {"type": "number", "minimum": 0},
                         "constrained": {"type": "string", "pattern": "^[a-z0-9_]+$"},
                         "negative": {"type": "array", "items": {"type": "string"}}}}  # fmt: skip
SUMMARY = {"type": "object", "required": ["stems", "All", "chunks", "method"],
           "properties": {"stems": {"type": "array", "items": {"type": "string"}}, "All": {"type": "number"},
                          "chunks": {"type": "integer", "minimum": 1}, "method": METHOD}}  # fmt: skip


def _setup(args) -> str:
    from harness.core.runtime import deterministic_torch, torch_device

    deterministic_torch(args.threads)
    return torch_device(args.device)


def _train(args):
    from harness.audio.arrays import load_tracks
    from harness.gmsdi.train import TrainSettings, train_gmsdi, train_self_conditioned

    device = _setup(args)
    settings = settings_arg(TrainSettings, args.settings, "--settings")
    tracks, _, stems = load_tracks(args.data, "train", settings.sample_rate)
    files = RunFiles(args.out, args.history, args.meta, args.checkpoint)
    seed = derive_seed(args.seed, "gmsdi", "train")
    if bool(args.text_encoder) == bool(args.audio_backbone):
        raise HarnessError(
            "give --text-encoder (prompts of stem labels) or --audio-backbone (self-conditioned)"
        )
    if args.audio_backbone:
        encoder = _encoder(args, args.audio_backbone)
        train_self_conditioned(
            tracks, stems, encoder, encoder.name, settings, seed, files, device, args.stop_after
        )
        return
    from harness.gmsdi.prompts import prompt_table

    prompts = prompt_table(args.text_encoder, stems)
    train_gmsdi(tracks, stems, prompts, args.text_encoder, settings, seed, files, device, args.stop_after)


def _method(args, stems: list[str]) -> dict:
    """The separation method: --method (a grid cell), or the best cell of --choose (Table 6.5)."""
    from harness.core.inputs import read_json
    from harness.gmsdi.tasks import choose

    if bool(args.method) == bool(args.choose):
        raise HarnessError("give --method (one grid cell) or --choose (grid summaries), not both")
    if args.choose:
        method = choose([read_json(p, SUMMARY, "grid summary") for p in args.choose], args.kind)
    else:
        method = json.loads(args.method)
    if method["kind"] == "separator" and method.get("constrained") not in stems:
        raise HarnessError(
            f"the Separator's constrained stem {method.get('constrained')!r} is not one of {stems}"
        )
    unknown = sorted(set(method.get("negative", [])) - set(stems))
    if unknown:
        raise HarnessError(f"negative prompts asked for unknown stems {unknown}")
    return method


def _separate(args):
    import torch

    from harness.audio.arrays import evaluation_tracks
    from harness.audio.examples import write_examples
    from harness.diffusion.samplers import Schedule
    from harness.gmsdi.tasks import Model, score_set, separate_set

    device = _setup(args)
    model = Model(args.model, device)
    spec = json.loads(args.eval)
    refs, ids, stems = evaluation_tracks(args.data, args.split, model.rate, spec["tracks"], spec["seconds"])
    if stems != model.stems:
        raise HarnessError(f"the model knows the stems {model.stems}, the dataset has {stems}")
    method = _method(args, stems)
    if method["kind"] == "extractor":
        method.setdefault("negative", [])
    schedule = settings_arg(Schedule, args.schedule, "--schedule")
    negatives = json.loads(args.negatives)
    generator = torch.Generator(device=device).manual_seed(
        derive_seed(args.seed, "gmsdi", "separate", json.dumps(method, sort_keys=True))
    )
    estimates = separate_set(model, refs, method, schedule, args.churn, negatives, spec, generator)
    summary, rows = score_set(refs, estimates, stems, ids, model.rate, spec)
    write_rows_csv(args.csv, rows, ["track", "start", "end", *stems])
    write_text(
        args.summary,
        json.dumps({"stems": stems, **summary, "method": method, "split": args.split}, indent=1) + "\n",
    )
    LOG.info("gmsdi %s: %s", method, {k: round(v, 2) for k, v in summary.items() if k != "chunks"})
    if args.examples:
        n = round(args.example_seconds * model.rate)
        tracks = {"mixture": refs[0][:, :n].sum(0)}
        for i, s in enumerate(stems):
            tracks[f"{s} (separated)"] = estimates[0][i, :n]
            tracks[f"{s} (truth)"] = refs[0][i, :n]
        with atomic_dir(args.examples) as tmp:
            write_examples(tmp, [("song_1", tracks)], model.rate)


def _encoder(args, backbone: str | None = None):
    """The audio encoder of ``backbone`` (default --backbone): see ``backbone_encoder``."""
    from harness.audio.encoder import backbone_encoder

    return backbone_encoder(backbone or args.backbone, args.encoder, args.ckpt_dir)


def _generate(args):
    from harness.audio.arrays import load_tracks
    from harness.audio.examples import write_examples
    from harness.core.config import config_subschema
    from harness.core.inputs import check_schema
    from harness.diffusion.models import Padded, load_model
    from harness.gmsdi.tasks import Model, mixtures, single_stems

    device = _setup(args)
    model = Model(args.model, device)
    spec = json.loads(args.generation)
    where = "/properties/gmsdi/properties/" + (
        "unsupervised/properties/generation" if args.task == "self" else "generation"
    )
    check_schema(spec, config_subschema(where), "--generation")
    tracks, _, stems = load_tracks(args.data, spec["split"] if args.task == "self" else "test", model.rate)
    encoder = _encoder(args)
    if args.task == "self":
        from harness.gmsdi.tasks import self_prompted

        if model.stems != ["mixture"] or model.table:
            raise HarnessError(f"{args.model}: a model of labelled stems, not a self-conditioned one")
        if args.condition_backbone and args.condition_backbone != args.backbone:
            model.embedder = _encoder(args, args.condition_backbone)
        rows, examples = self_prompted(model, tracks, spec, encoder, args.seed)
        write_rows_csv(
            args.csv, rows, ["prompt", "w", "fad", "cosine_to_prompt_chunk", "cosine_to_other_chunk"]
        )
        with atomic_dir(args.examples) as tmp:
            write_examples(tmp, examples, model.rate)
        return
    if stems != model.stems:
        raise HarnessError(f"the model knows the stems {model.stems}, the dataset has {stems}")
    if args.task == "stems":
        isdm = {}
        for path in args.isdm or []:
            denoiser, config = load_model(path, device)
            if config["mixture"] or len(config["stems"]) != 1 or config["sample_rate"] != model.rate:
                raise HarnessError(f"{path}: not a single-stem (ISDM) model at {model.rate} Hz")
            isdm[config["stems"][0]] = Padded(denoiser)
        rows, examples = single_stems(
            model, isdm, tracks, spec, json.loads(args.negatives), encoder, args.seed
        )
        columns = ["stem", "model", "negative", "fad", "rms"]
    else:
        msdm = (None, spec)
        if args.msdm:
            denoiser, config = load_model(args.msdm, device)
            if config["mixture"] or config["stems"] != stems or config["sample_rate"] != model.rate:
                raise HarnessError(f"{args.msdm}: not an MSDM model of {stems} at {model.rate} Hz")
            msdm = (Padded(denoiser), json.loads(args.msdm_generation))
        rows, examples = mixtures(model, msdm, tracks, spec, encoder, args.seed)
        columns = ["task", "given", "model", "fad"]
    write_rows_csv(args.csv, rows, columns)
    with atomic_dir(args.examples) as tmp:
        write_examples(
            tmp, examples[: max(spec["examples"], 0)] if args.task == "mixtures" else examples, model.rate
        )


def _report(args):
    from harness.gmsdi.report import write_report

    write_report(args)


def register(sub, step) -> None:
    """Add the gmsdi steps to the ``gmsdi`` subparser ``sub`` (``step`` adds --log/-v)."""
    p = step(sub, "train", _train, "Train the text-conditioned mixture model (resumable)")
    _common(p)
    p.add_argument("--settings", type=JsonText(schema="/properties/gmsdi/properties/training"), required=True)
    p.add_argument(
        "--text-encoder",
        type=Text(r"(pkg:)?[A-Za-z0-9_.][A-Za-z0-9_./-]*", 500, "a directory or pkg:module/dir"),
        help="prompts of stem labels: a local text encoder (t5-small save_pretrained directory, or pkg:module/dir)",
    )
    p.add_argument(
        "--audio-backbone", choices=BACKBONES, help="self-conditioned: the audio encoder of the mixtures"
    )
    p.add_argument(
        "--encoder", type=InFile("pt"), help="the trained audio encoder (--audio-backbone trained)"
    )
    p.add_argument("--ckpt-dir", type=InDir(may_be_absent=True), default="models/pretrained/fad")
    for name in ("out", "history", "meta"):
        p.add_argument(f"--{name}", type=OutFile(), required=True)
    p.add_argument("--checkpoint", type=StateFile(), required=True)
    p.add_argument("--stop-after", type=Int(1, 10**9), help=argparse.SUPPRESS)

    p = step(
        sub, "separate", _separate, "Zero-shot separation: GMSDI Separator (eq. 6.16) or Extractor (eq. 6.17)"
    )
    _common(p)
    p.add_argument("--model", type=InFile("pt"), required=True)
    p.add_argument(
        "--split", choices=["valid", "test"], required=True, help="valid: the w grid; test: Table 6.5"
    )
    p.add_argument(
        "--eval",
        type=JsonText(schema="/properties/msdm/properties/separation/properties/eval"),
        required=True,
    )
    p.add_argument("--schedule", type=JsonText(schema="/$defs/msdm_schedule"), required=True)
    p.add_argument("--churn", type=Float(0, 1000), required=True, help="S_churn")
    p.add_argument(
        "--negatives", type=JsonText(schema="/properties/gmsdi/properties/negative_prompts"), required=True
    )
    p.add_argument(
        "--method",
        type=JsonText(own_schema=json.dumps(METHOD)),
        help="one grid cell: kind, w, constrained / negative",
    )
    p.add_argument(
        "--choose", type=InFile("json"), nargs="+", help="grid summaries: run the best cell of --kind"
    )
    p.add_argument("--kind", choices=["separator", "extractor"], help="with --choose")
    p.add_argument("--csv", type=OutFile(), required=True)
    p.add_argument("--summary", type=OutFile(), required=True)
    p.add_argument("--examples", type=OutDir(), help="WAV examples of the first song")
    p.add_argument("--example-seconds", type=Float(0, 3600, lo_open=True), default=4.0)

    p = step(
        sub,
        "generate",
        _generate,
        "Single-stem prompting (Figure 6.4) or total / partial generation (Figure 6.5)",
    )
    _common(p)
    p.add_argument("--task", choices=["stems", "mixtures", "self"], required=True,
                   help="self: a self-conditioned model prompted with test chunks' embeddings")  # fmt: skip
    p.add_argument("--model", type=InFile("pt"), required=True)
    p.add_argument("--isdm", type=InFile("pt"), nargs="+", help="stems: ISDM models to compare with")
    p.add_argument("--msdm", type=InFile("pt"), help="mixtures: the MSDM model to compare with")
    p.add_argument("--msdm-generation", type=JsonText(schema="/properties/msdm/properties/generation"),
                   help="mixtures: MSDM's generation settings (its schedule)")  # fmt: skip
    p.add_argument(
        "--generation",
        type=JsonText(),
        required=True,
        help="gmsdi.generation (self: gmsdi.unsupervised.generation)",
    )
    p.add_argument(
        "--negatives", type=JsonText(schema="/properties/gmsdi/properties/negative_prompts"), default="{}"
    )
    p.add_argument("--encoder", type=InFile("pt"), help="the trained FAD encoder (else --backbone)")
    p.add_argument("--backbone", choices=BACKBONES, required=True, help="the config's audio.fad.encoder")
    p.add_argument(
        "--condition-backbone", choices=BACKBONES, help="self: the model's audio encoder (default --backbone)"
    )
    p.add_argument("--ckpt-dir", type=InDir(may_be_absent=True), default="models/pretrained/fad")
    p.add_argument("--csv", type=OutFile(), required=True)
    p.add_argument("--examples", type=OutDir(), required=True)

    p = step(sub, "report", _report, "Tables 6.4-6.5 (our values) and Figures 6.4-6.5")
    p.add_argument("--grid", type=InFile("json"), nargs="+", required=True, help="Table 6.4's cells")
    p.add_argument("--separator", type=InFile("json"), required=True)
    p.add_argument("--extractor", type=InFile("json"), required=True)
    p.add_argument("--msdm", type=Text(r"[^=\n]{1,200}=.+", 4096, "ROW=JSON"), action="append", default=[],
                   help="ROW=MSDM-family separation summary for Table 6.5 (ISDM, MSDM, Average), repeated")  # fmt: skip
    p.add_argument("--stems", type=InFile("csv", ("stem", "model", "negative", "fad", "rms")), required=True)
    p.add_argument("--mixtures", type=InFile("csv", ("task", "given", "model", "fad")), required=True)
    p.add_argument("--baselines", type=InFile("csv", ("row", "task", "fad")), required=True,
                   help="MSDM's FAD baselines (real training mixtures: the floor)")  # fmt: skip
    p.add_argument("--out-dir", type=IntoDir(), required=True)
    p.add_argument("--figure-6-4", type=OutFile(), required=True)
    p.add_argument("--figure-6-5", type=OutFile(), required=True)


def _common(p) -> None:
    p.add_argument("--data", type=InDir(), required=True, help="the stem dataset (manifest.json)")
    p.add_argument("--seed", type=SEED, required=True)
    p.add_argument("--threads", type=THREADS, required=True)
    p.add_argument("--device", choices=["cpu", "cuda"], required=True)
