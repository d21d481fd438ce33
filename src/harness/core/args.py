"""Typed command-line arguments: every option of every step declares what it is.

A step's parser names each argument's role with one of these ``type=`` callables:

- values: ``Int(lo, hi)``, ``Float(lo, hi)``, ``Text(...)`` and ``JsonText(...)``, checked by
  argparse as the command line is read (a count of 0, a negative seed, a hop of -1 second or a
  100,000-character JSON argument stop there with one line);
- inputs: ``InFile(kind)`` and ``InDir()``, checked by :func:`check_paths` before the step runs
  (exists, is a file or a folder, decodes as UTF-8 text, parses as JSON, is an npz archive or a
  torch file, has the table's columns and whole rows);
- outputs: ``OutFile()`` (the step's results), ``StateFile()`` (a checkpoint it rewrites as it
  goes) and ``OutDir()``, which may never name an input, the working directory, an ancestor of
  either, or a folder holding files this step did not write.

``tests/test_bad_inputs.py`` walks every parser and fails on an option without a role, so a new
option cannot skip these checks.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.atomic import check_replaceable, refuse_working_directory
from harness.core.errors import HarnessError

MAX_ARG_CHARS = 20_000  # longer command-line values are refused (a config entry is far shorter)
MAX_JSON_DEPTH = 64  # deeper JSON is refused before the parser recurses into it


def clip(text: object, limit: int = 80) -> str:
    """``repr`` of a value cut to a readable length, for error lines that echo an input."""
    shown = repr(text)
    return shown if len(shown) <= limit else f"{shown[:limit]}... ({len(str(text))} characters)"


# ----------------------------------------------------------------------------- values
class Role:
    """Base of every argument type; ``name`` is what argparse prints in its error line."""

    name = "value"

    def __repr__(self) -> str:  # argparse prints repr(type) when a value is refused
        return self.name


@dataclass(frozen=True, repr=False)
class Int(Role):
    lo: int
    hi: int
    none_ok: bool = False  # "none" / "null" stands for "no limit"
    name = "whole number"

    def __call__(self, text: str) -> int | None:
        if self.none_ok and text.strip().lower() in ("none", "null"):
            return None
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{clip(text)} is not a whole number") from None
        if not self.lo <= value <= self.hi:
            raise argparse.ArgumentTypeError(f"{value} is outside {self.lo}..{self.hi}")
        return value


SEED = Int(0, 2**32 - 1)
THREADS = Int(0, 1024)


@dataclass(frozen=True, repr=False)
class Float(Role):
    lo: float
    hi: float
    lo_open: bool = False  # lo itself is refused (a hop of 0 seconds)
    name = "number"

    def __call__(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{clip(text)} is not a number") from None
        too_low = value <= self.lo if self.lo_open else value < self.lo
        if not math.isfinite(value) or too_low or value > self.hi:
            bound = "(" if self.lo_open else "["
            raise argparse.ArgumentTypeError(f"{value} is outside {bound}{self.lo}, {self.hi}]")
        return value


@dataclass(frozen=True, repr=False)
class Text(Role):
    """Free text: a name, a rule, a URL template. ``pattern`` must match the whole value."""

    pattern: str = r".+"
    max_chars: int = 1000
    what: str = "text"
    name = "text"

    def __call__(self, text: str) -> str:
        if len(text) > self.max_chars:
            raise argparse.ArgumentTypeError(f"{clip(text)} is longer than {self.max_chars} characters")
        if not re.fullmatch(self.pattern, text, flags=re.DOTALL):
            raise argparse.ArgumentTypeError(f"{clip(text)} is not {self.what}")
        return text


NAME = Text(r"[A-Za-z0-9][A-Za-z0-9_.-]*", 200, "a name (letters, digits, _ . -)")


def _depth(text: str) -> int:
    """Deepest bracket nesting of a JSON text, counted without recursion (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_json(text: str, what: str):
    """JSON from ``text``, or one line naming ``what`` (too deep, not JSON, NaN)."""
    if _depth(text) > MAX_JSON_DEPTH:
        raise HarnessError(f"{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels")

    def no_constant(name):
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(text, parse_constant=no_constant)
    except (json.JSONDecodeError, ValueError) as err:
        raise HarnessError(f"{what} is not JSON: {str(err).splitlines()[0][:120]}") from None


@dataclass(frozen=True, repr=False)
class JsonText(Role):
    """A JSON value on the command line (a rule passes a config entry); ``kind`` is the JSON type
    it must have, ``schema`` a JSON pointer into the config schema (the entry's rules there) or
    a schema of its own. The text is returned unchanged."""

    kind: type = dict
    schema: str | None = None
    own_schema: str = ""  # a schema of its own, as JSON text (the type must stay hashable)
    name = "JSON"

    def __call__(self, text: str) -> str:
        if len(text) > MAX_ARG_CHARS:
            raise argparse.ArgumentTypeError(f"JSON argument longer than {MAX_ARG_CHARS} characters")
        try:
            value = parse_json(text, "value")
        except HarnessError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
        if not isinstance(value, self.kind):
            raise argparse.ArgumentTypeError(
                f"{clip(text)} is a JSON {type(value).__name__}, not a {self.kind.__name__}"
            )
        if self.schema or self.own_schema:
            from harness.core.config import config_subschema
            from harness.core.inputs import check_schema

            schema = config_subschema(self.schema) if self.schema else json.loads(self.own_schema)
            try:
                check_schema(value, schema, "value")
            except HarnessError as err:
                raise argparse.ArgumentTypeError(str(err)) from None
        return text


# ----------------------------------------------------------------------------- paths
class PathRole(Role):
    name = "path"

    def __call__(self, text: str) -> str:
        if "\0" in text or len(text) > 4096:
            raise argparse.ArgumentTypeError(f"{clip(text)} is not a usable path")
        return text


TEXT_KINDS = ("text", "json", "yaml", "tsv", "csv")


@dataclass(frozen=True, repr=False)
class InFile(PathRole):
    """An input file. ``kind``: text, json, yaml, tsv, csv (UTF-8 text, parsed), npz, pt (zip
    archives), sf2 (a SoundFont), wav or any. ``columns``: a table's required header fields."""

    kind: str = "any"
    columns: tuple = ()


@dataclass(frozen=True, repr=False)
class InDir(PathRole):
    may_be_absent: bool = False  # read only when present (a folder of optional checkpoints)


@dataclass(frozen=True, repr=False)
class OutFile(PathRole):
    pass


@dataclass(frozen=True, repr=False)
class StateFile(PathRole):
    """A file the step rewrites while it runs (a training checkpoint) and reads back on resume."""


@dataclass(frozen=True, repr=False)
class OutDir(PathRole):
    """A folder the step makes whole (replaced as one; refused if it holds foreign files)."""


@dataclass(frozen=True, repr=False)
class IntoDir(PathRole):
    """A shared folder the step writes named files into (results/tables); nothing is removed."""


# ----------------------------------------------------------------------------- checks
@dataclass
class Paths:
    """The paths of one invocation, by role (``flag`` names the option for error lines)."""

    inputs: list[tuple[str, Path, InFile | InDir]] = field(default_factory=list)
    outputs: list[tuple[str, Path, PathRole]] = field(default_factory=list)


def collect(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Paths:
    found = Paths()
    for action in parser._actions:
        role = action.type
        if not isinstance(role, PathRole):
            continue
        values = getattr(args, action.dest, None)
        values = values if isinstance(values, list) else [values]
        flag = action.option_strings[-1] if action.option_strings else action.metavar or action.dest
        for value in values:
            if value in (None, ""):
                continue
            if isinstance(role, (InFile, InDir)):
                found.inputs.append((flag, Path(value), role))
            else:
                found.outputs.append((flag, Path(value), role))
    return found


def _check_table(path: str, text: str, role: InFile) -> None:
    delimiter = "\t" if role.kind == "tsv" else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not rows or not any(rows[0]):
        raise HarnessError(f"{path}: empty table (no header)")
    header = rows[0]
    missing = [c for c in role.columns if c not in header]
    if missing:
        raise HarnessError(f"{path}: no column {missing[0]!r} (has {clip(','.join(header), 120)})")
    if len(rows) < 2:
        raise HarnessError(f"{path}: header only, no rows")
    for number, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise HarnessError(f"{path}: line {number} has {len(row)} fields, the header {len(header)}")


def check_input(flag: str, path: Path, role: InFile | InDir) -> None:
    """One line on an input that is missing, of the wrong type, or unreadable as its kind."""
    if not path.exists():
        if isinstance(role, InDir) and role.may_be_absent:
            return
        raise HarnessError(f"{flag} {path}: no such {'folder' if isinstance(role, InDir) else 'file'}")
    if isinstance(role, InDir):
        if not path.is_dir():
            raise HarnessError(f"{flag} {path}: not a folder")
        if not os.access(path, os.R_OK | os.X_OK):
            raise HarnessError(f"{flag} {path}: folder not readable")
        return
    if not path.is_file():
        raise HarnessError(f"{flag} {path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise HarnessError(f"{flag} {path}: file not readable")
    if path.stat().st_size == 0:
        raise HarnessError(f"{flag} {path}: empty file")
    if role.kind in TEXT_KINDS:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise HarnessError(f"{flag} {path}: not UTF-8 text (byte {err.start})") from None
        if role.kind == "json":
            parse_json(text, f"{flag} {path}")
        elif role.kind == "yaml" and _depth(text) > MAX_JSON_DEPTH:
            raise HarnessError(f"{flag} {path}: nested deeper than {MAX_JSON_DEPTH} levels")
        elif role.kind in ("tsv", "csv"):
            _check_table(f"{flag} {path}", text, role)
    elif role.kind in ("npz", "pt"):
        if not zipfile.is_zipfile(path):
            what = "an .npz archive" if role.kind == "npz" else "a torch file (torch.save zip)"
            raise HarnessError(f"{flag} {path}: not {what}")
    elif role.kind == "sf2":
        with open(path, "rb") as fh:
            head = fh.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
            raise HarnessError(f"{flag} {path}: not a SoundFont (.sf2) file")
    elif role.kind == "wav":
        with open(path, "rb") as fh:
            head = fh.read(12)
        if head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:12] != b"WAVE":
            raise HarnessError(f"{flag} {path}: not a WAV file")


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_output(flag: str, path: Path, role: PathRole, inputs: list[Path], step: str) -> None:
    """One line when writing ``path`` could destroy something the step did not make."""
    target = path.resolve()
    if isinstance(role, IntoDir):  # named files are written into it; nothing there is removed
        if target.exists() and not target.is_dir():
            raise HarnessError(f"{flag} {path}: exists and is not a folder")
        return
    refuse_working_directory(path, f"{flag} {path}")
    for inp in inputs:
        if target == inp:
            raise HarnessError(f"{flag} {path}: is also an input of this step")
        if _is_within(inp, target):
            raise HarnessError(f"{flag} {path}: holds an input of this step ({inp})")
    if isinstance(role, OutDir):
        check_replaceable(path, step, flag)
    elif target.is_dir():
        raise HarnessError(f"{flag} {path}: is a folder, expected a file")


def check_paths(parser: argparse.ArgumentParser, args: argparse.Namespace, step: str) -> Paths:
    """Check every input of an invocation, then every output against them, before any work."""
    paths = collect(parser, args)
    for flag, path, role in paths.inputs:
        check_input(flag, path, role)
    inputs = [p.resolve() for _, p, _ in paths.inputs]
    seen: dict[Path, str] = {}
    for flag, path, role in paths.outputs:
        check_output(flag, path, role, inputs, step)
        if path.resolve() in seen:
            raise HarnessError(f"{flag} {path}: also given as {seen[path.resolve()]}")
        seen[path.resolve()] = flag
    return paths
