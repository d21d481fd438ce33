"""Evaluation of the Odeen models on the test games (thesis 3.4-3.5).

CRN (Algorithm 1): CG's beam search gives t conjectures per game, best first; the interpreter
tags the game's 32 structures with each; the conjecture with most agreeing tags wins (the first
in beam order on ties), and the interpreter tags the evaluation structures with it.
- ``crn``: learned interpreter (fully learned CRN).
- ``crn_hardcoded``: the ground-truth interpreter (program-synthesis variant); a conjecture
  outside the grammar cannot be interpreted and is discarded.
- ``crn_strict``: the first conjecture the learned interpreter finds consistent with the whole
  table, or "unknown" when there is none.
EMP-R tags each evaluation structure from the table directly; EMP-C also decodes a rule
(greedy), which R-Acc scores.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import numpy as np
import torch

from harness.core.atomic import write_text
from harness.core.logs import LOG, progress
from harness.odeen import metrics
from harness.odeen.data import read_rules_tsv, read_tags
from harness.odeen.games import GAME_KEYS, column_labels, read_npz, structures_array
from harness.odeen.models import VOCAB, beam_search


@dataclass
class Context:
    rules: list[str]
    classes: np.ndarray
    class_of: dict[str, int]
    class_sizes: np.ndarray  # size of each game's true class
    rule_index: dict[str, int]
    games: dict[str, np.ndarray]
    eval_tags: np.ndarray  # (R, ell) labels of every rule on the evaluation structures
    packed: np.ndarray  # the bit-packed tag matrix over U (the ground-truth interpreter)

    @property
    def true_class(self) -> np.ndarray:
        return self.classes[self.games["rule_ids"]]

    @property
    def truth(self) -> np.ndarray:
        return self.eval_tags[self.games["rule_ids"]]

    def names(self) -> list[str]:
        return [self.rules[i] for i in self.games["rule_ids"]]


def load_context(tags: str, rules_tsv: str, games: str, limit: int | None = None) -> Context:
    rules, packed, _ = read_tags(tags)
    table = read_rules_tsv(rules_tsv)
    classes = np.array([r["label_class"] for r in table])
    g = read_npz(games, GAME_KEYS, "games file")
    if limit:
        g = {k: (v[:limit] if k not in ("eval_structures", "rules") else v) for k, v in g.items()}
    sizes = np.bincount(classes)
    return Context(
        rules=rules,
        classes=classes,
        class_of={r: int(c) for r, c in zip(rules, classes)},
        class_sizes=sizes[classes[g["rule_ids"]]],
        rule_index={r: i for i, r in enumerate(rules)},
        games=g,
        eval_tags=column_labels(packed, g["eval_structures"]).astype(bool),
        packed=packed,
    )


def _long(x, device):
    return torch.as_tensor(np.asarray(x), dtype=torch.long, device=device)


@torch.no_grad()
def interpret(
    interpreter, rules: list[str], structures: np.ndarray, device: str, chunk: int = 8192
) -> np.ndarray:
    """Learned tags (len(rules), S) of every rule on every structure (symbol arrays (S, 6))."""
    s = len(structures)
    out = np.empty((len(rules), s), dtype=bool)
    structs = _long(structures, device)
    per = max(1, chunk // s)
    for i in range(0, len(rules), per):
        memory, pad = interpreter.encode(VOCAB.encode(rules[i : i + per]).to(device))
        b = memory.shape[0]
        mem = memory.repeat_interleave(s, dim=0)
        mpad = pad.repeat_interleave(s, dim=0)
        logits = interpreter.labels(mem, mpad, structs.repeat(b, 1))
        out[i : i + b] = (logits.argmax(-1) == 1).reshape(b, s).cpu().numpy()
    return out


@torch.no_grad()
def conjectures(cg, ctx: Context, beams: int, device: str, batch: int = 8) -> list[list[str]]:
    """CG's beam-search conjectures per game, most probable first."""
    out = []
    tables, labels = ctx.games["tables"], ctx.games["labels"]
    for i in progress(range(0, len(tables), batch), desc=f"beam search ({beams} beams)"):
        seqs, scores = beam_search(
            cg,
            _long(structures_array(tables[i : i + batch]), device),
            _long(labels[i : i + batch], device),
            beams,
        )
        for game_seqs, game_scores in zip(seqs.cpu(), scores.cpu()):
            out.append([VOCAB.decode(s) for s, sc in zip(game_seqs, game_scores) if torch.isfinite(sc)])
    return out


def first_max(hits: np.ndarray) -> int:
    return int(np.argmax(hits)) if len(hits) else -1


def run_crn(cg, interpreter, ctx: Context, beams: int, device: str) -> dict:
    """The CRN on every test game (thesis 3.4): the CG proposes ``beams`` conjectures, the
    interpreter picks the one agreeing most with the table; scored by NRS, T-Acc and R-Acc, with
    the ground-truth interpreter, the strict CRN and the rank curve of Figure 3.6 beside."""
    conj = conjectures(cg, ctx, beams, device)
    rows, learned_pick, hard_pick, curve_hits = _judge_games(interpreter, ctx, conj, device)
    crn_pred, hard_pred = _eval_predictions(interpreter, ctx, learned_pick, hard_pick, device)
    truth_tags = interpret(interpreter, ctx.names(), structures_array(ctx.games["eval_structures"]), device)
    result = {
        "crn": score(ctx, crn_pred, learned_pick),
        "crn_hardcoded": score(ctx, hard_pred, hard_pick),
        "interpreter_true_rule": {"t_acc": float(metrics.tag_accuracy(truth_tags, ctx.truth).mean())},
        "crn_strict": _strict_summary(ctx, rows),
        "baselines": baselines(ctx),
        "curve": _curves(ctx, rows, curve_hits, beams),
    }
    for key, pred in (("crn", crn_pred), ("crn_hardcoded", hard_pred)):
        hits = metrics.nearest_rule_hits(pred, ctx.eval_tags, ctx.classes, ctx.true_class)
        for row, h in zip(rows, hits):
            row[f"{key}_nrs"] = int(h)
    for row, r_hit in zip(rows, metrics.rule_hits(learned_pick, ctx.true_class, ctx.class_of)):
        row["crn_r_acc"] = int(r_hit)
    result.update(exactly_two(ctx, {"crn": [r["crn_nrs"] for r in rows]}))
    return {"summary": result, "games": rows}


def _judge_games(interpreter, ctx: Context, conj: list[list[str]], device: str):
    """Each game's conjectures judged on its table by the learned interpreter (the CRN's pick,
    and the strict CRN's: a conjecture agreeing with all structures, else 'unknown') and by the
    ground-truth tags (the hardcoded-I CRN's pick): (per-game rows, learned picks, hardcoded
    picks, the agreement of every conjecture for the curve of Figure 3.6)."""
    names = ctx.names()
    tables, labels = ctx.games["tables"], ctx.games["labels"].astype(bool)
    rows, learned_pick, hard_pick, curve_hits = [], [], [], []
    for g in progress(range(len(names)), desc="CRN"):
        rules_g = conj[g]
        sym = structures_array(tables[g])
        learned = (
            interpret(interpreter, rules_g, sym, device) if rules_g else np.zeros((0, sym.shape[0]), bool)
        )
        learned_hits = (learned == labels[g]).sum(axis=1)
        valid = [ctx.rule_index.get(r) for r in rules_g]
        hard_hits = np.array(
            [-1 if r is None else int(x) for r, x in zip(valid, _hard_agreement(ctx, valid, g))]
        )
        best, hard_best = first_max(learned_hits), first_max(hard_hits) if (hard_hits >= 0).any() else -1
        strict = next((k for k, h in enumerate(learned_hits) if h == tables.shape[1]), -1)
        true_c = int(ctx.true_class[g])
        rank = next((k + 1 for k, r in enumerate(rules_g) if ctx.class_of.get(r) == true_c), np.inf)
        curve_hits.append((learned_hits, rules_g))
        learned_pick.append(rules_g[best] if best >= 0 else None)
        hard_pick.append(rules_g[hard_best] if hard_best >= 0 else None)
        rows.append(
            {
                "rule": names[g],
                "conjectures": len(rules_g),
                "true_rank": rank,
                "crn_rule": learned_pick[-1] or "",
                "crn_agreement": int(learned_hits[best]) if best >= 0 else 0,
                "hardcoded_rule": hard_pick[-1] or "",
                "strict_rule": rules_g[strict] if strict >= 0 else "unknown",
            }
        )
    return rows, learned_pick, hard_pick, curve_hits


def _eval_predictions(interpreter, ctx: Context, learned_pick, hard_pick, device: str):
    """Tags of the evaluation structures under each game's picked rule: by the learned
    interpreter (CRN) and by the ground truth (hardcoded-I CRN); all False without a pick."""
    eval_sym = structures_array(ctx.games["eval_structures"])
    empty = np.zeros(len(eval_sym), bool)
    crn_pred = np.stack([interpret(interpreter, [r], eval_sym, device)[0] if r is not None else empty
                         for r in learned_pick])  # fmt: skip
    hard_pred = np.stack([ctx.eval_tags[ctx.rule_index[r]] if r is not None else empty for r in hard_pick])
    return crn_pred, hard_pred


def _strict_summary(ctx: Context, rows: list[dict]) -> dict:
    """The strict CRN (section 3.5): games it explains right, wrong, or answers 'unknown'."""
    strict_rules = [r["strict_rule"] for r in rows]
    strict_right = metrics.rule_hits(
        [None if r == "unknown" else r for r in strict_rules], ctx.true_class, ctx.class_of
    )
    unknown = np.array([r == "unknown" for r in strict_rules])
    return {
        "games": len(rows),
        "discovered": int(strict_right.sum()),
        "wrong": int((~strict_right & ~unknown).sum()),
        "unknown": int(unknown.sum()),
    }


def _curves(ctx: Context, rows: list[dict], curve_hits, beams: int) -> dict:
    """Figure 3.6: the share of games whose true rule is among the first t conjectures, the
    CRN's R-Acc with t conjectures, and brute force over the rule list, at each t."""
    ranks = np.array([r["true_rank"] for r in rows], dtype=float)
    ts = np.unique(np.concatenate([np.geomspace(1, max(beams, 1), 40).round(), [beams]])).astype(int)
    brute = metrics.brute_force_within(ctx.class_sizes, _brute_force_ts(), len(ctx.rules))
    return {
        "t": ts.tolist(),
        "found_within_t": metrics.found_within(ranks, ts).round(5).tolist(),
        "crn_r_acc_at_t": _crn_r_acc_curve(ctx, curve_hits, ts).round(5).tolist(),
        "brute_force_t": _brute_force_ts().tolist(),
        "brute_force": brute.round(5).tolist(),
    }


def _hard_agreement(ctx: Context, rule_ids: list[int | None], g: int) -> list[int]:
    """Agreement of the ground-truth tags of each (parsable) conjecture with game g's table."""
    ok = [r for r in rule_ids if r is not None]
    if not ok:
        return [0] * len(rule_ids)
    tags = column_labels(ctx.packed[ok], ctx.games["tables"][g]).astype(bool)
    agree = iter((tags == ctx.games["labels"][g].astype(bool)).sum(axis=1))
    return [next(agree) if r is not None else 0 for r in rule_ids]


def _brute_force_ts() -> np.ndarray:
    return np.unique(np.geomspace(1, 24794, 60).round()).astype(int)


def _crn_r_acc_curve(ctx: Context, curve_hits, ts: np.ndarray) -> np.ndarray:
    out = []
    for t in ts:
        right = 0
        for (hits, rules_g), c in zip(curve_hits, ctx.true_class):
            if len(rules_g):
                best = int(np.argmax(hits[:t]))
                right += ctx.class_of.get(rules_g[best]) == int(c)
        out.append(right / max(len(curve_hits), 1))
    return np.array(out)


def baselines(ctx: Context, seed: int = 0) -> dict:
    """What "no signal" scores: each test rule's majority label over U on every evaluation
    structure (it knows the rule's label prior, which no table tells), and fair coin flips."""
    from harness.odeen.interpreter import popcount_rows
    from harness.odeen.language import UNIVERSE_SIZE

    positive = popcount_rows(ctx.packed[ctx.games["rule_ids"]]) * 2 > UNIVERSE_SIZE
    n_eval = ctx.eval_tags.shape[1]
    coins = np.random.default_rng(seed).random((len(positive), n_eval)) < 0.5
    return {
        "majority_label": score(ctx, np.repeat(positive[:, None], n_eval, axis=1), None),
        "random": score(ctx, coins, None),
    }


def score(ctx: Context, pred: np.ndarray, rules: list[str | None] | None) -> dict:
    hits = metrics.nearest_rule_hits(pred, ctx.eval_tags, ctx.classes, ctx.true_class)
    out = {"nrs": float(hits.mean()), "t_acc": float(metrics.tag_accuracy(pred, ctx.truth).mean())}
    if rules is not None:
        out["r_acc"] = float(metrics.rule_hits(rules, ctx.true_class, ctx.class_of).mean())
    return out


def exactly_two(ctx: Context, nrs_by_model: dict[str, list[int]]) -> dict:
    """NRS on the test rules with the bigram ``exactly 2`` (never seen in training)."""
    mask = np.array(["exactly 2" in r for r in ctx.names()])
    return {
        "exactly_two": {
            "n_rules": int(mask.sum()),
            **{k: float(np.asarray(v)[mask].mean()) if mask.any() else 0.0 for k, v in nrs_by_model.items()},
        }
    }


@torch.no_grad()
def run_empiricist(model, ctx: Context, device: str, chunk: int = 2048) -> dict:
    tables, labels = ctx.games["tables"], ctx.games["labels"]
    eval_sym = _long(structures_array(ctx.games["eval_structures"]), device)
    s = eval_sym.shape[0]
    preds, rules = [], []
    for g in progress(range(len(tables)), desc=model.kind):
        memory, _ = model.encode(
            _long(structures_array(tables[g : g + 1]), device), _long(labels[g : g + 1], device)
        )
        tags = []
        for i in range(0, s, chunk):
            q = eval_sym[i : i + chunk]
            tags.append(model.labels(memory.expand(len(q), -1, -1), None, q).argmax(-1) == 1)
        preds.append(torch.cat(tags).cpu().numpy())
        if model.rules is not None:
            seqs, _ = beam_search(
                model, _long(structures_array(tables[g : g + 1]), device), _long(labels[g : g + 1], device), 1
            )
            rules.append(VOCAB.decode(seqs[0, 0]))
    pred = np.stack(preds)
    summary = score(ctx, pred, rules if model.rules is not None else None)
    hits = metrics.nearest_rule_hits(pred, ctx.eval_tags, ctx.classes, ctx.true_class)
    summary.update(exactly_two(ctx, {model.kind: hits.astype(int).tolist()}))
    games = [{"rule": n, f"{model.kind}_nrs": int(h)} for n, h in zip(ctx.names(), hits)]
    for row, r in zip(games, rules):
        row[f"{model.kind}_rule"] = r
    return {"summary": summary, "games": games}


def write_evaluation(result: dict, summary_path: str, games_csv: str | None, provenance: dict) -> None:
    write_text(summary_path, json.dumps({**result["summary"], "provenance": provenance}, indent=1) + "\n")
    if games_csv:
        buf = io.StringIO()
        fields = list(result["games"][0]) if result["games"] else ["rule"]
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(result["games"])
        write_text(games_csv, buf.getvalue())
    LOG.info("%s: %s", summary_path, {k: v for k, v in result["summary"].items() if k != "curve"})
