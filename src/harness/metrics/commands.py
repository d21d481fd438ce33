"""``harness metrics ...``: the evaluation metrics on a researcher's own files."""

from __future__ import annotations

import json


def _separation(args):
    from harness.metrics.separation import score_directories

    print(json.dumps(score_directories(args.ref_dir, args.est_dir, args.backend)))


def _msdm(args):
    from harness.metrics.separation import msdm_directories

    summary, rows = msdm_directories(
        args.ref_dir, args.est_dir, chunk_seconds=args.chunk, hop_seconds=args.hop,
        filter_single_source=not args.keep_single_source,
    )  # fmt: skip
    if args.csv:
        from harness.tables.ours import write_rows_csv

        write_rows_csv(args.csv, rows)
    print(json.dumps(summary))


def _clips(directory, sample_rate):
    from pathlib import Path

    from harness.audio.io import read_wav, resample, to_mono
    from harness.core.errors import HarnessError

    files = sorted(Path(directory).glob("*.wav"))
    if not files:
        raise HarnessError(f"{directory}: no .wav files")
    out = []
    for f in files:
        audio, sr = read_wav(f)
        out.append(resample(to_mono(audio), sr, sample_rate))
    return out


def _fad(args):
    from harness.metrics.fad import fad_of_clips, load_encoder

    encoder = load_encoder(args.encoder, args.backbone, args.ckpt_dir)
    value = fad_of_clips(
        encoder, _clips(args.background, encoder.sample_rate), _clips(args.eval, encoder.sample_rate)
    )
    print(json.dumps({"fad": round(value, 6), "encoder": encoder.name}))


def register(sub, step) -> None:
    p = step(
        sub, "separation", _separation,
        "SDR (bss_eval v4, median over 1 s frames) and SI-SDR per stem of one separated track: "
        'prints {stem: {"sdr": dB, "si_sdr": dB}}',
    )  # fmt: skip
    p.add_argument("ref_dir", metavar="REF_DIR", help="one <stem>.wav per source")
    p.add_argument("est_dir", metavar="EST_DIR", help="the estimates, same names, rate and length")
    p.add_argument(
        "--backend", choices=["museval", "fast"], default="fast", help="museval, or the batched fast path"
    )
    p = step(
        sub,
        "msdm",
        _msdm,
        "SI-SDRi with the MSDM protocol (4 s chunks, 2 s hop, single-source chunks skipped)",
    )
    p.add_argument(
        "ref_dir", metavar="REF_DIR", help="a track directory, or a directory of track directories"
    )
    p.add_argument("est_dir", metavar="EST_DIR", help="the same layout for the estimates")
    p.add_argument("--chunk", type=float, default=4.0, help="chunk seconds")
    p.add_argument("--hop", type=float, default=2.0, help="hop seconds")
    p.add_argument(
        "--keep-single-source", action="store_true", help="also score chunks with one active source"
    )
    p.add_argument("--csv", metavar="FILE", help="also write every chunk's scores")
    p = step(sub, "fad", _fad, "Frechet Audio Distance between two directories of .wav clips")
    p.add_argument("background", metavar="BACKGROUND_DIR")
    p.add_argument("eval", metavar="EVAL_DIR")
    p.add_argument("--encoder", metavar="PT", help="a FAD encoder trained by the DAG (audio_fad_encoder)")
    p.add_argument("--backbone", choices=["vggish", "pann", "clap", "encodec"], default="vggish")
    p.add_argument(
        "--ckpt-dir", default="models/pretrained/fad", help="where the backbone's checkpoint files are"
    )
