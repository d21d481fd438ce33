"""The ``harness`` command line: one subcommand per pipeline step.

Every Snakemake rule and every DVC stage runs exactly one of these commands, so a researcher can
run any step by hand with the same result. Steps write outputs atomically, log to ``--log``, and
stop with one line naming the cause on bad input.
"""

from __future__ import annotations

import argparse
import sys

# Nothing in a step may contact a model hub or dataset host (set before any library import).
from harness.core.offline import OFFLINE_ENV, go_offline  # noqa: E402, F401 (OFFLINE_ENV: for the Snakefile)

go_offline()

from harness import __version__  # noqa: E402
from harness.core.args import NAME, InFile, IntoDir, OutFile, StateFile, Text  # noqa: E402
from harness.core.args import InDir as InFolder  # noqa: E402
from harness.core.errors import HarnessError  # noqa: E402
from harness.core.logs import LOG, setup_logging  # noqa: E402


# ----------------------------------------------------------------------------- tables
def _tables_build(args):
    from harness.tables.build import build_table

    build_table(args.id, args.out_dir, scale=args.scale, ours=args.ours, figures_dir=args.figures_dir)


def _tables_index(args):
    from harness.tables.build import write_index

    write_index(args.out, args.tables_dir, args.figures_dir)


def _results_check(args):
    import tempfile

    from harness.tables.check import check_results, extract_committed_tables

    with tempfile.TemporaryDirectory(prefix="harness-committed-") as tmp:
        committed = args.committed
        if args.rev:
            committed = extract_committed_tables(args.run, args.rev, tmp)
        moved, compared = check_results(committed, args.run, args.family)
    against = f"git {args.rev}" if args.rev else args.committed
    for cell in moved:
        print(cell)
    failed = [m for m in moved if not m.within]
    if failed:
        raise HarnessError(
            f"{len(failed)} cell(s) of {args.run} moved beyond their table's tolerance from {against}"
        )
    print(f"{compared} tables of {args.run} match {against} within tolerance ({len(moved)} cells moved)")


# ----------------------------------------------------------------------------- workflow
def _config_check(args):
    from harness.core.config import load_config

    load_config(*args.config)
    print("config ok: " + ", ".join(args.config))


def _dvc_yaml(args):
    from harness.workflow.dvc import write_dvc_yaml

    write_dvc_yaml(args.out, configfiles=args.configfile, check=args.check)


def _step(group, name, func, help_text):
    """One step's parser, with the options every step has (--log, -v)."""
    p = group.add_parser(name, help=help_text, description=help_text)
    p.add_argument("--log", type=StateFile(), metavar="FILE", help="also write the step's log to FILE")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.set_defaults(func=func, parser=p)
    return p


def _register_tables(sub, step) -> None:
    p = step(
        sub,
        "build",
        _tables_build,
        "write results/tables/<id>.{md,tex,csv} with the thesis value beside ours",
    )
    p.add_argument("--id", type=NAME, required=True, help="registry id, e.g. table_3_1")
    p.add_argument("--scale", required=True, choices=["embedded", "thesis"])
    p.add_argument(
        "--ours",
        type=InFile("csv", ("row", "column", "ours")),
        metavar="CSV",
        help="our values: CSV with columns row, column, ours",
    )
    p.add_argument("--out-dir", type=IntoDir(), required=True)
    # named in the error for a figure id; absent when only tables of a scale were built yet
    p.add_argument("--figures-dir", type=InFolder(may_be_absent=True), required=True)
    p = step(sub, "index", _tables_index, "write results/README.md indexing every table and figure")
    p.add_argument("--out", type=OutFile(), required=True)
    p.add_argument("--tables-dir", type=InFolder(), required=True)
    p.add_argument("--figures-dir", type=InFolder(may_be_absent=True), required=True)


def _register_results(sub, step) -> None:
    p = step(
        sub, "check", _results_check, "compare RUN/tables with COMMITTED/tables within each table's tolerance"
    )
    p.add_argument(
        "--run",
        type=InFolder(),
        required=True,
        metavar="DIR",
        help="the run's results folder (holds tables/)",
    )
    committed = p.add_mutually_exclusive_group()
    committed.add_argument(
        "--committed", type=InFolder(), default="results", metavar="DIR", help="the committed results folder"
    )
    committed.add_argument(
        "--rev",
        type=Text(r"[A-Za-z0-9][A-Za-z0-9_./~^-]*", 200, "a git revision (HEAD, a commit, a branch)"),
        metavar="REV",
        help="compare with RUN/tables as git revision REV holds them (a run that wrote over them in place)",
    )
    p.add_argument("--family", type=NAME, help="only this family's tables (odeen, sit, lass, ...)")


def _register_workflow(sub, step) -> None:
    p = step(sub, "check-config", _config_check, "validate config files against the JSON schema")
    p.add_argument("config", type=InFile("yaml"), nargs="+")
    p = step(sub, "dvc-yaml", _dvc_yaml, "generate dvc.yaml from the Snakemake DAG")
    p.add_argument("--out", type=OutFile(), default="dvc.yaml")
    p.add_argument("--configfile", type=InFile("yaml"), nargs="*", default=["config.yaml"])
    p.add_argument("--check", action="store_true", help="fail if --out differs from the generated file")


def _families() -> list[tuple[str, str, object]]:
    """(name, help, register) of every command family, in the order `harness --help` lists them."""
    from harness.audio.commands import register as audio
    from harness.cocola.commands import register as cocola
    from harness.componet.commands import register as componet
    from harness.gmsdi.commands import register as gmsdi
    from harness.lass.commands import register as lass
    from harness.metrics.commands import register as metrics
    from harness.msdm.commands import register as msdm
    from harness.odeen.commands import register as odeen
    from harness.sit.commands import register as sit

    return [
        ("odeen", "Odeen: universe, games, CRN and empiricists (thesis ch. 3)", odeen),
        ("sit", "BIG-bench Symbol Interpretation Task (thesis ch. 4)", sit),
        ("lass", "LASS on images: VQ-VAE, prior, sparse likelihood (thesis ch. 5)", lass),
        ("msdm", "MSDM / ISDM: diffusion generation and separation of stems (thesis 6.3)", msdm),
        (
            "gmsdi",
            "GMSDI: text-conditioned mixture model, generation and zero-shot separation (thesis 6.4)",
            gmsdi,
        ),
        ("componet", "CompoNet: a ControlNet adapter for every compositional task (thesis 6.5)", componet),
        ("cocola", "COCOLA: contrastive coherence encoder, accuracy, COCOLA score (thesis ch. 7)", cocola),
        ("audio", "audio datasets: embedded (generated) and thesis-scale (downloaded); FAD", audio),
        ("metrics", "SDR and SI-SDR(i) of your own separations (FAD: `harness audio fad`)", metrics),
        ("tables", "thesis tables and figures registry", _register_tables),
        ("results", "compare a run's tables with the committed ones", _register_results),
        ("workflow", "config validation and the DVC view of the DAG", _register_workflow),
    ]


class _ArgumentError(Exception):
    """A command line argparse refuses; main prints it as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line is one line (the usage is one `--help` away)."""

    def error(self, message):
        raise _ArgumentError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="harness",
        description="Reproduce the tables and figures of 'Harnessing the capabilities of "
        "Generative Models' (Mariani, 2024). Each subcommand is one step of the Snakemake / DVC "
        "pipeline; run `snakemake` or `dvc repro` for the whole thing.",
    )
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    families = parser.add_subparsers(dest="family", metavar="FAMILY", required=True)
    for name, help_text, register in _families():
        group = families.add_parser(name, help=help_text)
        register(group.add_subparsers(dest="step", metavar="STEP", required=True), _step)
    return parser


class _Terminated(BaseException):
    """SIGTERM (a cancelled cluster job): unwind so no partial output is left."""


def _terminate(signum, frame):
    raise _Terminated()


def _fail(message: str) -> int:
    """Print the cause once, as one readable line; the step's log file gets it too."""
    line = " ".join(str(message).split())
    if len(line) > 400:
        line = line[:400] + "..."
    LOG.error("%s", line, extra={"file_only": True})
    print(f"harness: error: {line}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    import signal

    from harness.core.args import check_paths
    from harness.core.atomic import transaction

    setup_logging(None)  # until the command line and its paths are checked: stderr only
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _ArgumentError as err:
        return _fail(str(err))
    step = f"{args.family} {args.step}"
    try:
        check_paths(args.parser, args, step)
    except HarnessError as err:
        return _fail(str(err))
    setup_logging(args.log, args.verbose)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with transaction(step):
            args.func(args)
    except HarnessError as err:
        return _fail(str(err))
    except (OSError, UnicodeError, RecursionError) as err:  # a file system or input problem
        return _fail(f"{type(err).__name__}: {err}")
    except _Terminated:
        _fail("terminated (SIGTERM): no output written")
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
