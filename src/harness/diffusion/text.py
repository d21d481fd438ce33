"""Text conditioning for diffusion models: a transformers text encoder loaded from a local
directory (a path or ``pkg:module/sub``; nothing is downloaded), its per-token last hidden states
for cross-attention, or their mean over the tokens for a net conditioned on one vector."""

from __future__ import annotations

import torch

from harness.core.errors import HarnessError
from harness.core.packages import resolve_path


def load_text_encoder(path: str):
    """(tokenizer, encoder) of the checkpoint in ``path``: a T5 checkpoint's encoder, or any
    transformers encoder (all-MiniLM-L6-v2, BERT, CLAP's text tower is not one)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer, T5EncoderModel

    folder = resolve_path(path)
    try:
        config = AutoConfig.from_pretrained(folder)
        cls = T5EncoderModel if config.model_type in ("t5", "mt5", "umt5") else AutoModel
        return AutoTokenizer.from_pretrained(folder), cls.from_pretrained(folder).eval()
    except (OSError, ValueError) as err:
        raise HarnessError(
            f"cannot load the text encoder from {folder}: {str(err).splitlines()[0]}"
        ) from None


@torch.no_grad()
def encode_tokens(path: str, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """([len(texts), L, D] last hidden states, [len(texts), L] attention mask, 1 = token)."""
    tokenizer, model = load_text_encoder(path)
    enc = tokenizer(texts, return_tensors="pt", padding=True, truncation=True)
    hidden = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).last_hidden_state
    return hidden.float(), enc["attention_mask"].long()


def mean_pooled(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, D]: the mean of the hidden states over each text's tokens."""
    weights = mask[..., None].to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1)
