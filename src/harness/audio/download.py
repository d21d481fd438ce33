"""Thesis-scale datasets: download, verify, extract, and index as a manifest.

One spec per dataset (``audio.datasets.<name>`` in the config)::

    layout: slakh_msdm | musdb18hq | cocochorales | moisesdb | mtg_jamendo
    url: "https://host/path/{split}/{shard}.tar.bz2"   # a template over the shards
    shards: {train: [1, 2], test: [1]}                  # split -> shard names ("all": no split)
    sha256: {"train/1": "<hex>", ...}                   # optional, per shard
    local_path: null                                    # a copy already on disk: no download
    licence: null                                       # set: the data needs a click or a token

Each archive is fetched with ``harness.core.download`` (resumable, checksum-verified), then all
are extracted into a temporary directory that becomes ``data/audio/<name>`` only when every
archive extracted and the layout scan found tracks; a truncated or corrupt archive stops the step
with one line and leaves no dataset behind. The layout scan writes the same ``manifest.json`` as
the embedded datasets (``harness.audio.dataset``).
"""

from __future__ import annotations

import os
import re
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from harness.audio.dataset import write_manifest
from harness.core.atomic import atomic_dir
from harness.core.download import download
from harness.core.errors import HarnessError
from harness.core.logs import LOG

AUDIO = (".wav", ".flac", ".mp3")


# ----------------------------------------------------------------------------- archives
def extract_archive(archive: str | os.PathLike, dest: str | os.PathLike) -> None:
    """Extract a zip or tar (any compression) into ``dest``; one line on a corrupt archive."""
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise HarnessError(f"{archive}: corrupt zip archive (CRC error in {bad})")
                for name in zf.namelist():
                    if Path(name).is_absolute() or ".." in Path(name).parts:
                        raise HarnessError(f"{archive}: unsafe path {name!r} in archive")
                zf.extractall(dest)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as tf:
                tf.extractall(dest, filter="data")
        else:
            raise HarnessError(f"{archive}: not a zip or tar archive (truncated or corrupt download?)")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, zlib.error) as err:
        raise HarnessError(f"{archive}: corrupt or truncated archive ({type(err).__name__}: {err})") from None


def archive_list(spec: dict) -> list[tuple[str, str, str, str | None]]:
    """``(key, split, url, sha256)`` of every archive of a spec, key = "split/shard"."""
    out = []
    if spec.get("shards") and not spec.get("url"):
        raise HarnessError("shards are configured but no url template")
    for split, shards in (spec.get("shards") or {}).items():
        for shard in shards:
            key = f"{split}/{shard}"
            try:
                url = spec["url"].format(split=split, shard=shard)
            except (KeyError, IndexError, ValueError) as err:
                raise HarnessError(
                    f"url template {spec['url'][:100]!r}: only {{split}} and {{shard}} may be used ({type(err).__name__}: {err})"
                ) from None
            out.append((key, split, url, (spec.get("sha256") or {}).get(key) or None))
    return out


# ----------------------------------------------------------------------------- layouts
def _split_of(name: str) -> str | None:
    return {
        "train": "train",
        "training": "train",
        "valid": "valid",
        "validation": "valid",
        "test": "test",
    }.get(name.lower())


def _hash_split(track: str, fractions: dict) -> str:
    """A stable split for datasets without one: crc32 of the track id against the fractions."""
    u = zlib.crc32(track.encode()) % 10_000 / 10_000
    valid, test = float(fractions.get("valid", 0.0)), float(fractions.get("test", 0.0))
    return "valid" if u < valid else "test" if u < valid + test else "train"


def _files(root: Path, suffixes=AUDIO) -> list[Path]:
    """Audio files under ``root``, following symlinks (a ``local_path`` copy is linked in)."""
    found = []
    for folder, _dirs, names in os.walk(root, followlinks=True):
        found += [Path(folder) / n for n in names if Path(n).suffix.lower() in suffixes]
    return sorted(found)


def scan_slakh_msdm(root: Path, spec: dict) -> list[dict]:
    """MSDM's Slakh2100 (bass, drums, guitar, piano at 22.05 kHz), either converted
    (``<split>/<Track>/<stem>.wav``) or as its per-stem archives (``<stem>_22050/<split>/<Track>.wav``)."""
    stems = spec.get("stems", ["bass", "drums", "guitar", "piano"])
    tracks: dict[tuple[str, str], dict] = {}
    for f in _files(root, (".wav",)):
        parts = f.relative_to(root).parts
        m = re.fullmatch(r"(\w+)_\d+", parts[-3]) if len(parts) >= 3 else None
        if m and m.group(1) in stems and _split_of(parts[-2]):  # <stem>_22050/<split>/<Track>.wav
            stem, split, track = m.group(1), _split_of(parts[-2]), f.stem
        elif f.stem in stems and len(parts) >= 3 and _split_of(parts[-3]):  # <split>/<Track>/<stem>.wav
            stem, split, track = f.stem, _split_of(parts[-3]), parts[-2]
        else:
            continue
        tracks.setdefault((split, track), {"id": track, "split": split, "stems": {}})["stems"][stem] = str(
            f.relative_to(root)
        )
    return [tracks[k] for k in sorted(tracks)]


def scan_musdb18hq(root: Path, spec: dict) -> list[dict]:
    """MUSDB18-HQ: ``<train|test>/<Artist - Title>/{bass,drums,other,vocals}.wav`` (mixture.wav
    is the sum and is not a stem); ``valid_tracks`` moves training tracks to the validation split."""
    stems, valid = ["bass", "drums", "other", "vocals"], set(spec.get("valid_tracks") or [])
    tracks: dict[tuple[str, str], dict] = {}
    for f in _files(root, (".wav",)):
        parts = f.relative_to(root).parts
        if f.stem not in stems or len(parts) < 3 or not _split_of(parts[-3]):
            continue
        name, split = parts[-2], _split_of(parts[-3])
        split = "valid" if split == "train" and name in valid else split
        tracks.setdefault((split, name), {"id": name, "split": split, "stems": {}})["stems"][f.stem] = str(
            f.relative_to(root)
        )
    return [tracks[k] for k in sorted(tracks)]


def scan_cocochorales(root: Path, spec: dict) -> list[dict]:
    """CocoChorales: ``<split>/.../<ensemble>_track<N>/stems_audio/<part>_<instrument>.wav``,
    parts 1-4 from the highest voice down, stored as soprano, alto, tenor, bass."""
    voices = ["soprano", "alto", "tenor", "bass"]
    tracks: dict[tuple[str, str], dict] = {}
    for f in _files(root, (".wav",)):
        parts = f.relative_to(root).parts
        m = re.fullmatch(r"([1-4])_(\w+)", f.stem)
        if not m or len(parts) < 4 or parts[-2] != "stems_audio":
            continue
        split = _split_of(parts[0]) or next((_split_of(p) for p in parts if _split_of(p)), None)
        if split is None:
            continue
        track = parts[-3]
        entry = tracks.setdefault(  # track names repeat across splits: the id carries the split
            (split, track), {"id": f"{split}/{track}", "split": split, "stems": {}, "instruments": {}}
        )
        voice = voices[int(m.group(1)) - 1]
        entry["stems"][voice] = str(f.relative_to(root))
        entry["instruments"][voice] = m.group(2)
    return [tracks[k] for k in sorted(tracks)]


MOISES_STEMS = [
    "vocals", "bass", "drums", "guitar", "piano", "other_keys", "bowed_strings", "wind",
    "other_plucked", "percussion", "other",
]  # fmt: skip


def scan_moisesdb(root: Path, spec: dict) -> list[dict]:
    """MoisesDB: ``<track uuid>/<stem>/<source>.wav``, the 11 top-level stems of its taxonomy; a
    stem with several source files lists them all (they sum on load). No official split: a
    stable hash of the track id assigns ``split_fractions``."""
    tracks: dict[str, dict] = {}
    for f in _files(root, (".wav",)):
        parts = f.relative_to(root).parts
        if len(parts) < 3 or parts[-2] not in MOISES_STEMS:
            continue
        track = parts[-3]
        entry = tracks.setdefault(
            track, {"id": track, "split": _hash_split(track, spec.get("split_fractions") or {})}
        )
        entry.setdefault("stems", {}).setdefault(parts[-2], []).append(str(f.relative_to(root)))
    return [tracks[k] for k in sorted(tracks)]


def scan_mtg_jamendo(root: Path, spec: dict) -> list[dict]:
    """MTG-Jamendo ``raw_30s/audio-low``: ``<NN>/<id>.low.mp3`` mixtures (no stems); the thesis
    trains on the first 98 folders and validates on the last 2 (``valid_folders``)."""
    valid = {f"{int(x):02d}" for x in spec.get("valid_folders", [98, 99])}
    out = []
    for f in _files(root, (".mp3",)):
        folder = f.parent.name
        if not re.fullmatch(r"\d\d", folder):
            continue
        track = f.name.split(".")[0]
        out.append(
            {
                "id": track,
                "split": "valid" if folder in valid else "train",
                "stems": {"mixture": str(f.relative_to(root))},
            }
        )
    return sorted(out, key=lambda t: (t["split"], t["id"]))


LAYOUTS: dict[str, tuple[Callable[[Path, dict], list[dict]], list[str]]] = {
    "slakh_msdm": (scan_slakh_msdm, ["bass", "drums", "guitar", "piano"]),
    "musdb18hq": (scan_musdb18hq, ["bass", "drums", "other", "vocals"]),
    "cocochorales": (scan_cocochorales, ["soprano", "alto", "tenor", "bass"]),
    "moisesdb": (scan_moisesdb, MOISES_STEMS),
    "mtg_jamendo": (scan_mtg_jamendo, ["mixture"]),
}


def index_dataset(root: Path, name: str, spec: dict) -> list[dict]:
    """Scan ``root`` with the spec's layout and write its manifest; stops when nothing is found."""
    if spec.get("layout") not in LAYOUTS:
        raise HarnessError(f"{name}: unknown layout {spec.get('layout')!r} (one of {', '.join(LAYOUTS)})")
    scan, stems = LAYOUTS[spec["layout"]]
    tracks = scan(root, spec)
    if not tracks:
        raise HarnessError(f"{name}: no tracks of the {spec['layout']} layout found under {root}")
    rate = int(spec["sample_rate"])
    import soundfile as sf

    first = next(iter(tracks[0]["stems"].values()))
    first = first[0] if isinstance(first, list) else first
    try:
        got = sf.info(str(root / first)).samplerate
    except (sf.LibsndfileError, RuntimeError) as err:
        raise HarnessError(f"{name}: {root / first} is not readable audio ({err})") from None
    if got != rate:
        raise HarnessError(f"{name}: {first} is {got} Hz, the spec says {rate} Hz")
    write_manifest(root, name, rate, stems, tracks)
    counts = {s: sum(t["split"] == s for t in tracks) for s in ("train", "valid", "test")}
    LOG.info("%s: %d tracks %s", name, len(tracks), counts)
    return tracks


# ----------------------------------------------------------------------------- the step
def prepare_dataset(name: str, spec: dict, out: str | os.PathLike, downloads: str | os.PathLike) -> None:
    """Download (or link a local copy of) one thesis dataset into ``out`` with its manifest."""
    out = Path(out)
    local = spec.get("local_path")
    if local:
        local = Path(local)
        if not local.is_dir():
            raise HarnessError(f"{name}: local_path {local} is not a directory")
        with atomic_dir(out) as tmp:
            for child in sorted(local.iterdir()):  # symlinks: the data stays where the user keeps it
                os.symlink(child.resolve(), tmp / child.name)
            index_dataset(tmp, name, spec)
        return
    if spec.get("licence"):
        raise HarnessError(
            f"{name} needs {spec['licence']}: download it by hand and set audio.datasets.{name}.local_path"
        )
    archives = archive_list(spec)
    if not archives:
        raise HarnessError(f"{name}: no archives configured (audio.datasets.{name}.shards) and no local_path")
    fetched = []
    for key, split, url, sha in archives:
        path = Path(downloads) / name / (key.replace("/", "-") + ".archive")
        got = download(url, path, sha)
        if sha is None:
            LOG.warning(
                "%s: no sha256 configured for %s; received %s (record it under sha256.%s)",
                name,
                url,
                got,
                key,
            )
        fetched.append((split, path))
    with atomic_dir(out) as tmp:
        for split, path in fetched:
            LOG.info("extracting %s", path)
            extract_archive(path, tmp / split if split != "all" else tmp)
        index_dataset(tmp, name, spec)
