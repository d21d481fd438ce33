"""The Odeen transformers: tokenisation, beam search, batched interpretation, and training that
resumes after a kill exactly where it stopped."""

import numpy as np
import pytest
import torch

from conftest import run
from harness.odeen.evaluate import interpret
from harness.odeen.language import all_rule_strings
from harness.odeen.models import (
    BOS,
    EOS,
    MAX_SEQ,
    VOCAB,
    ModelConfig,
    beam_search,
    build_model,
    load_model,
    save_model,
)
from harness.odeen.train import TrainConfig, train

TINY = ModelConfig(d_model=16, n_heads=2, n_layers=1, d_ff=32, dropout=0.0)
RULES = ["at_least 1 red", "zero blue pyramid", "exactly 1 block touching red pyramid pointing_up"]


def test_vocab_round_trips_every_rule():
    rules = all_rule_strings()
    enc = VOCAB.encode(rules, bos=True)
    assert enc.shape == (24794, MAX_SEQ) and (enc[:, 0] == BOS).all()
    assert [VOCAB.decode(row) for row in enc] == rules
    assert ((enc == EOS).sum(dim=1) == 1).all()


def test_beam_search_returns_the_most_probable_rules_in_order():
    torch.manual_seed(0)
    cg = build_model("cg", TINY).eval()
    structures, labels = torch.randint(0, 7, (2, 32, 6)), torch.randint(0, 2, (2, 32))
    seqs, scores = beam_search(cg, structures, labels, beams=6)
    assert seqs.shape == (2, 6, MAX_SEQ) and (seqs[:, :, 0] == BOS).all()
    assert (scores[:, :-1] >= scores[:, 1:]).all()
    for g in range(2):
        assert len({tuple(s.tolist()) for s in seqs[g]}) == 6
        # each score is the sequence's log-probability under teacher forcing
        with torch.no_grad():
            logits = cg(
                structures[g : g + 1].expand(6, -1, -1), labels[g : g + 1].expand(6, -1), seqs[g, :, :-1]
            )
        logp = torch.log_softmax(logits, -1).gather(-1, seqs[g, :, 1:, None])[..., 0]
        mask = torch.cat(
            [torch.ones(6, 1, dtype=torch.bool), (seqs[g, :, 1:-1] != EOS).cumprod(-1).bool()], -1
        )
        mask &= seqs[g, :, 1:] != 0
        assert torch.allclose((logp * mask).sum(-1), scores[g], atol=1e-4)
    # greedy decoding (one beam) starts with the most probable first token (PAD/BOS excluded)
    one, _ = beam_search(cg, structures, labels, beams=1)
    with torch.no_grad():
        logits = cg(structures, labels, seqs[:, 0, :1])[:, 0]
    logits[:, :2] = float("-inf")
    first = logits.argmax(-1)
    assert (one[:, 0, 1] == first).all()


def test_batched_interpretation_equals_the_forward_pass():
    torch.manual_seed(1)
    interpreter = build_model("interpreter", TINY).eval()
    structures = np.random.default_rng(0).integers(0, 7, (9, 6))
    tags = interpret(interpreter, RULES, structures, "cpu", chunk=10)
    with torch.no_grad():
        for k, rule in enumerate(RULES):
            logits = interpreter(VOCAB.encode([rule] * 9), torch.as_tensor(structures))
            assert (tags[k] == (logits.argmax(-1) == 1).numpy()).all()


def _data(n_rules=3, m=64, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "rules": np.array(RULES[:n_rules]),
        "rule_ids": np.arange(n_rules),
        "structures": rng.integers(0, 117649, (n_rules, m)).astype(np.int32),
        "labels": rng.integers(0, 2, (n_rules, m)).astype(np.uint8),
    }


@pytest.mark.parametrize("kind", ["interpreter", "cg", "emp_c"])
def test_training_resumes_after_a_kill_exactly(tmp_path, kind):
    data = _data()
    cfg = TrainConfig(steps=12, batch_size=8, lr=1e-3, checkpoint_every=5, log_every=3, rule_loss_weight=100.0,
                      table_size=32, seed=3)  # fmt: skip
    straight = tmp_path / "straight.pt"
    train(kind, TINY, cfg, RULES, data, None, RULES, str(straight), str(tmp_path / "a.ckpt"))
    # killed after step 7: the last checkpoint is step 5; the resumed run repeats 6-7
    ckpt = tmp_path / "b.ckpt"
    resumed = tmp_path / "resumed.pt"
    assert train(kind, TINY, cfg, RULES, data, None, RULES, str(resumed), str(ckpt), stop_after=7) is None
    assert ckpt.exists() and not resumed.exists()
    summary = train(kind, TINY, cfg, RULES, data, None, RULES, str(resumed), str(ckpt))
    assert summary["steps"] == 12 and not ckpt.exists()
    a, _ = load_model(str(straight), kind)
    b, _ = load_model(str(resumed), kind)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_interpreter_learns_a_rule(tmp_path, tags):
    """A few hundred steps on one rule's labelled structures tag held-out structures well: on a
    rule true for about half of the structures, so that a constant answer scores 0.5."""
    from harness.odeen.games import column_labels, structures_array, training_data

    rules, packed = tags
    r = rules.index("at_most 2 red")
    test = np.random.default_rng(1).integers(0, 117649, 2000)
    truth = column_labels(packed[[r]], test)[0].astype(bool)
    assert 0.35 < truth.mean() < 0.65, truth.mean()  # a balanced rule: no majority label to fall back on
    data = dict(training_data([r], packed, 2000, seed=0), rules=np.array([rules[r]]))
    cfg = TrainConfig(steps=250, batch_size=64, lr=2e-3, checkpoint_every=1000, log_every=50,
                      rule_loss_weight=None, table_size=32, seed=0)  # fmt: skip
    train(
        "interpreter", TINY, cfg, [rules[r]], data, None, rules, str(tmp_path / "i.pt"), str(tmp_path / "c")
    )
    model, _ = load_model(str(tmp_path / "i.pt"), "interpreter")
    pred = interpret(model, [rules[r]], structures_array(test), "cpu")[0]
    balanced = (pred[truth].mean() + (~pred[~truth]).mean()) / 2  # 0.5 for any constant answer
    assert balanced > 0.9, balanced


def test_model_file_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    from harness.core.errors import HarnessError

    with pytest.raises(HarnessError, match="corrupt or not a harness Odeen model"):
        load_model(str(bad))
    model = build_model("cg", TINY)
    save_model(str(tmp_path / "cg.pt"), model, {})
    with pytest.raises(HarnessError, match="holds a cg model, not interpreter"):
        load_model(str(tmp_path / "cg.pt"), "interpreter")


def test_train_cli_resumes_and_rejects_bad_settings(tmp_path):
    from harness.odeen.games import write_npz

    write_npz(str(tmp_path / "train.npz"), **_data())
    hp = (
        '{"d_model":16,"n_heads":2,"n_layers":1,"d_ff":32,"dropout":0.0,"steps":10,"batch_size":8,'
        '"lr":0.001,"checkpoint_every":4,"log_every":2}'
    )
    cmd = ["harness", "odeen", "train", "--kind", "interpreter", "--data", str(tmp_path / "train.npz"),
           "--table-size", "32", "--seed", "0", "--device", "cpu", "--threads", "1"]  # fmt: skip
    out = ["--out", str(tmp_path / "m.pt"), "--summary", str(tmp_path / "m.json")]
    run(cmd + ["--hparams", hp, "--stop-after", "6"] + out, cwd=tmp_path)
    assert (tmp_path / "m.pt.ckpt").exists() and not (tmp_path / "m.pt").exists()
    proc = run(cmd + ["--hparams", hp] + out, cwd=tmp_path)
    assert "resumed from" in proc.stderr and "at step 4" in proc.stderr
    assert (tmp_path / "m.pt").exists() and '"steps": 10' in (tmp_path / "m.json").read_text()
    bad = run(cmd + ["--hparams", '{"d_modle": 3}'] + out, cwd=tmp_path, check=False)
    assert (
        bad.returncode == 2
        and "argument --hparams: value: top level: unexpected key(s) ['d_modle']" in bad.stderr
    )
    missing_key = run(cmd + ["--hparams", hp.replace('"lr":0.001,', "")] + out, cwd=tmp_path, check=False)
    assert (
        missing_key.returncode == 2
        and "argument --hparams: value: top level: 'lr' is a required property" in missing_key.stderr
    )
    nope = [str(tmp_path / "nope.npz") if c.endswith("train.npz") else c for c in cmd]
    missing = run(nope + ["--hparams", hp] + out, cwd=tmp_path, check=False)
    assert missing.returncode == 2 and missing.stderr.splitlines() == [
        f"harness: error: --data {nope[nope.index('--data') + 1]}: no such file"
    ]


def test_evaluate_cli_errors_are_one_line(tmp_path):
    base = ["harness", "odeen", "evaluate", "--tags", "t.npz", "--rules", "r.tsv", "--games", "g.npz",
            "--seed", "0", "--device", "cpu", "--threads", "1", "--beams", "4"]  # fmt: skip
    for name in ("t.npz", "g.npz", "cg.pt", "e.pt"):
        with open(tmp_path / name, "wb") as fh:
            np.savez(fh, x=np.zeros(1))
    (tmp_path / "r.tsv").write_text("rule\tkind\tn_tokens\tn_positive\tlabel_class\nr\tk\t1\t1\t0\n")
    proc = run(base + ["--model", "crn", "--cg", "cg.pt", "--out", "o.json"], cwd=tmp_path, check=False)
    assert (
        proc.returncode == 2
        and "harness: error: --model crn needs --interpreter, --cg and --beams" in proc.stderr
    )
    proc = run(
        base + ["--model", "emp_r", "--empiricist", "e.pt", "--out", "o.json"], cwd=tmp_path, check=False
    )
    assert (
        proc.returncode == 2
        and "harness: error: tag matrix t.npz is corrupt or not a harness tag file" in proc.stderr
    )
    assert not (tmp_path / "o.json").exists()


def test_thesis_profile_dag_runs_on_cpu_at_toy_size(tmp_path):
    """The thesis-scale CRN family through the `gpu` profile and config/thesis.yaml, on CPU at
    toy size (few games, tiny models, a few steps): the thesis's keys, the EMP-C
    conjecture generator, the best-validation checkpoints and Tables 3.1-3.2 at the thesis
    scale, so a GPU user meets no untried line (only the sizes and the device differ)."""
    import csv
    import json

    import yaml

    from conftest import copy_workflow

    tiny_model = {"d_model": 16, "n_heads": 2, "n_layers": 1, "d_ff": 32, "dropout": 0.1, "lr": 3e-4,
                  "batch_size": 16, "steps": 6, "checkpoint_every": 3, "log_every": 3}  # fmt: skip
    toy = {
        "device": "cpu",
        # the thesis's six regimes (1,438 / 500 rules x 100 / 1K / 10K structures), few games
        "odeen": {"n_valid": 6, "n_test": 8, "test_exactly_two": 1, "eval_structures": 200, "beams": 3,
                  "interpreter": {**tiny_model, "regime_steps": {"1438x1000": 6}},
                  "empiricist": {**tiny_model, "rule_loss_weight": 100}},
        "resources": {r: {"gpu": 0} for r in ("odeen_train_interpreter", "odeen_train_empiricist",
                                              "odeen_evaluate_crn", "odeen_evaluate_empiricist")},
    }  # fmt: skip
    wf = copy_workflow(tmp_path / "wf")
    (wf / "toy.yaml").write_text(yaml.safe_dump(toy))
    targets = ["results/thesis/tables/table_3_1.csv", "results/thesis/tables/table_3_2.csv"]
    run(["snakemake", *targets, "--profile", "gpu", "--cores", "2", "--configfiles", "config.yaml",
         "config/thesis.yaml", "toy.yaml"], cwd=wf, timeout=1500)  # fmt: skip
    for table, cells in (("table_3_1", 15), ("table_3_2", 20)):
        rows = list(csv.DictReader(open(wf / f"results/thesis/tables/{table}.csv")))
        assert {r["scale"] for r in rows} == {"thesis"} and sum(bool(r["ours"]) for r in rows) == cells
    # the CRN read EMP-C's rule decoder; every model kept its best validation step
    assert not list((wf / "models/thesis/odeen").glob("cg_*"))
    for kind in ("interpreter", "emp_c"):
        summary = json.loads((wf / f"results/thesis/odeen/train/{kind}_1438x1000.json").read_text())
        assert summary["kept"]["step"] in (3, 6) and summary["train_config"]["batch_size"] == 16
    crn = json.loads((wf / "results/thesis/odeen/eval/crn_1438x1000.json").read_text())
    assert (
        crn["test_games"] == 8 and crn["beams"] == 3 and set(crn["baselines"]) == {"majority_label", "random"}
    )
