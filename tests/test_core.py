"""The shared pieces every step runs on: atomic outputs, settings from the config, result rows,
seeds, torch determinism, and the resumable training loop."""

import json
import os
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from harness.core.atomic import atomic_dir, atomic_path, write_text
from harness.core.config import settings
from harness.core.errors import HarnessError
from harness.core.rows import write_rows_csv
from harness.core.seeds import derive_seed
from harness.train.checkpoint import load_checkpoint, save_checkpoint, seed_everything
from harness.train.loop import RunFiles, finish_run, train_steps, warmup_cosine


def test_atomic_outputs_leave_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    write_text(target, "first")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half of a second vers")
        raise RuntimeError("killed")
    assert target.read_text() == "first" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "d") as tmp:
        (tmp / "a.wav").write_bytes(b"x")
        raise RuntimeError("killed")
    assert not (tmp_path / "d").exists()


@dataclass(frozen=True)
class Example:
    steps: int
    lr: float
    name: str


def test_settings_fill_a_dataclass_or_stop_with_one_line():
    assert settings(Example, {"steps": 3, "lr": 1, "name": "x"}, "--s") == Example(3, 1.0, "x")
    assert isinstance(settings(Example, {"steps": 3.0, "lr": 1, "name": "x"}, "--s").steps, int)
    for bad, message in [
        ({"steps": 3, "lr": 1.0}, "--s: missing key 'name'"),
        ({"steps": 3, "lr": 1.0, "name": "x", "lrr": 2}, "--s: unknown key 'lrr'"),
        ({"steps": "3", "lr": 1.0, "name": "x"}, "--s: steps must be a number"),
        ({"steps": 2.5, "lr": 1.0, "name": "x"}, "--s: steps must be a whole number"),
        ({"steps": True, "lr": 1.0, "name": "x"}, "--s: steps must be a number"),
        ([1, 2], "--s must be a JSON mapping"),
    ]:
        with pytest.raises(HarnessError, match=message.replace("(", r"\(")):
            settings(Example, bad, "--s")


def test_rows_csv_keeps_column_order_and_empty_cells(tmp_path):
    write_rows_csv(tmp_path / "a.csv", [{"step": 1, "loss": 0.5}, {"step": 2, "acc": 0.9}])
    assert (tmp_path / "a.csv").read_text() == "step,loss,acc\n1,0.5,\n2,,0.9\n"
    write_rows_csv(tmp_path / "b.csv", [{"b": 1, "a": 2}], ["a", "b"])
    assert (tmp_path / "b.csv").read_text() == "a,b\n2,1\n"


def test_derived_seeds_are_stable_and_independent():
    assert derive_seed(7, "lass", "vqvae") == derive_seed(7, "lass", "vqvae")
    seeds = {derive_seed(7, "lass", s) for s in ("vqvae", "prior", "nmf")} | {derive_seed(8, "lass", "vqvae")}
    assert len(seeds) == 4 and all(0 <= s < 2**32 for s in seeds)


def test_deterministic_torch_fixes_threads_and_kernels():
    from harness.core.runtime import deterministic_torch

    threads = torch.get_num_threads()
    try:
        deterministic_torch(1)
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)
        torch.set_num_threads(threads)


def _regression(tmp_path, name, steps=10, stop_after=None, **loop_args):
    """A linear regression trained through the shared loop, logged every 2 steps and
    checkpointed every 3."""
    rng = seed_everything(11)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    w = torch.tensor([[1.0, -2.0, 0.5]])

    def step_fn(rng):
        x = torch.from_numpy(rng.normal(size=(16, 3)).astype(np.float32))
        return torch.mean((model(x) - x @ w.T) ** 2)

    def evaluate():
        error = round(float((model.weight - w).abs().max()), 6)
        return {"weight_error": error, "minus_error": -error}

    ckpt = str(tmp_path / f"{name}.ckpt")
    history, done = train_steps(model, opt, step_fn, steps, rng, ckpt, "tag", 2, evaluate, stop_after,
                                checkpoint_every=3, **loop_args)  # fmt: skip
    return model, history, done, ckpt


def test_loop_keeps_the_best_evaluation_and_resumes_with_it(tmp_path):
    """keep_best ends with the weights of the evaluation where the key was lowest: keyed on
    minus the weight error, that is the first evaluation (step 2), not the last, also when the
    run was killed after it and resumed."""
    w = torch.tensor([[1.0, -2.0, 0.5]])
    model, history, done, _ = _regression(tmp_path, "best", keep_best="minus_error")
    assert done and [r["kept"] for r in history] == [1, 0, 0, 0, 0]
    assert round(float((model.weight - w).abs().max()), 6) == history[0]["weight_error"]
    assert history[0]["weight_error"] > history[-1]["weight_error"]
    _, _, done, _ = _regression(tmp_path, "best_resumed", stop_after=7, keep_best="minus_error")
    assert not done
    resumed, history_2, done, _ = _regression(tmp_path, "best_resumed", keep_best="minus_error")
    assert done and history_2 == history and torch.equal(resumed.weight, model.weight)


def test_warmup_cosine_schedule_and_a_resumed_run_follows_it(tmp_path):
    """Linear warm-up to lr, cosine decay to 0 at the last step (known values); the loop sets it
    on every step, so a run killed and resumed ends with the weights of one never stopped, and
    differs from the same run at a constant rate."""
    lr_at = warmup_cosine(0.1, 4, 14)
    assert [round(lr_at(s), 6) for s in (0, 1, 3)] == [0.025, 0.05, 0.1]
    assert lr_at(4) == 0.1 and abs(lr_at(9) - 0.05) < 1e-12 and abs(lr_at(14)) < 1e-12
    assert all(lr_at(s) > lr_at(s + 1) for s in range(4, 13))
    model, _, done, _ = _regression(tmp_path, "cos", lr_at=warmup_cosine(0.1, 3, 10))
    assert done
    _, _, done, _ = _regression(tmp_path, "cos_resumed", stop_after=5, lr_at=warmup_cosine(0.1, 3, 10))
    assert not done
    resumed, _, done, _ = _regression(tmp_path, "cos_resumed", lr_at=warmup_cosine(0.1, 3, 10))
    assert done and torch.equal(resumed.weight, model.weight)
    constant, _, _, _ = _regression(tmp_path, "constant")
    assert not torch.equal(constant.weight, model.weight)


def test_checkpoint_of_other_settings_is_not_resumed_and_a_foreign_file_is_kept(tmp_path):
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rng = np.random.default_rng(0)
    path = str(tmp_path / "c.ckpt")
    save_checkpoint(path, model, opt, 5, rng, [{"step": 5}], "settings A")
    assert load_checkpoint(path, model, opt, rng, "settings A") == (5, [{"step": 5}])
    assert load_checkpoint(path, model, opt, rng, "settings B") == (0, [])
    (tmp_path / "c.ckpt").write_bytes(b"someone's file")  # checkpoints are written atomically:
    with pytest.raises(HarnessError, match="not a checkpoint this step wrote"):  # not ours, kept
        load_checkpoint(path, model, opt, rng, "settings A")
    assert (tmp_path / "c.ckpt").read_bytes() == b"someone's file"
    torch.save({"weights": torch.zeros(1)}, path)
    with pytest.raises(HarnessError, match="not a checkpoint this step wrote"):
        load_checkpoint(path, model, opt, rng, "settings A")
    with pytest.raises(HarnessError, match="does not fit the model"):
        save_checkpoint(path, torch.nn.Linear(3, 1), opt, 1, rng, [], "x")
        load_checkpoint(path, model, opt, rng, "x")


def test_finish_run_writes_history_and_meta_and_drops_the_checkpoint(tmp_path):
    files = RunFiles(
        str(tmp_path / "m.pt"), str(tmp_path / "h.csv"), str(tmp_path / "m.json"), str(tmp_path / "c")
    )
    (tmp_path / "c").write_bytes(b"state")
    finish_run([{"step": 1, "train_loss": 0.5}], files.history_csv, {"steps": 1}, files.meta_json, files.checkpoint,
               ["step", "train_loss", "valid_loss"])  # fmt: skip
    assert (tmp_path / "h.csv").read_text() == "step,train_loss,valid_loss\n1,0.5,\n"
    assert json.loads((tmp_path / "m.json").read_text()) == {"steps": 1} and not (tmp_path / "c").exists()


def test_a_failing_step_leaves_none_of_its_outputs_and_keeps_the_old_ones(tmp_path):
    from harness.core.atomic import transaction

    (tmp_path / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), transaction("odeen summary"):
        write_text(tmp_path / "a.txt", "a")
        write_text(tmp_path / "old.txt", "new")
        assert not (tmp_path / "a.txt").exists()  # renamed only when the whole step succeeded
        raise RuntimeError("the third output failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.txt"]  # no temporaries either
    assert (tmp_path / "old.txt").read_text() == "old"
    with transaction("odeen summary"):
        write_text(tmp_path / "a.txt", "a")
        write_text(tmp_path / "old.txt", "new")
    assert (tmp_path / "a.txt").read_text() == "a" and (tmp_path / "old.txt").read_text() == "new"


def test_checkpoints_land_at_once_and_go_only_when_the_step_succeeds(tmp_path):
    from harness.core.atomic import transaction

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ckpt = tmp_path / "run.ckpt"
    with pytest.raises(RuntimeError), transaction("lass train-vqvae"):
        save_checkpoint(str(ckpt), model, opt, 3, np.random.default_rng(0), [], "tag")
        assert ckpt.exists()  # a kill from here on resumes from step 3
        finish_run([], None, {}, None, str(ckpt))
        assert ckpt.exists()
        raise RuntimeError("the model file could not be written")
    assert ckpt.exists()  # the failed step keeps it: the rerun resumes
    with transaction("lass train-vqvae"):
        finish_run([], None, {}, None, str(ckpt))
    assert not ckpt.exists()


def test_an_output_folder_is_replaced_only_when_this_step_wrote_it(tmp_path, monkeypatch):
    from harness.core.atomic import MARKER, transaction

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "data" / "synthpop"
    for name in ("first", "second"):  # the same step writes it again: replaced whole
        with transaction("audio embedded"), atomic_dir(out) as tmp:
            (tmp / f"{name}.wav").write_text(name)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "second.wav"]
    with pytest.raises(HarnessError, match="did not write"), transaction("audio download"):
        with atomic_dir(out) as tmp:
            (tmp / "x.wav").write_text("x")
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "chapter1.tex").write_text("a year of work")
    with pytest.raises(HarnessError, match="did not write"), transaction("audio embedded"):
        with atomic_dir(foreign):
            pass
    with pytest.raises(HarnessError, match="working directory"), transaction("audio embedded"):
        with atomic_dir(tmp_path):
            pass
    assert (foreign / "chapter1.tex").read_text() == "a year of work"
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "second.wav"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "thesis"]  # no temporaries


def test_a_multi_file_step_that_fails_late_writes_none_of_its_files(tmp_path, capsys, monkeypatch):
    from harness.cli import main

    monkeypatch.chdir(tmp_path)
    rules = "rule\tkind\tn_tokens\tn_positive\tlabel_class\n"
    rules += "".join(f"r{i}\tshape\t3\t{10 * i}\t{i}\n" for i in range(5))
    (tmp_path / "rules.tsv").write_text(rules)
    (tmp_path / "blocker").write_text("a file where the figure's folder would go")
    argv = [
        "odeen",
        "summary",
        "--rules",
        "rules.tsv",
        "--bins",
        "4",
        "--metrics",
        "m.json",
        "--plot",
        "p.csv",
    ]
    assert main(argv + ["--figure", "blocker/figure.png"]) == 2  # the third output cannot be written
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("harness: error: ") and "blocker" in err[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "rules.tsv"]
    assert main(argv + ["--figure", "figure.png"]) == 0
    assert json.loads((tmp_path / "m.json").read_text())["n_rules"] == 5


class _Payload:
    """A pickle that runs code when loaded with weights_only=False."""

    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_no_torch_load_in_a_step_runs_pickled_code(tmp_path, monkeypatch):
    from harness.core.offline import go_offline

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # a user's environment may say so
    torch.save({"state": _Payload()}, tmp_path / "evil.pt")
    go_offline()  # what `harness` does before any step
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(tmp_path / "evil.pt", weights_only=False)  # as a library might call it
    assert not (tmp_path / "PWNED").exists()
