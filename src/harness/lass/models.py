"""The two models of LASS on images (thesis section 5.4.1): a VQ-VAE and an autoregressive
Transformer prior over its codes.

VQ-VAE: the architecture of the LASS MNIST code (two stride-2 4x4 convolutions: a 7x7 grid for
MNIST, 8x8 for CelebA 32x32,
two residual blocks each side, sigmoid output), with vector-quantize-pytorch's ``VectorQuantize``
as the codebook: nearest code, straight-through gradient, beta * commitment loss, codes updated
as exponential moving averages of their encoder outputs, initialised by k-means on the first
batch, and a code that falls out of use (EMA cluster size below ``dead_code``) restarted on an
encoder output of the batch. With diffusers' plain quantiser (uniform initialisation far from
the encoder outputs, gradient updates) only 51 of 256 codes stayed in use on MNIST. Its
``encode`` is B(E_theta(x)) of the thesis (codes ``[n, 7, 7]`` on MNIST), ``decode_latents`` is D_psi on
dense code vectors e (what the refinement, Eqs. 5.5-5.6, optimises).

Prior: transformers' ``GPT2LMHeadModel`` over the 49 codes read row by row, preceded by a
beginning-of-sequence token (id K, one past the codebook). The thesis prior has 3 layers of width
128 and 2 heads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from harness.train.files import build_model, save_state


@dataclass(frozen=True)
class VQVAEConfig:
    codes: int  # K
    dim: int  # channels of the encoder / decoder and of each code vector
    beta: float  # commitment weight
    decay: float  # EMA decay of the codebook
    dead_code: float  # restart a code whose EMA cluster size falls below this
    channels: int  # image channels (MNIST 1, CelebA 3)


@dataclass(frozen=True)
class PriorConfig:
    codes: int  # K
    length: int  # S: codes per image (7 x 7 on MNIST)
    n_layer: int
    n_embd: int
    n_head: int


class ResBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.LeakyReLU(),
            nn.Conv2d(dim, dim, 3, 1, 1),
            nn.BatchNorm2d(dim),
            nn.LeakyReLU(),
            nn.Conv2d(dim, dim, 1),
            nn.BatchNorm2d(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


def codebook(dim: int, config, **layout):
    """vector-quantize-pytorch's codebook of K = ``config.codes`` vectors: nearest code,
    straight-through gradient, beta * commitment loss, EMA updates, k-means initialisation on the
    first batch, dead-code restarts; ``layout``: where the channels of the encoder's output are."""
    from vector_quantize_pytorch import VectorQuantize

    return VectorQuantize(dim=dim, codebook_size=config.codes, decay=config.decay, commitment_weight=config.beta,
                          kmeans_init=True, kmeans_iters=10, threshold_ema_dead_code=config.dead_code, **layout)  # fmt: skip


class CodedAutoencoder(nn.Module):
    """What LASS needs of a VQ-VAE, shared by the image and the audio one (each builds its
    ``encoder``, ``quantizer`` and ``decoder``): ``encode`` is B(E_theta(x)), the code indices;
    ``codes_to_latents`` the dense code vectors e; ``decode_latents`` is D_psi on e
    (differentiable: what the refinement, Eqs. 5.5-5.6, optimises)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction, VQ loss)."""
        z_q, _, commitment = self.quantizer(self.encoder(x))
        return self.decoder(z_q), commitment.sum()

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code indices (int64): ``[n, 7, 7]`` of MNIST images, ``[n, L / hop]`` of waveforms."""
        training = self.quantizer.training  # the EMA codebook only moves in training steps
        self.quantizer.eval()
        try:
            _, indices, _ = self.quantizer(self.encoder(x))
        finally:
            self.quantizer.train(training)
        return indices

    def codes_to_latents(self, codes: torch.Tensor) -> torch.Tensor:
        """Dense code vectors e ``[n, dim, ...]`` (channels first) of code indices ``[n, ...]``."""
        return self.quantizer.get_output_from_indices(codes)

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(latents)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        return self.decode_latents(self.codes_to_latents(codes))


class VQVAE(CodedAutoencoder):
    def __init__(self, config: VQVAEConfig):
        super().__init__()
        self.config = config
        dim, channels = config.dim, config.channels
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, dim, 4, 2, 1),
            nn.BatchNorm2d(dim),
            nn.LeakyReLU(),
            nn.Conv2d(dim, dim, 4, 2, 1),
            ResBlock(dim),
            ResBlock(dim),
        )
        self.quantizer = codebook(dim, config, accept_image_fmap=True)
        self.decoder = nn.Sequential(
            ResBlock(dim),
            ResBlock(dim),
            nn.LeakyReLU(),
            nn.ConvTranspose2d(dim, dim, 4, 2, 1),
            nn.BatchNorm2d(dim),
            nn.LeakyReLU(),
            nn.ConvTranspose2d(dim, channels, 4, 2, 1),
            nn.Sigmoid(),
        )
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)


@dataclass(frozen=True)
class AudioVQVAEConfig:
    codes: int  # K
    dim: int  # channels of the encoder / decoder and of each code vector
    strides: tuple[int, ...]  # downsampling factors (even); one code per prod(strides) samples
    beta: float
    decay: float
    dead_code: float

    @property
    def hop(self) -> int:
        return int(torch.tensor(self.strides).prod())


class ResBlock1d(nn.Module):
    """Dilated residual block of the waveform encoder / decoder."""

    def __init__(self, dim: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.LeakyReLU(),
            nn.Conv1d(dim, dim, 3, 1, dilation, dilation=dilation),
            nn.LeakyReLU(),
            nn.Conv1d(dim, dim, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class AudioVQVAE(CodedAutoencoder):
    """The VQ-VAE of LASS on music, a small stand-in of Jukebox's bottom level (thesis 5.4.2)
    with the same shape: strided 1-D convolutions with dilated residual blocks down to one code
    per ``hop`` samples, the codebook of the image VQ-VAE (vector-quantize-pytorch, EMA updates,
    k-means initialisation, dead-code restarts) and the mirror decoder to the waveform. The
    interface is the image VQ-VAE's: ``encode`` gives codes ``[n, S]`` of waveforms
    ``[n, 1, S * hop]``, ``decode_latents`` maps dense code vectors back."""

    def __init__(self, config: AudioVQVAEConfig):
        super().__init__()
        self.config = config
        dim = config.dim
        if any(s < 2 or s % 2 for s in config.strides):
            raise ValueError(f"strides must be even, got {config.strides}")
        # channels double at each downsampling, up to dim: the full-rate layers stay narrow
        widths = [max(dim // 2 ** (len(config.strides) - i), 8) for i in range(len(config.strides))] + [dim]
        down = [nn.Conv1d(1, widths[0], 7, 1, 3)]
        for s, c_in, c_out in zip(config.strides, widths, widths[1:]):
            down += [ResBlock1d(c_in, 1), nn.Conv1d(c_in, c_out, 2 * s, s, s // 2), ResBlock1d(c_out, 3)]
        self.encoder = nn.Sequential(*down, nn.Conv1d(dim, dim, 3, 1, 1))
        self.quantizer = codebook(dim, config, channel_last=False)
        up = [nn.Conv1d(dim, dim, 3, 1, 1)]
        for s, c_in, c_out in zip(reversed(config.strides), widths[::-1], widths[::-1][1:]):
            up += [
                ResBlock1d(c_in, 3),
                nn.ConvTranspose1d(c_in, c_out, 2 * s, s, s // 2),
                ResBlock1d(c_out, 1),
            ]
        self.decoder = nn.Sequential(*up, nn.LeakyReLU(), nn.Conv1d(widths[0], 1, 7, 1, 3))


def make_prior(config: PriorConfig):
    """A GPT-2 language model over K codes plus the beginning-of-sequence token K."""
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(
        GPT2Config(
            vocab_size=config.codes + 1,
            n_positions=config.length + 1,
            n_embd=config.n_embd,
            n_layer=config.n_layer,
            n_head=config.n_head,
            bos_token_id=config.codes,
            eos_token_id=config.codes,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
        )
    )


def with_bos(codes: torch.Tensor, bos: int) -> torch.Tensor:
    """``[n, S]`` code sequences -> ``[n, S + 1]`` with the beginning-of-sequence token first."""
    return torch.cat([torch.full((codes.shape[0], 1), bos, dtype=codes.dtype, device=codes.device), codes], 1)


def save_model(path: str, kind: str, model: nn.Module, config) -> None:
    save_state(path, kind, {"config": asdict(config), "state_dict": model.state_dict()})


def load_vqvae(path: str, device: str = "cpu") -> VQVAE:
    return build_model(path, "vqvae", "VQ-VAE model", lambda c: VQVAE(VQVAEConfig(**c))).to(device).eval()


def load_audio_vqvae(path: str, device: str = "cpu") -> AudioVQVAE:
    def make(c):
        return AudioVQVAE(AudioVQVAEConfig(**dict(c, strides=tuple(c["strides"]))))

    return build_model(path, "audio_vqvae", "audio VQ-VAE model", make).to(device).eval()


def load_prior(path: str, device: str = "cpu"):
    return build_model(path, "prior", "prior model", lambda c: make_prior(PriorConfig(**c))).to(device).eval()
