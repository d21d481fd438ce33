"""Training of the Odeen models on the labelled structures of one training regime (n rules x m
structures): the interpreter on (rule, structure, label) triples; the conjecture generator and
the empiricists on 32-structure tables drawn from one rule's labelled structures.

Losses (original code): cross-entropy on the label; cross-entropy on the next rule token;
EMP-C adds ``rule_loss_weight`` (100) times the rule loss to the label loss.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from harness.core.logs import LOG
from harness.odeen.games import structures_array
from harness.odeen.models import PAD, VOCAB, ModelConfig, build_model, count_parameters, save_model
from harness.train.checkpoint import seed_everything
from harness.train.loop import finish_run, train_steps

HISTORY_COLUMNS = ("step", "train_loss", "valid_loss", "valid_accuracy", "kept")


@dataclass
class TrainConfig:
    """One model's training settings: the config's ``odeen.<model>`` entry (less the model
    sizes), the table size ``odeen.table_size`` and the seed derived from the config's seed."""

    steps: int
    batch_size: int
    lr: float
    checkpoint_every: int
    log_every: int
    rule_loss_weight: float | None  # EMP-C's weight of the rule loss (None: no rule loss)
    table_size: int
    seed: int


class Batches:
    """Batch drawing for every model kind from one regime's labelled structures."""

    def __init__(self, rules: list[str], data: dict[str, np.ndarray], table_size: int, device: str):
        self.tokens = VOCAB.encode(rules, bos=False)  # rule encoder input (tokens EOS)
        self.targets = VOCAB.encode(rules, bos=True)  # rule decoder target (BOS tokens EOS)
        self.structures = data["structures"]
        self.labels = data["labels"]
        self.table_size = table_size
        self.device = device

    def _t(self, x, dtype=torch.long):
        return torch.as_tensor(np.asarray(x), dtype=dtype, device=self.device)

    def pairs(self, rng: np.random.Generator, size: int) -> dict:
        n, m = self.structures.shape
        k, j = rng.integers(n, size=size), rng.integers(m, size=size)
        return {
            "rules": self.tokens[k].to(self.device),
            "structures": self._t(structures_array(self.structures[k, j])),
            "y": self._t(self.labels[k, j]),
        }

    def tables(self, rng: np.random.Generator, size: int) -> dict:
        """Tables of ``table_size`` structures of one rule, plus one more structure as query:
        ``table_size + 1`` distinct structures of the rule's ``m`` (with repeats when ``m`` is
        smaller), drawn for the whole batch at once."""
        n, m = self.structures.shape
        k = rng.integers(n, size=size)
        t = self.table_size + 1
        cols = distinct_draws(rng, size, m, t) if m >= t else rng.integers(m, size=(size, t))
        idx = self.structures[k[:, None], cols]
        labs = self.labels[k[:, None], cols]
        return {
            "structures": self._t(structures_array(idx[:, :-1])),
            "labels": self._t(labs[:, :-1]),
            "queries": self._t(structures_array(idx[:, -1])),
            "y": self._t(labs[:, -1]),
            "target": self.targets[k].to(self.device),
        }


def distinct_draws(rng: np.random.Generator, rows: int, m: int, t: int) -> np.ndarray:
    """``t`` distinct indices of ``range(m)`` per row, uniform over the t-subsets and in random
    order: Floyd's algorithm, vectorised over the rows (O(rows t^2), whatever m is), then a
    shuffle of each row."""
    out = np.empty((rows, t), dtype=np.int64)
    for i, j in enumerate(range(m - t, m)):
        r = rng.integers(0, j + 1, size=rows)
        taken = (out[:, :i] == r[:, None]).any(axis=1)
        out[:, i] = np.where(taken, j, r)
    return rng.permuted(out, axis=1)


def games_batches(
    rules: list[str], games: dict[str, np.ndarray], kind: str, device: str, chunk: int = 4096
) -> list[dict]:
    """Fixed validation batches over every validation game (true rule, 32 labelled structures):
    for the interpreter each (rule, structure) pair, in chunks; for the table models each game
    with 31 structures as the table and the last as the query."""
    tables, labels = games["tables"], games["labels"]
    names = [rules[i] for i in games["rule_ids"]]

    def t(x):
        return torch.as_tensor(np.asarray(x), dtype=torch.long, device=device)

    if kind == "interpreter":
        g, size = np.meshgrid(np.arange(len(names)), np.arange(tables.shape[1]), indexing="ij")
        g, size = g.ravel(), size.ravel()
        return [
            {
                "rules": VOCAB.encode([names[i] for i in g[i0 : i0 + chunk]]).to(device),
                "structures": t(structures_array(tables[g[i0 : i0 + chunk], size[i0 : i0 + chunk]])),
                "y": t(labels[g[i0 : i0 + chunk], size[i0 : i0 + chunk]]),
            }
            for i0 in range(0, len(g), chunk)
        ]
    per = max(1, chunk // tables.shape[1])
    return [
        {
            "structures": t(structures_array(tables[i0 : i0 + per, :-1])),
            "labels": t(labels[i0 : i0 + per, :-1]),
            "queries": t(structures_array(tables[i0 : i0 + per, -1])),
            "y": t(labels[i0 : i0 + per, -1]),
            "target": VOCAB.encode(names[i0 : i0 + per], bos=True).to(device),
        }
        for i0 in range(0, len(names), per)
    ]


def validate(model: nn.Module, batches: list[dict], rule_weight: float) -> dict:
    """Loss and accuracy over all validation batches (each batch weighted by its size)."""
    sizes = np.array([len(b["y"]) for b in batches], dtype=float)
    results = [loss_and_accuracy(model, b, rule_weight) for b in batches]
    loss = float(np.average([float(r[0]) for r in results], weights=sizes))
    acc = float(np.average([r[1] for r in results], weights=sizes))
    return {"valid_loss": round(loss, 5), "valid_accuracy": round(acc, 5)}


def _rule_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target[:, 1:].reshape(-1), ignore_index=PAD
    )


def loss_and_accuracy(model: nn.Module, batch: dict, rule_weight: float) -> tuple[torch.Tensor, float]:
    """The training loss of a batch, and the accuracy that matters for the model kind
    (tag accuracy; for CG, next-token accuracy)."""
    if model.kind == "interpreter":
        logits = model(batch["rules"], batch["structures"])
        loss = nn.functional.cross_entropy(logits, batch["y"])
        return loss, float((logits.argmax(-1) == batch["y"]).float().mean())
    prefix = batch["target"][:, :-1]
    if model.kind == "cg":
        logits = model(batch["structures"], batch["labels"], prefix)
        mask = batch["target"][:, 1:] != PAD
        acc = (logits.argmax(-1) == batch["target"][:, 1:])[mask].float().mean()
        return _rule_loss(logits, batch["target"]), float(acc)
    label_logits, rule_logits = model(batch["structures"], batch["labels"], batch["queries"], prefix)
    loss = nn.functional.cross_entropy(label_logits, batch["y"])
    if rule_logits is not None:
        loss = loss + rule_weight * _rule_loss(rule_logits, batch["target"])
    return loss, float((label_logits.argmax(-1) == batch["y"]).float().mean())


def train(
    kind: str,
    model_cfg: ModelConfig,
    cfg: TrainConfig,
    rules: list[str],
    data: dict[str, np.ndarray],
    valid: dict[str, np.ndarray] | None,
    all_rules: list[str],
    out: str,
    checkpoint: str,
    history_csv: str | None = None,
    device: str = "cpu",
    stop_after: int | None = None,
) -> dict | None:
    """Train one model through the shared resumable loop (``train.loop``); resume from
    ``checkpoint`` if a run with the same settings stopped.

    ``stop_after`` stops (as a preemption would) after that many steps, leaving the checkpoint.
    Returns the training summary, or None when stopped early.
    """
    rng = seed_everything(cfg.seed)
    model = build_model(kind, model_cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    tag = json.dumps([kind, model_cfg.__dict__, cfg.__dict__, len(rules), list(data["structures"].shape)])
    batches = Batches(rules, data, cfg.table_size, device)
    draw = batches.pairs if kind == "interpreter" else batches.tables
    valid_batches = games_batches(all_rules, valid, kind, device) if valid is not None else None
    LOG.info(
        "%s: %d parameters, %d steps, batch %d", kind, count_parameters(model), cfg.steps, cfg.batch_size
    )

    def step_fn(rng: np.random.Generator) -> torch.Tensor:
        return loss_and_accuracy(model, draw(rng, cfg.batch_size), cfg.rule_loss_weight)[0]

    def evaluate() -> dict:
        return validate(model, valid_batches, cfg.rule_loss_weight)

    history, finished = train_steps(
        model, optimizer, step_fn, cfg.steps, rng, checkpoint, tag, cfg.log_every,
        evaluate if valid_batches is not None else None, stop_after, desc=f"train {kind}",
        loss_digits=5, checkpoint_every=cfg.checkpoint_every,
        keep_best="valid_loss" if valid_batches is not None else None,
    )  # fmt: skip
    if not finished:
        return None
    summary = {
        "kind": kind,
        "steps": cfg.steps,
        "parameters": count_parameters(model),
        "device": device,
        "final": history[-1] if history else {},
        # the weights saved: the evaluation with the lowest validation loss (early stopping)
        "kept": next((row for row in history if row.get("kept")), history[-1] if history else {}),
        "train_config": cfg.__dict__,
        "torch": str(torch.__version__),
    }
    save_model(out, model.cpu(), {"summary": summary})
    finish_run(history, history_csv, summary, None, checkpoint, list(HISTORY_COLUMNS))
    LOG.info("trained %s: kept %s", kind, summary["kept"])
    return summary
