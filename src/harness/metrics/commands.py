"""``harness metrics ...``: the evaluation metrics on a researcher's own files."""

from __future__ import annotations

import json

from harness.core.args import Float, InDir, OutFile

SECONDS = Float(0.0, 3600.0, lo_open=True)


def _separation(args):
    from harness.metrics.separation import score_directories

    print(json.dumps(score_directories(args.ref_dir, args.est_dir, args.backend)))


def _msdm(args):
    from harness.metrics.separation import msdm_directories
    from harness.metrics.sisdr import CHUNK_SECONDS, HOP_SECONDS

    chunk = CHUNK_SECONDS if args.chunk is None else args.chunk
    hop = HOP_SECONDS if args.hop is None else args.hop
    summary, rows = msdm_directories(
        args.ref_dir, args.est_dir, chunk_seconds=chunk, hop_seconds=hop,
        filter_single_source=not args.keep_single_source,
    )  # fmt: skip
    if args.csv:
        from harness.core.rows import write_rows_csv

        write_rows_csv(args.csv, rows)
    print(json.dumps(summary))


def register(sub, step) -> None:
    p = step(
        sub, "separation", _separation,
        "SDR (bss_eval v4, median over 1 s frames) and SI-SDR per stem of one separated track: "
        'prints {stem: {"sdr": dB, "si_sdr": dB}}',
    )  # fmt: skip
    p.add_argument("ref_dir", type=InDir(), metavar="REF_DIR", help="one <stem>.wav per source")
    p.add_argument(
        "est_dir", type=InDir(), metavar="EST_DIR", help="the estimates, same names, rate and length"
    )
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
        "ref_dir",
        type=InDir(),
        metavar="REF_DIR",
        help="a track directory, or a directory of track directories",
    )
    p.add_argument("est_dir", type=InDir(), metavar="EST_DIR", help="the same layout for the estimates")
    p.add_argument(
        "--chunk", type=SECONDS, help="chunk seconds, at most an hour (default: the MSDM protocol's 4)"
    )
    p.add_argument(
        "--hop", type=SECONDS, help="hop seconds, at most an hour (default: the MSDM protocol's 2)"
    )
    p.add_argument(
        "--keep-single-source", action="store_true", help="also score chunks with one active source"
    )
    p.add_argument("--csv", type=OutFile(), metavar="FILE", help="also write every chunk's scores")
