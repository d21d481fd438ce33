"""`snakemake --profile slurm` against a real one-node SLURM started for this test.

The Odeen rules run, each as its own SLURM job, and their outputs must equal a local run's. The
daemons (munged, slurmctld, slurmd) are started here and stopped at the end. Needs root and
Debian's slurmctld, slurmd and munge (`make test` installs them).
"""

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import BIN, copy_workflow, run

pytestmark = pytest.mark.slurm
SLURM_CONF = Path("/etc/slurm/slurm.conf")
ODEEN_OUTPUTS = [
    "data/odeen/universe.txt",
    "data/odeen/rules.tsv",
    "results/odeen/language.json",
    "results/odeen/positive_rates.csv",
]


def _slurm_conf(host: str) -> str:
    cpus = os.cpu_count() or 1
    mem_mb = int(open("/proc/meminfo").read().split()[1]) // 1024 - 1024
    return "\n".join(
        [
            "ClusterName=harness-test",
            f"SlurmctldHost={host}",
            "AuthType=auth/munge",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "StateSaveLocation=/var/spool/slurmctld",
            "SlurmdSpoolDir=/var/spool/slurmd",
            "SlurmctldPidFile=/run/slurmctld.pid",
            "SlurmdPidFile=/run/slurmd.pid",
            "SlurmctldLogFile=/var/log/slurm/slurmctld.log",
            "SlurmdLogFile=/var/log/slurm/slurmd.log",
            "ReturnToService=2",
            f"NodeName={host} CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN",
            "PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


@pytest.fixture(scope="module")
def slurm_cluster():
    if os.geteuid() != 0:
        pytest.skip("starting SLURM daemons needs root")
    if not all(shutil.which(b) for b in ("slurmctld", "slurmd", "munged", "sbatch", "squeue")):
        pytest.skip("Debian's slurmctld, slurmd and munge are not installed (make test installs them)")
    host = socket.gethostname().split(".")[0]
    backup = SLURM_CONF.read_text() if SLURM_CONF.exists() else None
    SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SLURM_CONF.write_text(_slurm_conf(host))
    for d in ("/var/spool/slurmctld", "/var/spool/slurmd", "/var/log/slurm", "/run/munge"):
        os.makedirs(d, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    if not Path("/etc/munge/munge.key").exists():
        subprocess.run(["mungekey", "-c"], check=True)
        shutil.chown("/etc/munge/munge.key", "munge", "munge")
    procs = []
    munge_started = subprocess.run(["pgrep", "-x", "munged"], capture_output=True).returncode != 0
    if munge_started:
        subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True)
    procs.append(
        subprocess.Popen(["slurmctld", "-D", "-i"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    )
    procs.append(subprocess.Popen(["slurmd", "-D"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        for _ in range(60):
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True).stdout.strip()
            if state in ("idle", "mixed"):
                break
            time.sleep(1)
        else:
            pytest.fail(f"SLURM node never became idle (state {state!r})")
        yield host
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        if munge_started:
            subprocess.run(["pkill", "-x", "munged"])
        if backup is None:
            SLURM_CONF.unlink(missing_ok=True)
        else:
            SLURM_CONF.write_text(backup)


SLURM_RUN = [
    "snakemake",
    "--profile",
    "slurm",
    "--slurm-no-account",
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--slurm-keep-successful-logs",
    "--latency-wait",
    "5",
]


@pytest.fixture(scope="module")
def local_odeen(tmp_path_factory):
    """The Odeen language steps run locally: what every cluster run must reproduce."""
    local = copy_workflow(tmp_path_factory.mktemp("local"))
    run(["snakemake", "-c2", "odeen_summary"], cwd=local)
    return local


def _same_as_local(cluster: Path, local: Path) -> None:
    for rel in ODEEN_OUTPUTS:
        # the slurm profile is the thesis scale: its files go to the thesis/ folder of each root
        root, rest = rel.split("/", 1)
        assert (cluster / root / "thesis" / rest).read_bytes() == (local / rel).read_bytes(), rel
        assert not (cluster / rel).exists(), rel


def test_odeen_rules_through_slurm_equal_local_run(slurm_cluster, local_odeen, tmp_path):
    local = local_odeen
    cluster = copy_workflow(tmp_path / "cluster")
    proc = run(SLURM_RUN + ["odeen_summary"], cwd=cluster, timeout=600)
    out = proc.stdout + proc.stderr
    # each rule became its own SLURM job
    submitted = [line for line in out.splitlines() if "submitted" in line.lower() and "slurm" in line.lower()]
    assert len(submitted) >= 4, out[-3000:]
    slurm_logs = list((cluster / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert {p.parent.name for p in slurm_logs} >= {
        "rule_odeen_universe",
        "rule_odeen_tags",
        "rule_odeen_rules",
        "rule_odeen_summary",
    }
    _same_as_local(cluster, local)
    with np.load(local / "data/odeen/tags.npz") as a, np.load(cluster / "data/thesis/odeen/tags.npz") as b:
        assert (a["packed"] == b["packed"]).all() and (a["rules"] == b["rules"]).all()
    assert json.loads((cluster / "results/thesis/odeen/language.json").read_text())["n_rules"] == 24794


@pytest.mark.slow
def test_a_job_cancelled_mid_run_is_rerun_to_the_same_outputs(slurm_cluster, local_odeen, tmp_path):
    """scancel a running job (SIGTERM, as a preemption or a user's cancel): the step leaves no
    output, snakemake fails; the same command again completes with the local run's outputs."""
    cluster = copy_workflow(tmp_path / "cluster")
    # no retry, so the rerun below is what completes the DAG
    first = subprocess.Popen(
        SLURM_RUN + ["--retries", "0", "odeen_summary"], cwd=cluster, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env=dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}"),
    )  # fmt: skip
    cancelled = set()
    deadline = time.time() + 600
    while first.poll() is None and time.time() < deadline:
        jobs = subprocess.run(["squeue", "-h", "-o", "%A %T"], capture_output=True, text=True).stdout.split(
            "\n"
        )
        for job, state in (line.split() for line in jobs if line.strip()):
            if state == "RUNNING" and job not in cancelled:
                subprocess.run(["scancel", job], check=True)
                cancelled.add(job)
        time.sleep(0.2)
    out = first.communicate(timeout=60)[0]
    assert cancelled, "no job was seen running"
    assert first.returncode != 0, f"every cancel came too late: the run completed\n{out[-2000:]}"
    assert not (cluster / "results/thesis/odeen/language.json").exists()
    again = run(SLURM_RUN + ["odeen_summary"], cwd=cluster, timeout=600)
    assert "odeen_summary" in again.stdout + again.stderr
    _same_as_local(cluster, local_odeen)
