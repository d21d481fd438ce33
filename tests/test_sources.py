"""What each step depends on: the code it imports (one list for Snakemake and dvc.yaml), the
layering of shared code and families, and each scale's own output roots."""

import ast
import os
import re
import time
from pathlib import Path

import pytest

from conftest import REPO, copy_workflow, run, use_tiny_config
from harness.workflow.sources import PACKAGE_DIR, command_roots, command_sources, module_closure

FAMILIES = ("odeen", "sit", "lass", "msdm", "gmsdi", "componet", "cocola")
# shared layers, lowest first: a package may import only packages to its left (and itself)
SHARED = ("core", "io", "train", "diffusion", "metrics", "tables", "audio", "workflow")


def test_command_sources_follow_imports_shared_ones_included():
    separate = command_sources("lass", "separate")
    assert "src/harness/lass/separate.py" in separate and "src/harness/lass/likelihood.py" in separate
    assert "src/harness/metrics/image.py" in separate  # PSNR and FID: a shared module it imports
    assert "src/harness/core/runtime.py" in separate and "src/harness/cli.py" in separate
    assert not any(
        p.startswith(("src/harness/odeen/", "src/harness/sit/", "src/harness/audio/")) for p in separate
    )
    # only the step's own imports count: training the VQ-VAE runs no metric and no table code
    vqvae = command_sources("lass", "train-vqvae")
    assert "src/harness/train/loop.py" in vqvae and "src/harness/metrics/image.py" not in vqvae
    assert "src/harness/tables/registry.yaml" not in vqvae
    assert "src/harness/tables/registry.yaml" in command_sources("tables", "build")  # thesis values
    assert "src/harness/lass/separate.py" not in command_sources("odeen", "train")
    with pytest.raises(ValueError, match="no step"):
        command_sources("lass", "nonsense")


def test_every_rule_names_the_code_of_the_command_it_runs():
    """Each rule's `code` input is the source list of its shell command (dvc.yaml's deps are the
    same inputs), so the two cannot drift."""
    from harness.workflow.dvc import dag_jobs

    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        jobs = [j for j in dag_jobs() if j.rule.shellcmd]
    finally:
        os.chdir(cwd)
    assert len(jobs) > 50
    for job in jobs:
        family, step = re.match(r"harness (\w+) ([\w-]+)", str(job.shellcmd).strip()).groups()
        assert set(command_sources(family, step)) <= set(map(str, job.input)), job.rule.name


def test_function_level_imports_count():
    """A module imported only inside a step's function (as the commands modules do) is still
    a dependency of that step, and of no other."""
    roots = command_roots("lass", "baselines")
    closure = module_closure(roots)
    assert "harness.lass.evaluate" in closure and "harness.lass.config" in closure


def _package_imports(package: str) -> set[str]:
    found = set()
    for path in (PACKAGE_DIR / package).glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found.update(n.split(".")[1] for n in names if n.startswith("harness.") and n.count(".") >= 1)
    return found - {package}


@pytest.mark.parametrize("package", SHARED)
def test_shared_code_imports_no_family_and_no_layer_above(package):
    imports = _package_imports(package)
    assert not imports & set(FAMILIES), imports
    above = set(SHARED[SHARED.index(package) + 1 :])
    assert not imports & above, f"{package} imports {imports & above}: a cycle between shared layers"


@pytest.mark.parametrize("family", FAMILIES)
def test_families_never_import_each_other(family):
    assert not _package_imports(family) & (set(FAMILIES) - {family})


def test_smk_helpers_know_no_family_paths():
    """The rule files' shared helpers name no family and no artifact path (docstrings aside)."""
    tree = ast.parse((PACKAGE_DIR / "workflow" / "smk.py").read_text())
    docstrings = {id(n.body[0].value) for n in ast.walk(tree) if isinstance(n, (ast.Module, ast.FunctionDef))
                  and n.body and isinstance(n.body[0], ast.Expr)}  # fmt: skip
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
               and id(n) not in docstrings]  # fmt: skip
    assert strings and not [s for s in strings if re.search(r"odeen|lass|sit|audio|models/|data/", s)]


def _plan(configfiles):
    from harness.workflow.dvc import dag_jobs

    files = set()
    for job in dag_jobs(configfiles=configfiles):
        files.update(str(f) for f in [*job.output, *job.log, *([job.benchmark] if job.benchmark else [])])
    return files


def test_two_scales_plan_no_output_in_common():
    """An embedded run never overwrites a thesis-scale artifact and vice versa (results, data,
    models, checkpoints and logs each under the scale's own roots; downloads are inputs)."""
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        embedded = _plan(["config.yaml"])
        thesis = _plan(["config.yaml", "config/thesis.yaml"])
    finally:
        os.chdir(cwd)
    assert "data/odeen/tags.npz" in embedded and "data/thesis/odeen/tags.npz" in thesis
    assert "models/thesis/lass/celeba/vqvae.pt" in thesis and "models/lass/mnist/vqvae.pt" in embedded
    assert embedded.isdisjoint(thesis), sorted(embedded & thesis)[:5]
    for path in thesis:
        assert re.match(r"(results|data|models|checkpoints|logs)/thesis/", path), path


@pytest.fixture(scope="module")
def touched_workflow(tmp_path_factory):
    """A copy of the pipeline (tiny config) whose every output exists and is up to date for
    Snakemake (created empty, then `snakemake --touch`), so a dry run shows what a change re-runs."""
    wf = use_tiny_config(copy_workflow(tmp_path_factory.mktemp("touched") / "wf", with_src=True))
    listing = run(
        ["python", "-c", "from harness.workflow.dvc import dag_jobs\n"
         "for j in dag_jobs():\n"
         "    for f in j.output: print(('D ' if f.is_directory else 'F ') + str(f))"],
        cwd=wf,
    ).stdout.split("\n")  # fmt: skip
    for line in filter(None, listing):
        kind, path = line.split(" ", 1)
        target = wf / path
        if kind == "D":
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
    run(["snakemake", "-c1", "--touch", "-q"], cwd=wf)
    assert "Nothing to be done" in "".join(run(["snakemake", "-n", "-c1"], cwd=wf).stdout)
    return wf


def _stale_after_touching(wf: Path, relative: str) -> set[str]:
    from test_workflow import dry_run_jobs

    target = wf / relative
    stat = target.stat()
    os.utime(target, (stat.st_atime, time.time() + 3600))  # a newer version of the file
    try:
        return set(dry_run_jobs(run(["snakemake", "-n", "-c1"], cwd=wf).stdout))
    finally:
        os.utime(target, (stat.st_atime, stat.st_mtime))


def test_touching_a_shared_module_reruns_exactly_its_dependants(touched_workflow):
    stale = _stale_after_touching(touched_workflow, "src/harness/metrics/image.py")
    scored = {
        "lass_validate_sampler",
        "lass_test",
        "lass_baselines",
        "lass_timing",
        "lass_timing_thesis_settings",
    }  # PSNR / FID
    assert scored <= stale  # the LASS steps that score separations re-run ...
    assert stale - scored <= {"lass_report", "table", "results_index", "all"}  # ... and what follows
    assert not stale & {"lass_data", "lass_vqvae", "lass_prior", "lass_likelihood"}  # no training
    assert not any(r.startswith(("odeen", "sit", "audio")) for r in stale)
    # a corrected thesis value in the registry rebuilds the tables, but trains nothing
    stale = _stale_after_touching(touched_workflow, "src/harness/tables/registry.yaml")
    assert stale - {"all"} == {"table", "results_index"}
    # a fix in one family's module re-runs that family only
    stale = _stale_after_touching(touched_workflow, "src/harness/odeen/games.py")
    assert "odeen_games" in stale and not any(r.startswith(("lass", "sit", "audio")) for r in stale)


@pytest.mark.parametrize("configfiles", [["config.yaml"], ["config.yaml", "config/thesis.yaml"]])
def test_every_rule_command_parses(configfiles, capsys):
    """Each job's shell command is a valid `harness` command line at both scales: every required
    flag is passed and every value fits its option (caught here, not an hour into a run)."""
    import shlex

    from harness.cli import build_parser
    from harness.workflow.dvc import dag_jobs

    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        jobs = [j for j in dag_jobs(configfiles=configfiles) if j.rule.shellcmd]
    finally:
        os.chdir(cwd)
    parser = build_parser()
    for job in jobs:
        argv = shlex.split(str(job.shellcmd))
        assert argv[0] == "harness", job.rule.name
        try:
            parser.parse_args(argv[1:])
        except Exception as err:  # the parser raises its one-line error
            pytest.fail(f"{job.rule.name}: {err}")


def test_every_rule_states_its_threads():
    """Threads change a CPU step's last bits, so no rule leaves them to Snakemake's default."""
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        blocks = re.split(r"(?m)^(?=rule |use rule )", path.read_text())
        for block in blocks:
            if block.startswith("rule ") and "shell:" in block:
                assert "    threads:" in block, f"{path.name}: {block.splitlines()[0]}"
