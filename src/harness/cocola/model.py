"""The COCOLA encoder f_theta and its similarities (thesis section 7.3).

f_theta: waveform at 16 kHz -> log-mel (n_fft 1024, window 400, hop 160, 64 mels, 60-7,800 Hz,
dB) -> EfficientNet-B0 (torchvision's class, random init, one input channel) -> global average
pool -> 0.1 dropout -> linear projection 1280 -> d -> LayerNorm -> tanh, as in COLA and the
original COCOLA code. ``width`` and ``depth`` scale EfficientNet's channels and layers as its
own compound scaling does (1.0 / 1.0 is B0); the embedded default trains a narrower one.

sim(h1, h2) = h1^T W h2 (eq. 7.2, ``bilinear``) or cos(h1, h2) / tau (``cosine``, Figure 7.3).
As in the original code, the cosine variant compares the projections themselves (no LayerNorm
and tanh) and its default tau = 1 is the original's plain cosine, whose logits stay in [-1, 1].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from harness.train.files import build_model, save_state

KIND = "cocola_encoder"
# EfficientNet-B0's stages: expand ratio, kernel, stride, in and out channels, layers
B0_STAGES = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
             (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]  # fmt: skip


@dataclass(frozen=True)
class Features:
    """The log-mel front end (thesis 7.4; the original code's MEL_SPECTROGRAM extractor)."""

    sample_rate: int = 16000
    n_fft: int = 1024
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 64
    f_min: float = 60.0
    f_max: float = 7800.0


@dataclass(frozen=True)
class ModelSettings:
    width: float = 1.0  # EfficientNet width multiplier (B0: 1.0)
    depth: float = 1.0  # depth multiplier (B0: 1.0)
    dropout: float = 0.1
    stochastic_depth: float = 0.2  # torchvision's B0 default
    embedding_dim: int = 512
    similarity: str = "bilinear"  # bilinear (eq. 7.2) | cosine
    temperature: float = 1.0  # cosine only: logits cos / tau (1: the original's plain cosine)


def log_mel(features: Features) -> nn.Module:
    import torchaudio

    f = features
    return nn.Sequential(
        torchaudio.transforms.MelSpectrogram(
            sample_rate=f.sample_rate,
            n_fft=f.n_fft,
            win_length=f.win_length,
            hop_length=f.hop_length,
            f_min=f.f_min,
            f_max=f.f_max,
            n_mels=f.n_mels,
        ),
        torchaudio.transforms.AmplitudeToDB(),
    )


def efficientnet(settings: ModelSettings) -> tuple[nn.Module, int]:
    """torchvision's EfficientNet at ``width`` x ``depth`` of B0 on one input channel, without
    its classifier: (feature network, channels it outputs; 1280 for B0)."""
    from torchvision.models.efficientnet import EfficientNet, MBConvConfig

    stages = [
        MBConvConfig(*stage, width_mult=settings.width, depth_mult=settings.depth) for stage in B0_STAGES
    ]
    net = EfficientNet(stages, dropout=settings.dropout, stochastic_depth_prob=settings.stochastic_depth)
    stem = net.features[0][0]
    net.features[0][0] = nn.Conv2d(
        1, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False
    )
    nn.init.kaiming_normal_(net.features[0][0].weight, mode="fan_out")
    channels = net.classifier[1].in_features
    net.classifier = nn.Identity()  # global pool + flatten stay; dropout and projection follow
    return net, channels


class Cocola(nn.Module):
    def __init__(self, features: Features, settings: ModelSettings):
        super().__init__()
        if settings.similarity not in ("bilinear", "cosine"):
            raise ValueError(f"unknown similarity {settings.similarity!r}")
        self.features, self.settings = features, settings
        self.front = log_mel(features)
        self.encoder, channels = efficientnet(settings)
        self.dropout = nn.Dropout(settings.dropout)
        self.projection = nn.Linear(channels, settings.embedding_dim)
        self.norm = nn.LayerNorm(settings.embedding_dim)
        d = settings.embedding_dim
        # W ~ N(0, 1/d^2): the LayerNorm-tanh embeddings have |h|^2 ~ d/2, so the first logits
        # are O(1) (the original's N(0, 0.05^2) starts them near +-15 at d = 512)
        self.w = nn.Parameter(torch.randn(d, d) / d) if settings.similarity == "bilinear" else None

    def embed(self, audio: torch.Tensor) -> torch.Tensor:
        """[B, samples] at ``features.sample_rate`` -> [B, d] embeddings h = f_theta(audio)."""
        mel = self.front(audio).unsqueeze(1)  # [B, 1, mels, frames]
        h = self.projection(self.dropout(self.encoder(mel)))
        return torch.tanh(self.norm(h)) if self.w is not None else h

    def similarity(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """[B1, d], [B2, d] -> [B1, B2]: sim(h1_k, h2_j) for every k, j."""
        return self._sim(h1, h2.T)

    def paired_similarity(self, h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
        """[B, d], [B, d] -> [B]: sim(h1_k, h2_k) of each row with its own partner only."""
        return self._sim(h1.unsqueeze(1), h2.unsqueeze(2)).reshape(-1)

    def _sim(self, h1: torch.Tensor, h2t: torch.Tensor) -> torch.Tensor:
        """h1 [..., B1, d] against h2 transposed [..., d, B2]."""
        if self.w is not None:
            return h1 @ self.w @ h2t  # eq. 7.2
        h1 = nn.functional.normalize(h1, dim=-1)
        return h1 @ nn.functional.normalize(h2t, dim=-2) / self.settings.temperature


def contrastive_loss(sim: torch.Tensor) -> torch.Tensor:
    """Eq. 7.3 over a batch of K windows: row k's positive is column k (averaged over k)."""
    return nn.functional.cross_entropy(sim, torch.arange(sim.shape[0], device=sim.device))


def batch_accuracy(sim: torch.Tensor) -> float:
    """Eq. 7.5: the share of rows whose largest similarity is their own window's."""
    return float((sim.argmax(dim=1) == torch.arange(sim.shape[0], device=sim.device)).float().mean())


def save_model(path: str, model: Cocola, extra: dict | None = None) -> None:
    config = {"features": asdict(model.features), "model": asdict(model.settings), **(extra or {})}
    save_state(path, KIND, {"config": config, "state_dict": model.state_dict()})


def load_model(path: str) -> Cocola:
    """A COCOLA model file (``weights_only``), with ``.window``; anything else stops with one line."""

    def make(config):
        model = Cocola(Features(**config["features"]), ModelSettings(**config["model"]))
        model.window = int(config["window"])  # samples per window it was trained on
        return model

    model = build_model(path, KIND, "COCOLA model", make)
    return model.eval()
