"""Atomic outputs: a step writes to a temporary file beside the target and renames it into
place only when the write succeeded, so a killed or failing step leaves no partial output.

Inside :func:`transaction` (the CLI opens one around every step) the renames wait until the
whole step has succeeded: a step's outputs appear all together or not at all. Checkpoints
(``immediate=True``) and files written into a folder still being built are renamed at once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from harness.core.errors import HarnessError

MARKER = ".harness-output"  # in every folder a step writes: the step that owns it

_pending: list[tuple[Path, Path]] | None = None  # (temporary, target) renames of the open transaction
_removals: list[Path] = []  # files to delete once the transaction's renames are done
_building: set[Path] = set()  # temporary folders of atomic_dir blocks still open
_owner = "harness"  # the running step, recorded in the folders it writes


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(tmp: Path, target: Path, immediate: bool) -> None:
    inside = any(folder in target.parents for folder in _building)
    if _pending is not None and not immediate and not inside:
        _pending.append((tmp, target))
    else:
        if tmp.is_dir() and target.is_dir():
            check_replaceable(target)  # checked again here, where a folder is removed
            shutil.rmtree(target)
        os.replace(tmp, target)


@contextlib.contextmanager
def transaction(owner: str) -> Iterator[None]:
    """Hold every output's rename until the block ends (step ``owner`` succeeded); drop the
    temporary files on failure, so no output of a failed step appears."""
    global _pending, _owner
    _pending, _owner = [], owner
    try:
        yield
        pending, _pending = _pending, None
        for tmp, target in pending:
            _publish(tmp, target, immediate=True)
        for path in _removals:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
    finally:
        _removals.clear()
        for tmp, _ in _pending or []:
            if tmp.exists():
                shutil.rmtree(tmp) if tmp.is_dir() else tmp.unlink()
        _pending, _owner = None, "harness"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, immediate: bool = False) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it to ``path`` on success (at
    once when ``immediate``, else when the step's transaction ends)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; outputs get the usual mode
        _publish(Path(tmp), target, immediate)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_when_done(path: str | os.PathLike) -> None:
    """Delete ``path`` (a finished run's checkpoint) once the step's outputs are in place; a step
    that fails after this call keeps it, so a rerun still resumes."""
    if _pending is not None:
        _removals.append(Path(path))
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes_with(path: str | os.PathLike, writer) -> None:
    """Call ``writer(file_object)`` on a binary temporary file, then move it into place."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        writer(fh)


def refuse_working_directory(target: Path, where: str) -> None:
    """An output may not be the working directory or one of its ancestors."""
    cwd = Path.cwd().resolve()
    if target.resolve() in (cwd, *cwd.parents):
        raise HarnessError(f"{where}: is the working directory or one of its ancestors")


def check_replaceable(target: Path, owner: str | None = None, flag: str = "") -> None:
    """Refuse to replace a folder step ``owner`` did not write (or the working directory)."""
    owner = owner or _owner
    where = f"{flag} {target}".strip()
    refuse_working_directory(target, where)
    if not target.exists():
        return
    if not target.is_dir():
        raise HarnessError(f"{where}: exists and is not a folder")
    marker = target / MARKER
    written_by = marker.read_text(encoding="utf-8", errors="replace").strip() if marker.is_file() else ""
    if any(target.iterdir()) and written_by != owner:
        raise HarnessError(
            f"{where}: folder holds files `harness {owner}` did not write; choose an empty or new folder"
        )


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; it replaces ``path`` only on success, so a
    failing or killed step leaves no half-written dataset (a stale temporary one at most).
    ``path`` may be new, empty, or a folder this same step wrote before (its marker file says
    so); anything else is refused before any work."""
    target = Path(path)
    check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    _building.add(tmp.resolve())
    try:
        yield tmp
        (tmp / MARKER).write_text(_owner + "\n", encoding="utf-8")
        os.chmod(tmp, 0o777 & ~_umask())
        _building.discard(tmp.resolve())
        _publish(tmp, target, immediate=False)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        _building.discard(tmp.resolve())
