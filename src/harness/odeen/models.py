"""The models of thesis Fig. 3.5, as torch encoder-decoder transformers.

- :class:`Interpreter` (I): rule encoder + label decoder. The decoder reads a classification token
  and the six pieces of a structure, attends to the encoded rule, and tags the structure.
- :class:`ConjectureGenerator` (CG): table encoder + rule decoder, an autoregressive language
  model P(r | D) over rule tokens; :func:`beam_search` draws its t conjectures.
- :class:`Empiricist`: table encoder + label decoder (EMP-R, the radical empiricist); with
  ``rule_head=True`` it also has CG's rule decoder (EMP-C, the conscious empiricist).

A table is a set of labelled structures: each becomes one token (its six piece embeddings, with
slot positions, flattened and projected, plus a label embedding); the table encoder has no
positions across structures. Rules are token sequences, so ill-formed conjectures of CG are
still read by the learned interpreter (thesis 3.5, "Handling ambiguity and contradiction").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from harness.odeen.language import CONNECTIVES, N_SLOTS, NUMBERS, QUANTIFIERS, RELATIONS

PAD, BOS, EOS = 0, 1, 2
MAX_RULE_TOKENS = 11
#: Scale of the learned positions (rule tokens, structure slots) at initialisation: the scale of
#: the N(0, 1) token embeddings, as the original's sinusoidal positions added to embeddings
#: scaled by sqrt(d). At std 0.02 the interpreter learns order slowly: test T-Acc 0.77 against
#: 0.86 after 3k steps on the embedded 1,438 x 1,000 data (shared/reference/odeen.md).
POSITION_STD = 1.0
MAX_SEQ = MAX_RULE_TOKENS + 2  # BOS ... EOS


class RuleVocab:
    """Rule tokens of the Odeen grammar plus PAD, BOS and EOS."""

    def __init__(self) -> None:
        words = (
            QUANTIFIERS
            + NUMBERS
            + ("red", "blue", "block", "pyramid", "pointing_up", "pointing_down")
            + RELATIONS
            + CONNECTIVES
        )
        self.itos = ["<pad>", "<bos>", "<eos>", *words]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, rules: list[str], bos: bool = False) -> torch.Tensor:
        """(B, MAX_SEQ) token ids: [BOS] tokens EOS, right-padded with PAD."""
        out = torch.full((len(rules), MAX_SEQ), PAD, dtype=torch.long)
        for k, rule in enumerate(rules):
            ids = ([BOS] if bos else []) + [self.stoi[w] for w in rule.split()] + [EOS]
            out[k, : len(ids)] = torch.tensor(ids)
        return out

    def decode(self, ids) -> str:
        words = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i not in (PAD, BOS):
                words.append(self.itos[i])
        return " ".join(words)


VOCAB = RuleVocab()


@dataclass
class ModelConfig:
    """An Odeen transformer's size: the config's ``odeen.<model>`` entry, less the training keys."""

    d_model: int
    n_heads: int
    n_layers: int
    d_ff: int
    dropout: float

    def _layer_args(self) -> dict:
        return dict(
            d_model=self.d_model,
            nhead=self.n_heads,
            dim_feedforward=self.d_ff,
            dropout=self.dropout,
            batch_first=True,
        )

    def encoder(self) -> nn.TransformerEncoder:
        layer = nn.TransformerEncoderLayer(**self._layer_args())
        return nn.TransformerEncoder(layer, self.n_layers, enable_nested_tensor=False)

    def decoder(self) -> nn.TransformerDecoder:
        return nn.TransformerDecoder(nn.TransformerDecoderLayer(**self._layer_args()), self.n_layers)


#: Bag-of-features of each symbol (block, pyramid, pointing up, pointing down, red, blue), as
#: the original "bow+bias" piece embedding: a piece is the sum of its features' embeddings.
PIECE_FEATURES = torch.tensor(
    [
        [0, 0, 0, 0, 0, 0],  # .
        [1, 0, 0, 0, 0, 1],  # b
        [1, 0, 0, 0, 1, 0],  # B
        [0, 1, 1, 0, 0, 1],  # a
        [0, 1, 1, 0, 1, 0],  # A
        [0, 1, 0, 1, 0, 1],  # v
        [0, 1, 0, 1, 1, 0],  # V
    ],
    dtype=torch.float32,
)


class PieceEmbedding(nn.Module):
    """Embedding of the six pieces of a structure, with slot positions: (..., 6) -> (..., 6, d)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.register_buffer("features", PIECE_FEATURES.clone(), persistent=False)
        self.piece = nn.Linear(PIECE_FEATURES.shape[1], d)
        self.slot = nn.Parameter(torch.randn(N_SLOTS, d) * POSITION_STD)

    def forward(self, structures: torch.Tensor) -> torch.Tensor:
        return self.piece(self.features[structures]) + self.slot


class TableEmbedding(nn.Module):
    """One token per labelled structure: (B, T, 6), (B, T) -> (B, T, d)."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.pieces = PieceEmbedding(d)
        self.project = nn.Linear(N_SLOTS * d, d)
        self.label = nn.Embedding(2, d)

    def forward(self, structures: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        flat = self.pieces(structures).flatten(-2)
        return self.project(flat) + self.label(labels)


class RuleEmbedding(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.token = nn.Embedding(len(VOCAB), d, padding_idx=PAD)
        self.position = nn.Parameter(torch.randn(MAX_SEQ, d) * POSITION_STD)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.token(tokens) + self.position[: tokens.shape[1]]


class LabelDecoder(nn.Module):
    """CLS + structure pieces attend to a memory; the CLS output tags the structure."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.pieces = PieceEmbedding(cfg.d_model)
        self.cls = nn.Parameter(torch.randn(1, 1, cfg.d_model) * 0.02)
        self.decoder = cfg.decoder()
        self.head = nn.Linear(cfg.d_model, 2)

    def forward(self, memory, memory_pad, structures) -> torch.Tensor:
        x = torch.cat([self.cls.expand(structures.shape[0], -1, -1), self.pieces(structures)], dim=1)
        out = self.decoder(x, memory, memory_key_padding_mask=memory_pad)
        return self.head(out[:, 0])


class RuleDecoder(nn.Module):
    """Autoregressive rule decoder: teacher-forced logits for every next token."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.embed = RuleEmbedding(cfg.d_model)
        self.decoder = cfg.decoder()
        self.head = nn.Linear(cfg.d_model, len(VOCAB))

    def forward(self, memory, memory_pad, prefix: torch.Tensor) -> torch.Tensor:
        n = prefix.shape[1]
        causal = torch.ones(n, n, dtype=torch.bool, device=prefix.device).triu(1)
        out = self.decoder(
            self.embed(prefix),
            memory,
            tgt_mask=causal,
            tgt_is_causal=True,
            tgt_key_padding_mask=prefix == PAD,
            memory_key_padding_mask=memory_pad,
        )
        return self.head(out)


class Interpreter(nn.Module):
    kind = "interpreter"

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = RuleEmbedding(cfg.d_model)
        self.encoder = cfg.encoder()
        self.labels = LabelDecoder(cfg)

    def encode(self, rules: torch.Tensor):
        pad = rules == PAD
        return self.encoder(self.embed(rules), src_key_padding_mask=pad), pad

    def forward(self, rules: torch.Tensor, structures: torch.Tensor) -> torch.Tensor:
        """Logits (B, 2) for rule tokens (B, L) and structures (B, 6)."""
        memory, pad = self.encode(rules)
        return self.labels(memory, pad, structures)


class TableModel(nn.Module):
    """A table encoder over labelled structures (shared by CG and the empiricists)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.table = TableEmbedding(cfg.d_model)
        self.encoder = cfg.encoder()

    def encode(self, structures, labels):
        return self.encoder(self.table(structures, labels)), None


class ConjectureGenerator(TableModel):
    kind = "cg"

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg)
        self.rules = RuleDecoder(cfg)

    def forward(self, structures, labels, prefix) -> torch.Tensor:
        memory, pad = self.encode(structures, labels)
        return self.rules(memory, pad, prefix)


class Empiricist(TableModel):
    """EMP-R (``rule_head=False``) or EMP-C (``rule_head=True``)."""

    def __init__(self, cfg: ModelConfig, rule_head: bool) -> None:
        super().__init__(cfg)
        self.kind = "emp_c" if rule_head else "emp_r"
        self.labels = LabelDecoder(cfg)
        self.rules = RuleDecoder(cfg) if rule_head else None

    def forward(self, structures, labels, queries, prefix=None):
        """Label logits (B, 2) of ``queries`` (B, 6); with a rule head, also rule logits."""
        memory, pad = self.encode(structures, labels)
        label_logits = self.labels(memory, pad, queries)
        if self.rules is None or prefix is None:
            return label_logits, None
        return label_logits, self.rules(memory, pad, prefix)


def build_model(kind: str, cfg: ModelConfig) -> nn.Module:
    if kind == "interpreter":
        return Interpreter(cfg)
    if kind == "cg":
        return ConjectureGenerator(cfg)
    if kind in ("emp_r", "emp_c"):
        return Empiricist(cfg, rule_head=kind == "emp_c")
    raise ValueError(f"unknown model kind {kind!r}")


def save_model(path: str, model: nn.Module, extra: dict) -> None:
    from harness.core.atomic import atomic_path

    with atomic_path(path) as tmp:
        torch.save(
            {"kind": model.kind, "config": asdict(model.cfg), "state": model.state_dict(), **extra}, tmp
        )


def load_model(
    path: str, kind: str | tuple[str, ...] | None = None, device: str = "cpu"
) -> tuple[nn.Module, dict]:
    """A saved Odeen model and its file's extras; ``kind``: the kind(s) it must be."""
    import pickle

    from harness.core.errors import HarnessError

    try:
        blob = torch.load(path, map_location=device, weights_only=True)
        model = build_model(blob["kind"], ModelConfig(**blob["config"]))
        model.load_state_dict(blob["state"])
    except FileNotFoundError:
        raise HarnessError(f"model file {path} does not exist") from None
    except (RuntimeError, KeyError, TypeError, ValueError, EOFError, pickle.UnpicklingError) as err:
        raise HarnessError(f"model file {path} is corrupt or not a harness Odeen model: {err}") from None
    kinds = (kind,) if isinstance(kind, str) else kind
    if kinds is not None and blob["kind"] not in kinds:
        raise HarnessError(f"model file {path} holds a {blob['kind']} model, not {' or '.join(kinds)}")
    return model.to(device).eval(), blob


@torch.no_grad()
def beam_search(
    model: nn.Module, structures: torch.Tensor, labels: torch.Tensor, beams: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``beams`` most probable rules of a rule decoder per table, best first.

    ``model`` has ``encode(structures, labels)`` and a ``rules`` decoder. Returns token ids
    (G, beams, MAX_SEQ) starting with BOS, and their log-probabilities (G, beams). Finished
    beams (EOS emitted) keep their score and are padded; a beam scored -inf is filler (fewer
    than ``beams`` sequences exist) and must be ignored.
    """
    g = structures.shape[0]
    memory, _ = model.encode(structures, labels)
    d = memory.shape[-1]
    seqs = torch.full((g, 1, 1), BOS, dtype=torch.long, device=structures.device)
    scores = torch.zeros(g, 1, device=structures.device)
    done = torch.zeros(g, 1, dtype=torch.bool, device=structures.device)
    vocab = len(VOCAB)
    for _ in range(MAX_SEQ - 1):
        k = seqs.shape[1]
        mem = memory[:, None].expand(g, k, *memory.shape[1:]).reshape(g * k, -1, d)
        logits = model.rules(mem, None, seqs.reshape(g * k, -1))[:, -1]
        logp = torch.log_softmax(logits.float(), dim=-1).reshape(g, k, vocab)
        logp[..., PAD] = float("-inf")
        logp[..., BOS] = float("-inf")
        # a finished beam only extends with PAD, at no cost
        finished = torch.full((vocab,), float("-inf"), device=logp.device)
        finished[PAD] = 0.0
        logp = torch.where(done[..., None], finished, logp)
        total = (scores[..., None] + logp).reshape(g, k * vocab)
        top = min(beams, k * vocab)
        scores, flat = total.topk(top, dim=-1)
        origin, token = flat // vocab, flat % vocab
        seqs = torch.cat(
            [seqs.gather(1, origin[..., None].expand(-1, -1, seqs.shape[2])), token[..., None]], -1
        )
        done = done.gather(1, origin) | (token == EOS)
        if bool(done.all()):
            break
    pad = MAX_SEQ - seqs.shape[2]
    if pad:
        seqs = torch.nn.functional.pad(seqs, (0, pad), value=PAD)
    return seqs, scores


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
