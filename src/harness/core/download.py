"""Downloads for the thesis-scale data: resumable, checksum-verified, atomic.

``download(url, dest, sha256)`` streams into ``dest + ".part"``; a transfer that stops (a killed
job, a dropped connection) resumes from the bytes already there with an HTTP Range request. The
file moves to ``dest`` only when complete and, when ``sha256`` is given, only when its hash
matches; a mismatch deletes the partial file and stops with one line. Without a known hash the
one computed is returned, so the caller can record it and verify every later download.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.logs import LOG, progress

CHUNK = 1 << 20


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: str | os.PathLike, sha256: str | None = None, timeout: float = 60.0) -> str:
    """Fetch ``url`` to ``dest``; return the file's sha256. Resumes a previous partial transfer."""
    dest = Path(dest)
    if dest.exists() and (sha256 is None or sha256_of(dest) == sha256):
        LOG.info("%s already present", dest)
        return sha256_of(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            resumed = have and response.status == 206
            mode = "ab" if resumed else "wb"
            total = response.headers.get("Content-Length")
            total = int(total) + (have if resumed else 0) if total else None
            if have and not resumed:
                LOG.info("server ignored the range request: downloading %s from the start", url)
            with open(part, mode) as fh:
                bar = progress(
                    total=total, initial=have if resumed else 0, unit="B", unit_scale=True, desc=dest.name
                )
                for block in iter(lambda: response.read(CHUNK), b""):
                    fh.write(block)
                    bar.update(len(block))
                bar.close()
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the partial file is already complete
            pass
        else:
            raise HarnessError(f"download of {url} failed: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        raise HarnessError(
            f"download of {url} failed ({err}); rerun to resume from {part.stat().st_size if part.exists() else 0} bytes"
        ) from None
    got = sha256_of(part)
    if sha256 is not None and got != sha256:
        part.unlink()
        raise HarnessError(f"checksum mismatch for {url}: expected sha256 {sha256}, got {got} (file removed)")
    os.replace(part, dest)
    LOG.info("downloaded %s (sha256 %s)", dest, got)
    return got
