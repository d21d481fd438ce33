import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Workflow files a copy of the pipeline needs to run somewhere else; src/ too, since every rule
# names the source files its command runs as inputs.
WORKFLOW_FILES = ["Snakefile", "workflow", "config.yaml", "config", "slurm", "gpu", "envs", "dvc.yaml", "src"]


def run(cmd, cwd=None, check=True, env=None, timeout=900):
    """Run a command with the venv's tools first on PATH; return the CompletedProcess."""
    full_env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    full_env.update(env or {})
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=full_env,
        text=True,
        capture_output=True,
        timeout=timeout,
        shell=isinstance(cmd, str),
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
        )
    return proc


def copy_workflow(dest: Path, with_src: bool = False) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES + (["pyproject.toml"] if with_src else []):
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


TINY = REPO / "tests" / "data" / "tiny.yaml"


def use_tiny_config(dest: Path) -> Path:
    """Make dest/config.yaml the embedded config with tests/data/tiny.yaml layered over it, so a
    copy of the pipeline trains and evaluates the whole CRN family in about a minute."""
    import yaml

    from harness.core.config import load_config

    merged = load_config(REPO / "config.yaml", TINY)
    (dest / "config.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    return dest


@pytest.fixture
def workflow_dir(tmp_path):
    return copy_workflow(tmp_path / "wf")


@pytest.fixture
def tiny_workflow_dir(tmp_path):
    return use_tiny_config(copy_workflow(tmp_path / "wf"))


@pytest.fixture(scope="session")
def tags():
    """The full tag matrix of the language over U (computed once per test session)."""
    from harness.odeen.interpreter import tag_matrix

    return tag_matrix()


@pytest.fixture(scope="session")
def rules_table(tags):
    from harness.odeen.data import rules_table

    rules, packed = tags
    return rules_table(rules, packed)


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with HTTP Range support (like a real host), quietly."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path.split("?")[0]))
        if not path.is_file():
            return self.send_error(404)
        data = path.read_bytes()
        start = 0
        if self.headers.get("Range"):
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        self.wfile.write(data[start:])


@pytest.fixture
def http_root(tmp_path):
    """(folder, base URL): files put in the folder are served on 127.0.0.1 with Range support."""
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **k: RangeHandler(*a, directory=str(root), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def inception_weights(tmp_path, monkeypatch):
    """(file, network): Inception-v3 (torch-fidelity's FID architecture) with random weights saved
    to a local file, as the thesis-scale FID reads its weights (the real ones cannot be fetched)."""
    import torch
    import torch_fidelity.feature_extractor_inceptionv3 as fe

    with monkeypatch.context() as m:  # build the architecture once without any weights
        m.setattr(fe, "load_state_dict_from_url", lambda *a, **k: None)
        m.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd: None)
        torch.manual_seed(0)
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    weights = tmp_path / "weights-inception-2015-12-05.pth"
    torch.save(net.state_dict(), weights)
    return weights, net


SLAKH_TRACKS = {
    "train": ["Track00001", "Track00002"],
    "validation": ["Track00003"],
    "test": ["Track00004", "Track00005"],
}
SLAKH_STEMS = ("bass", "drums", "guitar", "piano")


def slakh_archives(root: Path, seconds: float, rate: int = 22050) -> dict[str, str]:
    """MSDM's Slakh layout as served by the thesis config's download rule: one tar.gz per stem
    (``<stem>_22050/<split>/<Track>.wav``, noise) in ``root``; returns the sha256 entries."""
    import hashlib
    import io
    import tarfile

    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    for stem in SLAKH_STEMS:
        with tarfile.open(root / f"{stem}.tar.gz", "w:gz") as tf:
            for split, names in SLAKH_TRACKS.items():
                for name in names:
                    buf = io.BytesIO()
                    sf.write(
                        buf, rng.normal(size=int(seconds * rate)) * 0.1, rate, format="WAV", subtype="PCM_16"
                    )
                    info = tarfile.TarInfo(f"{stem}_22050/{split}/{name}.wav")
                    info.size = buf.getbuffer().nbytes
                    tf.addfile(info, io.BytesIO(buf.getvalue()))
    return {f"all/{s}": hashlib.sha256((root / f"{s}.tar.gz").read_bytes()).hexdigest() for s in SLAKH_STEMS}


def slakh_download(base: str, sha: dict[str, str]) -> dict:
    """The toy config's ``audio.datasets.slakh`` entry: the archives of ``slakh_archives``."""
    return {"url": base + "/{shard}.tar.gz", "sha256": sha, "shards": {"all": list(SLAKH_STEMS)}}
