"""The Snakemake DAG: rules run on real data in a temporary copy, no-op re-runs, profiles' dry
runs and the resources they would submit, config errors, report, lint, and the DVC view."""

import json
import re

import numpy as np
import pytest

from conftest import REPO, run


def dry_run_jobs(output: str) -> dict[str, list[dict]]:
    """Parse `snakemake -n` output into {rule: [resources of each job]}."""
    jobs: dict[str, list[dict]] = {}
    for block in re.split(r"\n(?=rule |localrule )", output):
        head = re.match(r"(?:local)?rule (\w+):", block)
        if not head:
            continue
        res = re.search(r"resources: (.*)", block)
        items = dict(kv.split("=", 1) for kv in res.group(1).split(", ")) if res else {}
        jobs.setdefault(head.group(1), []).append(items)
    return jobs


def test_whole_dag_runs_and_noop_rerun(tiny_workflow_dir):
    workflow_dir = tiny_workflow_dir
    run(["snakemake", "-c2"], cwd=workflow_dir)
    for path in [
        "data/odeen/games_test.npz",
        "models/odeen/interpreter_60x100.pt",
        "models/odeen/cg_40x40.pt",
        "results/odeen/eval/crn_60x100.json",
        "results/odeen/eval/emp_c_60x100.json",
        "results/figures/figure_3_6.png",
        "results/figures/figure_3_exactly_two.png",
        "data/sit/generated/name_agnostic.json",
        "results/sit/scores/smollm2.csv",
        "results/figures/figure_4_2.png",
        "data/odeen/universe.txt",
        "data/odeen/tags.npz",
        "data/odeen/rules.tsv",
        "results/odeen/language.json",
        "results/odeen/positive_rates.png",
        "results/README.md",
        "logs/odeen/tags.log",
        "logs/benchmarks/odeen/tags.tsv",
        "data/audio/synthpop/manifest.json",
        "data/audio/chorales/train/chorale001/soprano.wav",
        "models/audio/fad_encoder.pt",
        "results/audio/fad_encoder.csv",
        "results/audio/fad.csv",
        "results/audio/datasets.png",
        "data/lass/mnist.npz",
        "models/lass/mnist/vqvae.pt",
        "models/lass/mnist/prior.pt",
        "models/lass/mnist/likelihood.pt",
        "results/lass/samplers/beam.csv",
        "results/lass/timing.json",
        "results/figures/figure_5_3.png",
    ]:
        assert (workflow_dir / path).exists(), path
    for table in ["table_3_1", "table_7_1"]:
        for ext in ("md", "tex", "csv"):
            assert (workflow_dir / f"results/tables/{table}.{ext}").exists()
    # the Odeen tables are filled: every thesis cell of Table 3.1 / 3.2 has ours beside it
    import csv

    for table, n_cells in (("table_3_1", 9), ("table_3_2", 12), ("text_3_strict_crn", 4), ("table_4_3", 20),
                           ("table_5_1", 2), ("table_5_3", 6), ("table_5_4", 2)):  # fmt: skip
        with open(workflow_dir / f"results/tables/{table}.csv") as fh:
            rows = list(csv.DictReader(fh))
        assert sum(bool(r["ours"]) for r in rows) == n_cells, table
    with open(workflow_dir / "results/tables/table_4_3.csv") as fh:
        cells = {(r["row"], r["column"]): r["ours"] for r in csv.DictReader(fh)}
    assert cells[("Symbolic solver (upper bound)", "Tricky")] == "100.0%"
    assert cells[("Random", "Plain")] == "20.0%" and cells[("GPT-2", "Plain")] == ""
    assert cells[("SmolLM2-135M-Instruct (GGUF Q4_1)", "Agnostic-emoji")].endswith("%")
    assert (workflow_dir / "checkpoints").exists() and not list(
        (workflow_dir / "checkpoints").rglob("*.ckpt")
    )
    # the audio layer's Average baseline: SI-SDRi is 0 dB by scale invariance, SDR is finite
    with open(workflow_dir / "results/audio/baselines.csv") as fh:
        baselines = list(csv.DictReader(fh))
    assert {r["dataset"] for r in baselines} == {"synthpop", "chorales"} and len(baselines) == 8
    assert all(float(r["si_sdri_db"]) == 0.0 and abs(float(r["sdr_db"])) < 20 for r in baselines)
    # LASS: the Average baseline scores the same test mixtures as LASS; cited rows stay cited
    with open(workflow_dir / "results/tables/table_5_2.csv") as fh:
        cells = {(r["row"], r["column"]): r for r in csv.DictReader(fh)}
    assert 13 < float(cells[("Average", "MNIST (PSNR)")]["ours"]) < 17
    assert float(cells[("LASS (Ours)", "MNIST (PSNR)")]["ours"]) > 0
    assert cells[("BASIS NCSN (cited)", "MNIST (PSNR)")]["ours"] == ""
    # the DAG's outputs equal the committed results of the embedded run
    assert json.loads((workflow_dir / "results/odeen/language.json").read_text()) == json.loads(
        (REPO / "results/odeen/language.json").read_text()
    )
    assert (workflow_dir / "results/README.md").read_text() == (REPO / "results/README.md").read_text()
    again = run(["snakemake", "-c2"], cwd=workflow_dir)
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_embedded_odeen_family_reproduces_committed_results(workflow_dir):
    """The embedded default run of the CRN family (about 12 minutes on 2 cores) gives the
    committed Odeen tables: every step is seeded and trains on one thread."""
    run(["snakemake", "-c2", "odeen_report"], cwd=workflow_dir, timeout=3600)
    for name in ("table_3_1", "table_3_2", "text_3_exactly_two", "text_3_strict_crn"):
        ours = (workflow_dir / f"results/odeen/{name}.csv").read_text()
        assert ours == (REPO / f"results/odeen/{name}.csv").read_text(), name


@pytest.mark.slow
def test_embedded_lass_family_reproduces_committed_results(workflow_dir):
    """The embedded LASS run (about 20 minutes on 2 cores) gives the committed training curves,
    likelihood counts and PSNR of every sampler: all of it is seeded and runs on one thread.
    Seconds differ by run."""
    import csv

    run(["snakemake", "-c2", "lass_report"], cwd=workflow_dir, timeout=3600)

    def column(path, name):
        with open(path) as fh:
            return [row[name] for row in csv.DictReader(fh)]

    for name in (
        "mnist/vqvae.csv",
        "mnist/prior.csv",
        "baselines.csv",
        "table_5_1.csv",
        "table_5_2.csv",
        "table_5_3.csv",
    ):
        assert (workflow_dir / f"results/lass/{name}").read_text() == (
            REPO / f"results/lass/{name}"
        ).read_text(), name
    for path in ["test.csv", *[f"samplers/{p.name}" for p in (REPO / "results/lass/samplers").glob("*.csv")]]:
        assert column(workflow_dir / f"results/lass/{path}", "psnr") == column(
            REPO / f"results/lass/{path}", "psnr"
        ), path
    ours, committed = (
        json.loads((d / "results/lass/mnist/likelihood.json").read_text()) for d in (workflow_dir, REPO)
    )
    assert ours.pop("count_seconds") > 0 and committed.pop("count_seconds") > 0 and ours == committed


@pytest.mark.slow
def test_embedded_audio_layer_reproduces_committed_results(workflow_dir):
    """The embedded audio datasets, FAD encoder and report (about 3 minutes on 2 cores) give the
    committed results/audio/ files: rendering, training and scoring are all seeded."""
    run(["snakemake", "-c2", "audio_report"], cwd=workflow_dir, timeout=3600)
    for name in ("datasets.csv", "baselines.csv", "fad.csv", "fad_encoder.csv"):
        ours = (workflow_dir / f"results/audio/{name}").read_text()
        assert ours == (REPO / f"results/audio/{name}").read_text(), name


def test_bad_config_stops_with_one_line(workflow_dir):
    cfg = workflow_dir / "config.yaml"
    cfg.write_text(
        cfg.read_text().replace("histogram_bins: 20", "histogram_bins: 20\n  histogram_colour: red")
    )
    proc = run(["snakemake", "-n", "-c1"], cwd=workflow_dir, check=False)
    assert proc.returncode != 0
    assert "config: unknown key 'histogram_colour' in odeen" in proc.stdout + proc.stderr
    assert not (workflow_dir / "data").exists()


def test_slurm_profile_dry_run(workflow_dir):
    out = run(["snakemake", "-n", "--profile", "slurm", "--forceall"], cwd=workflow_dir).stdout
    jobs = dry_run_jobs(out)
    assert set(jobs) >= {
        "odeen_universe",
        "odeen_tags",
        "odeen_rules",
        "odeen_summary",
        "table",
        "results_index",
    }
    assert len(jobs["table"]) == 17
    assert len(jobs["odeen_train_interpreter"]) == 6 and len(jobs["odeen_train_empiricist"]) == 2
    train = jobs["odeen_train_cg"][0]
    assert train["gpu"] == "1" and train["mem_mb"] == "16000"  # training asks the cluster for a GPU
    assert "--device cuda" in out and "--beams 300" in out
    tags = jobs["odeen_tags"][0]
    assert tags["slurm_partition"] == "main" and tags["slurm_account"] == "harness"
    assert tags["mem_mb"] == "8000" and tags["runtime"] == "30" and tags["cpus_per_task"] == "2"
    assert "--scale thesis" in out  # the profile switches to the thesis-scale config
    # thesis-scale results land beside the committed embedded ones, never over them
    assert "results/thesis/tables/table_3_1.md" in out and "results/thesis/figures/figure_3_6.png" in out
    assert not re.search(r"(?<![\w/])results/(tables|odeen|sit|audio|figures)/", out)
    # ... and so do its data, models, checkpoints and logs (downloads are shared by both scales)
    assert "data/thesis/odeen/tags.npz" in out and "models/thesis/lass/mnist/vqvae.pt" in out
    assert not re.search(r"(?<![\w/])(data|models|checkpoints|logs)/(odeen|lass|sit|audio)/", out)
    # the thesis datasets are downloaded, and FAD uses VGGish (no encoder is trained)
    assert {j.get("mem_mb") for j in jobs["audio_download"]} == {"8000"} and len(jobs["audio_download"]) == 2
    assert "--dataset slakh" in out and "--dataset cocochorales" in out and "audio_embedded" not in jobs
    assert "audio_fad_encoder" not in jobs and "--backbone vggish" in out
    # LASS at thesis scale: MNIST downloaded, models trained and separations run on a GPU
    assert '"source":"download"' in out and "harness lass data --dataset celeba" in out
    assert len(jobs["lass_vqvae"]) == 2 and {j["gpu"] for j in jobs["lass_vqvae"]} == {"1"}
    assert jobs["lass_test"][0]["gpu"] == "1" and len(jobs["lass_celeba_test"]) == 1
    assert "--inception-weights models/pretrained/inception/" in out and '"likelihood_scale":3.0' in out
    assert "--mixtures 6000" in out and '"candidates":512' in out and '"steps":500' in out


def test_gpu_profile_dry_run(workflow_dir):
    out = run(["snakemake", "-n", "--profile", "gpu", "--forceall"], cwd=workflow_dir).stdout
    jobs = dry_run_jobs(out)
    assert "odeen_tags" in jobs and "slurm_partition" not in jobs["odeen_tags"][0]
    assert jobs["odeen_tags"][0]["mem_mb"] == "8000"
    assert "--scale thesis" in out


def test_report_holds_tables_and_figures(tiny_workflow_dir):
    workflow_dir = tiny_workflow_dir
    run(["snakemake", "-c2"], cwd=workflow_dir)
    run(["snakemake", "--report", "report.html"], cwd=workflow_dir)
    html = (workflow_dir / "report.html").read_text()
    for table in ("table_3_1", "table_6_2", "table_7_1"):
        assert table in html
    assert "positive_rates.png" in html and "figure_3_6.png" in html
    assert "Evaluation results of CRN" in html  # a caption from the registry


def test_lint_and_format_clean():
    lint = run(["snakemake", "--lint"], cwd=REPO, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    run(["snakefmt", "--check", "Snakefile", "workflow"], cwd=REPO)
    run(["ruff", "check", "src", "tests", "benchmarks"], cwd=REPO)


def test_dvc_yaml_is_fresh():
    run(["harness", "workflow", "dvc-yaml", "--out", "dvc.yaml", "--check"], cwd=REPO)


def test_dvc_yaml_stale_is_detected(workflow_dir):
    dvc = workflow_dir / "dvc.yaml"
    dvc.write_text(dvc.read_text().replace("--bins 20", "--bins 21"))
    proc = run(
        ["harness", "workflow", "dvc-yaml", "--out", "dvc.yaml", "--check"], cwd=workflow_dir, check=False
    )
    assert proc.returncode == 2 and "dvc.yaml is stale" in proc.stderr


def test_dvc_stages_mirror_rules():
    import yaml

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert stages["odeen_tags"]["cmd"] == (
        "harness odeen tags --universe data/odeen/universe.txt --out data/odeen/tags.npz --log logs/odeen/tags.log"
    )
    assert stages["odeen_summary"]["params"] == [{"config.yaml": ["odeen.histogram_bins"]}]
    assert "results/odeen/language.json" in stages["odeen_summary"]["metrics"][0]
    assert stages["odeen_summary"]["plots"][0]["results/odeen/positive_rates.csv"]["x"] == "positive_rate"
    assert len([s for s in stages if s.startswith("table_")]) == 17
    train = stages["odeen_train_interpreter_1438_1000"]
    assert train["params"] == [{"config.yaml": ["device", "odeen.interpreter", "odeen.table_size", "seed"]}]
    assert "src/harness/odeen/train.py" in train["deps"] and "src/harness/train/loop.py" in train["deps"]
    assert not any("lass" in dep or "registry" in dep for dep in train["deps"])
    assert "src/harness/tables/registry.yaml" in stages["table_table_3_1"]["deps"]
    sit = stages["sit_evaluate_smollm2"]["params"][0]["config.yaml"]
    assert "sit.models.smollm2" in sit and "sit.models" not in sit  # one model's entry, not the list
    assert "models/odeen/interpreter_1438x1000.pt" in train["outs"]


@pytest.fixture
def dvc_repo(tmp_path):
    from conftest import copy_workflow, use_tiny_config

    repo = use_tiny_config(copy_workflow(tmp_path / "repo", with_src=True))
    run(["harness", "workflow", "dvc-yaml", "--out", "dvc.yaml"], cwd=repo)
    run("git init -q && git config user.email t@t && git config user.name t", cwd=repo)
    run(["dvc", "init", "-q"], cwd=repo)
    run(["dvc", "config", "core.analytics", "false"], cwd=repo)
    (repo / ".gitignore").write_text((REPO / ".gitignore").read_text())
    run("git add -A && git commit -qm init", cwd=repo)
    return repo


def test_dvc_repro_push_pull(dvc_repo, tmp_path):
    repo = dvc_repo
    run(["dvc", "repro"], cwd=repo)
    metrics = run(["dvc", "metrics", "show", "--json"], cwd=repo).stdout
    assert '"n_rules": 24794' in metrics
    plots = run(["dvc", "plots", "show", "--json"], cwd=repo).stdout
    assert "positive_rate" in plots
    assert (repo / "results/tables/table_3_1.md").exists()
    assert (repo / "dvc.lock").exists()
    status = run(["dvc", "status"], cwd=repo).stdout
    assert "up to date" in status

    remote = tmp_path / "remote"
    run(["dvc", "remote", "add", "-d", "local", str(remote)], cwd=repo)
    run(["dvc", "push"], cwd=repo)
    before = np.load(repo / "data/odeen/tags.npz")["packed"]
    run("rm -rf data .dvc/cache", cwd=repo)
    run(["dvc", "pull"], cwd=repo)
    assert (np.load(repo / "data/odeen/tags.npz")["packed"] == before).all()
    assert (repo / "data/odeen/rules.tsv").read_text().startswith("rule\tkind")
    assert "up to date" in run(["dvc", "status"], cwd=repo).stdout
    # Snakemake then only needs its timestamps refreshed, not a re-run
    run(["snakemake", "-c1", "--touch"], cwd=repo)
    dry = run(["snakemake", "-n", "-c1"], cwd=repo)
    assert "Nothing to be done" in dry.stdout + dry.stderr
