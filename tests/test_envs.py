"""Conda environments for cluster users agree with the pinned Python set."""

import re

import yaml

from conftest import REPO


def lock_pins() -> dict[str, str]:
    pins = {}
    lines = (REPO / "requirements.lock").read_text().splitlines()
    lines += (REPO / "requirements-nodeps.txt").read_text().splitlines()  # weight-only packages
    for line in lines:
        m = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_every_env_pin_matches_the_lock():
    pins = lock_pins()
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert {p.stem for p in envs} >= {"odeen", "tables"}
    for env in envs:
        spec = yaml.safe_load(env.read_text())
        assert "python=3.11" in spec["dependencies"]
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
        for req in (r for r in pip if not r.startswith("-e ")):
            name, version = req.split("==")
            assert pins[name.lower()] == version, (
                f"{env.name}: {req} but the lock has {pins.get(name.lower())}"
            )


def test_lock_holds_the_required_pins():
    pins = lock_pins()
    expected = {
        "torch": "2.11.0",
        "torchaudio": "2.11.0",
        "numpy": "1.26.4",
        "snakemake": "9.27.1",
        "snakemake-executor-plugin-slurm": "2.6.1",
        "dvc": "3.67.1",
        "pandas": "2.3.3",
        "museval": "0.4.1",
        "frechet-audio-distance": "0.3.4",
        "transformers": "5.24.0",
        "diffusers": "0.42.1",
        "matplotlib": "3.11.2",
        "pytest": "9.2.0",
    }
    for name, version in expected.items():
        assert pins.get(name) == version, name


def test_rules_point_at_existing_envs():
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', smk.read_text()):
            assert (smk.parent / env).resolve().exists(), f"{smk.name}: {env}"


def test_envs_install_harness_from_the_repository_root():
    for env in (REPO / "envs").glob("*.yaml"):
        spec = yaml.safe_load(env.read_text())
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
        editable = [r.split(" ", 1)[1] for r in pip if r.startswith("-e ")]
        assert editable and (env.parent / editable[0] / "pyproject.toml").exists(), env.name
