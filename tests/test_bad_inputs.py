"""Every `harness` subcommand fed every class of bad input, generated from its parser.

Each step's command line comes from the planned DAG (both scales) or, for the steps a
researcher runs by hand, from HAND below; its inputs are made in a sandbox as files of the right
kind, then one argument at a time is spoiled: a missing, empty, non-UTF-8, truncated or deeply
nested file, a folder where a file belongs, JSON of the wrong shape, a header-only or short-row
table, an output that names an input, the working directory or a folder of someone else's files,
a number out of its range. Every run must exit 2 with one `harness: error:` line, print no
traceback, and leave every byte of the sandbox as it was.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO
from harness.cli import build_parser, main
from harness.core.args import (
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

# steps no rule runs (a researcher's own files); their inputs are made by the sandbox
HAND = [
    "odeen label 'exists 1 blue' b.aA.V",
    "sit solve task.json",
    "sit fetch --subtask plain --url http://127.0.0.1:9/{revision}/{subtask}.json --revision r1 --out t.json",
    "metrics separation ref est",
    "metrics msdm ref est --chunk 4 --hop 2 --csv scores.csv",
    "audio fad background eval --encoder enc.pt",
    "results check --run run --committed committed",
    "workflow check-config config.yaml",
    "workflow dvc-yaml --out dvc.yaml --configfile config.yaml",
    "lass data --dataset celeba --spec '{}' --downloads dl --out celeba.npz",
    "msdm import --weights w.pt --kind msdm --out m.pt",
    "cocola score --checkpoint c.pt --conditioning y --accompaniment x --csv s.csv --summary s.json",
]


def _steps(parser) -> dict[str, argparse.ArgumentParser]:
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for family, fp in action.choices.items():
                for a in fp._actions:
                    if isinstance(a, argparse._SubParsersAction):
                        out.update({f"{family} {name}": sp for name, sp in a.choices.items()})
    return out


PARSER = build_parser()
STEPS = _steps(PARSER)


@pytest.fixture(scope="module")
def commands() -> dict[str, list[str]]:
    """One real command line per step: the DAG's at the embedded and the thesis scale, then HAND."""
    from harness.workflow.dvc import dag_jobs

    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        jobs = dag_jobs(configfiles=["config.yaml"]) + dag_jobs(
            configfiles=["config.yaml", "config/thesis.yaml"]
        )
    finally:
        os.chdir(cwd)
    out: dict[str, list[str]] = {}
    for line in [str(j.shellcmd) for j in jobs if j.rule.shellcmd] + HAND:
        argv = shlex.split(line)
        argv = argv[1:] if argv[0] == "harness" else argv
        out.setdefault(" ".join(argv[:2]), argv)
    lass_spec = json.dumps({"url": {"images": "http://127.0.0.1:9/i", "partition": "http://127.0.0.1:9/p"},
                            "files": {"images": {"name": "i.zip", "sha256": ""}, "partition": {"name": "p.txt", "sha256": ""}},
                            "local_path": "", "crop": 140, "size": 32})  # fmt: skip
    out["lass data"] = [lass_spec if a == "{}" else a for a in out["lass data"]]
    return out


def test_every_step_has_a_command_line(commands):
    assert sorted(STEPS) == sorted(commands)


@pytest.mark.parametrize("step", sorted(STEPS))
def test_the_dags_own_command_lines_pass_the_checks(step, commands, tmp_path, monkeypatch):
    """The checks refuse nothing a rule really runs (e.g. a report writing into the folder that
    holds its inputs): each command line, with its inputs in place, passes them."""
    from harness.core.args import check_paths

    argv = _sandbox(tmp_path, step, commands[step])
    monkeypatch.chdir(tmp_path)
    args = PARSER.parse_args(argv)
    check_paths(args.parser, args, step)


# ----------------------------------------------------------------------------- the sandbox
def _actions(step: str):
    return [a for a in STEPS[step]._actions if a.option_strings != ["-h", "--help"]]


def _slots(step: str, argv: list[str]) -> list[tuple[argparse.Action, int]]:
    """(action, index in argv) of every value given on the command line."""
    args = argv[2:]
    by_flag = {f: a for a in _actions(step) for f in a.option_strings}
    positional = [a for a in _actions(step) if not a.option_strings]
    slots, i, current, left = [], 0, None, 0
    while i < len(args):
        token = args[i]
        if token in by_flag:
            current = by_flag[token]
            left = current.nargs if isinstance(current.nargs, int) else 1  # values still to come
            if current.nargs == 0:
                current = None
        elif current is not None:
            slots.append((current, i + 2))
            left -= 1
            if current.nargs not in ("+", "*") and left <= 0:
                current = None
        else:
            action = positional[0]
            slots.append((action, i + 2))
            if action.nargs not in ("+", "*"):
                positional.pop(0)
        i += 1
    return slots


def _placeholder(path: Path, role) -> None:
    """A file (or folder) of the role's kind, good enough for the step's up-front checks."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(role, InDir):
        path.mkdir()
        (path / "x.txt").write_text("x\n")
        return
    kind = role.kind
    if kind in ("tsv", "csv"):
        sep = "\t" if kind == "tsv" else ","
        cols = role.columns or ("a",)
        path.write_text(sep.join(cols) + "\n" + sep.join("1" for _ in cols) + "\n")
    elif kind == "json":
        path.write_text('{"placeholder": 1}\n')
    elif kind == "yaml":
        path.write_text("placeholder: 1\n")
    elif kind == "npz":
        with open(path, "wb") as fh:
            np.savez(fh, placeholder=np.zeros(1))
    elif kind == "pt":
        torch.save({"placeholder": torch.zeros(1)}, path)
    elif kind == "sf2":
        path.write_bytes(b"RIFF\x04\x00\x00\x00sfbk")
    elif kind == "wav":
        import soundfile

        soundfile.write(path, np.zeros(800, np.float32), 8000)
    else:
        path.write_text("placeholder\n")


def _sandbox(root: Path, step: str, argv: list[str]) -> list[str]:
    """Make every input of ``argv`` under ``root`` (paths made relative); the argv to run there."""
    argv = list(argv)
    root.mkdir(parents=True, exist_ok=True)
    for action, i in _slots(step, argv):
        if isinstance(action.type, (InFile, InDir)) and argv[i]:
            argv[i] = argv[i].lstrip("/")
            _placeholder(root / argv[i], action.type)
        elif isinstance(action.type, (OutFile, OutDir, StateFile, IntoDir)):
            argv[i] = argv[i].lstrip("/")
    return argv


def _tree(root: Path, own: tuple[str, ...] = ()) -> dict[str, str]:
    """Hash of every file under ``root`` but the step's own outputs ``own`` (its log)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if any(rel == o or rel.startswith(o + "/") or o.startswith(rel + "/") for o in own):
            continue
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "<dir>"
    return out


def _run(root: Path, argv: list[str], capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    cwd = os.getcwd()
    os.chdir(root)
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own exits (--help) are not bad input
        code = exit_.code
    finally:
        os.chdir(cwd)
    return code, capsys.readouterr().err.splitlines()


def _assert_refused(root: Path, argv: list[str], capsys, mentions: str = "", alone: bool = True) -> str:
    """``argv`` exits 2 with one error line and no traceback, and changes nothing under ``root``
    but its own log when it ran (``alone=False``: refused by the step, not before it)."""
    own = () if alone else tuple(argv[k + 1] for k, a in enumerate(argv[:-1]) if a == "--log")
    before = _tree(root, own)
    code, err = _run(root, argv, capsys)
    shown = "\n".join(err[-5:])
    assert code == 2, f"{argv}: exit {code}\n{shown}"
    assert not any("Traceback" in line for line in err), shown
    errors = [line for line in err if "error" in line.lower()]
    assert len(errors) == 1 and err[-1].startswith("harness: error: "), shown
    assert len(err[-1]) < 600, err[-1]
    if alone:  # refused before the step ran: nothing else was printed
        assert len(err) == 1, shown
    if mentions:
        assert mentions in err[-1], f"{argv}: {err[-1]!r} does not name {mentions!r}"
    assert _tree(root, own) == before, f"{argv} changed the sandbox"
    return err[-1]


# ----------------------------------------------------------------------------- bad files
def _bad_files(role) -> list[tuple[str, object, str]]:
    """(name, content, what the error line says) of each bad version of an input."""
    if isinstance(role, InDir):
        missing = [] if role.may_be_absent else [("missing", None, "no such folder")]
        return missing + [("a file", b"x", "not a folder")]
    out = [
        ("missing", None, "no such file"),
        ("a folder", "DIR", "not a regular file"),
        ("empty", b"", "empty file"),
    ]
    if role.kind in ("text", "json", "yaml", "tsv", "csv"):
        out.append(("not UTF-8", b"\xff\xfe\x00\x81 bad\n", "not UTF-8"))
    if role.kind == "json":
        out += [
            ("not JSON", b"{bad", "not JSON"),
            ("NaN", b'{"a": NaN}', "not JSON"),
            ("deep", b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
        ]
    if role.kind == "yaml":
        out.append(("deep", b"[" * 100_000, "nested deeper"))
    if role.kind in ("tsv", "csv"):
        sep = "\t" if role.kind == "tsv" else ","
        header = sep.join(role.columns or ("a", "b"))
        out += [
            ("header only", (header + "\n").encode(), "header only"),
            ("short row", (header + "\n1\n").encode(), "fields"),
        ]
        if role.columns:
            out.append(("wrong columns", b"x,y\n1,2\n", "no column"))
    if role.kind in ("npz", "pt"):
        out.append(("truncated", b"PK\x03\x04 truncated", "not a"))
    if role.kind in ("sf2", "wav"):
        out.append(("junk", b"junk bytes, not audio", "not a"))
    return out


def _write(path: Path, content) -> None:
    if path.is_dir():
        import shutil

        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    if content == "DIR":
        path.mkdir(parents=True)
    elif content is not None:
        path.write_bytes(content)


@pytest.mark.parametrize("step", sorted(STEPS))
def test_each_bad_input_file_is_one_line_and_changes_nothing(step, commands, tmp_path, capsys):
    argv = commands[step]
    seen = set()
    for action, i in _slots(step, argv):
        if not isinstance(action.type, (InFile, InDir)) or not argv[i] or action.dest in seen:
            continue
        seen.add(action.dest)  # the first file of a list stands for the others
        for name, content, says in _bad_files(action.type):
            root = tmp_path / f"{action.dest}-{name.replace(' ', '-')}"
            run = _sandbox(root, step, argv)
            _write(root / run[i], content)
            line = _assert_refused(root, run, capsys, mentions=says)
            assert run[i] in line, f"{step} {name} {action.dest}: {line!r} does not name the file"


WRONG_SHAPES = [b'"a string"', b"[1, 2, 3]", b'{"unexpected": {"shape": []}}', b"[[[[[[[[[[]]]]]]]]]]", b"42"]


@pytest.mark.parametrize("step", sorted(s for s in STEPS if any(
    isinstance(a.type, InFile) and a.type.kind == "json" for a in STEPS[s]._actions)))  # fmt: skip
def test_json_of_the_wrong_shape_is_one_line(step, commands, tmp_path, capsys):
    """Valid JSON, wrong shape: the step reads it (its other inputs are placeholders, which it
    may refuse first) and stops with one line, never a KeyError or TypeError traceback."""
    argv = commands[step]
    for action, i in _slots(step, argv):
        if not (isinstance(action.type, InFile) and action.type.kind == "json"):
            continue
        for k, content in enumerate(WRONG_SHAPES):
            root = tmp_path / f"{action.dest}-{i}-{k}"
            run = _sandbox(root, step, argv)
            _write(root / run[i], content)
            _assert_refused(root, run, capsys, alone=False)


# ----------------------------------------------------------------------------- bad outputs
@pytest.mark.parametrize("step", sorted(STEPS))
def test_no_output_may_name_an_input_or_the_working_directory(step, commands, tmp_path, capsys):
    argv = commands[step]
    slots = _slots(step, argv)
    inputs = [i for a, i in slots if isinstance(a.type, (InFile, InDir)) and argv[i]]
    outputs = [(a, i) for a, i in slots if isinstance(a.type, (OutFile, OutDir, StateFile, IntoDir))]
    for k, (action, i) in enumerate(outputs):
        for j in inputs[:2]:
            root = tmp_path / f"in-{k}-{j}"
            run = _sandbox(root, step, argv)
            if isinstance(action.type, IntoDir) and (root / run[j]).is_dir():
                continue  # writing named files into a folder of inputs is what a report does
            run[i] = run[j]
            _assert_refused(root, run, capsys)
        if isinstance(action.type, IntoDir):
            continue  # named files are written into it, wherever it is: nothing there is removed
        for name in (".", "..", "/"):
            root = tmp_path / f"cwd-{k}-{name.strip('./') or 'dot'}"
            run = _sandbox(root, step, argv)
            run[i] = name
            _assert_refused(root, run, capsys)
        if isinstance(action.type, (OutFile, StateFile)):  # a file output that is a folder
            root = tmp_path / f"dir-{k}"
            run = _sandbox(root, step, argv)
            (root / run[i]).mkdir(parents=True, exist_ok=True)
            (root / run[i] / "keep.txt").write_text("someone's\n")
            _assert_refused(root, run, capsys)


@pytest.mark.parametrize(
    "step", sorted(s for s in STEPS if any(isinstance(a.type, OutDir) for a in STEPS[s]._actions))
)
def test_an_output_folder_of_foreign_files_is_refused(step, commands, tmp_path, capsys):
    argv = commands[step]
    for action, i in _slots(step, argv):
        if isinstance(action.type, OutDir):
            run = _sandbox(tmp_path, step, argv)
            (tmp_path / run[i]).mkdir(parents=True)
            (tmp_path / run[i] / "thesis.tex").write_text("a year of work\n")
            _assert_refused(tmp_path, run, capsys, mentions="did not write")


def test_log_may_not_name_an_input(tmp_path, capsys):
    (tmp_path / "config.yaml").write_bytes((REPO / "config.yaml").read_bytes())
    _assert_refused(tmp_path, ["workflow", "check-config", "config.yaml", "--log", "config.yaml"], capsys,
                    mentions="is also an input")  # fmt: skip


# ----------------------------------------------------------------------------- bad values
def _bad_values(role) -> list[str]:
    if isinstance(role, Int):
        return [str(role.lo - 1), str(role.hi + 1), "abc", "1.5", "1e400"]
    if isinstance(role, Float):
        return ["nan", "inf", str(role.lo - 1), "x"] + ([str(role.lo)] if role.lo_open else [])
    if isinstance(role, JsonText):
        bad = ['"a string"', "[" * 1000 + "]" * 1000, "{", '{"a": NaN}', "x" * 30_000]
        return bad + (['{"no_such_key": 1}'] if role.schema or role.own_schema else [])
    if isinstance(role, Text):
        return ["x" * (role.max_chars + 1)] + (
            ["{unknown}", "bad value with spaces"] if role.pattern != ".+" else []
        )
    return []


@pytest.mark.parametrize("step", sorted(STEPS))
def test_each_bad_value_is_one_line(step, commands, tmp_path, capsys):
    argv = commands[step]
    for action, i in _slots(step, argv):
        for k, value in enumerate(_bad_values(action.type)):
            root = tmp_path / f"{action.dest}-{k}"
            run = _sandbox(root, step, argv)
            run[i] = value
            _assert_refused(root, run, capsys)
    for action in _actions(step):  # a value for an option that takes none, an unknown option
        if action.choices and action.option_strings:
            root = tmp_path / f"choice-{action.dest}"
            _assert_refused(
                root, _sandbox(root, step, argv) + [action.option_strings[0], "no-such-choice"], capsys
            )
    _assert_refused(
        tmp_path / "unknown", _sandbox(tmp_path / "unknown", step, argv) + ["--no-such-option"], capsys
    )


def test_every_option_declares_its_role():
    """No option reaches a step unchecked: each has a role type, choices, or is a flag."""
    for step, parser in STEPS.items():
        for action in parser._actions:
            if action.nargs == 0 or action.choices:
                continue
            assert isinstance(action.type, (Int, Float, Text, JsonText, InFile, InDir, OutFile, OutDir, StateFile, IntoDir)), (
                f"harness {step} {action.option_strings or action.dest}: no role type"
            )  # fmt: skip


# ----------------------------------------------------------------------------- found by hand
def _manifest(root: Path, stems: dict, **track) -> None:
    import soundfile

    root.mkdir(parents=True, exist_ok=True)
    soundfile.write(root / "t.wav", np.zeros(16000, np.float32), 8000)
    tracks = [{"id": "t", "split": "test", "stems": stems, **track}]
    (root / "manifest.json").write_text(
        json.dumps({"name": "x", "sample_rate": 8000, "stems": ["a"], "tracks": tracks})
    )


def test_a_manifest_may_not_point_outside_its_folder(tmp_path, capsys):
    _manifest(tmp_path / "ds", {"a": "../../etc/passwd"})
    argv = ["audio", "report", "--datasets", "ds", "--backbone", "trained", "--encoder", "", "--ckpt-dir", "x",
            "--datasets-csv", "d.csv", "--baselines", "b.csv", "--fad", "f.csv", "--figure", "f.png", "--threads", "1"]  # fmt: skip
    _assert_refused(tmp_path, argv, capsys, mentions="tracks/0/stems/a", alone=False)


def test_dataset_length_comes_from_the_files_when_the_manifest_has_none(tmp_path):
    from harness.audio.dataset import StemDataset

    _manifest(tmp_path / "ds", {"a": "t.wav"})  # downloaded datasets' manifests carry no seconds
    assert StemDataset(tmp_path / "ds").seconds("t") == 2.0


def test_dvc_yaml_outside_the_repository_is_one_line(tmp_path, capsys):
    (tmp_path / "config.yaml").write_bytes((REPO / "config.yaml").read_bytes())
    _assert_refused(tmp_path, ["workflow", "dvc-yaml", "--out", "d.yaml", "--configfile", "config.yaml"], capsys,
                    mentions="no Snakefile here", alone=False)  # fmt: skip
