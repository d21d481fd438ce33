"""Running CompoNet: load the base and the adapter, and perform any task of Figure 6.6 with one
call, the input sub-mix m_Y (silence for unconditional generation) and the prompt of eq. 6.20
naming Y and X; the output is the sub-mix m_X."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from harness.componet.base import PromptBank, Schedule, ddim_sample, make_unet
from harness.componet.controlnet import CompoNet, CompoNetAdapter
from harness.componet.tasks import prompt
from harness.componet.train import load_codec
from harness.core.errors import HarnessError
from harness.train.files import load_state


def load_base(
    base: dict, sample_steps: int | None = None
) -> tuple[nn.Module, nn.Module, PromptBank, Schedule]:
    """(U-Net, codec, prompts, schedule) of a ``componet-base`` file: the embedded base trained
    by the DAG, or the AudioLDM2 pipeline it names (thesis scale)."""
    config = base["config"]
    prompts = PromptBank.from_state(base["prompts"])
    schedule = Schedule(**{**config["schedule"], **({"sample_steps": sample_steps} if sample_steps else {})})
    if "pipeline" in config:
        from harness.componet.audioldm2 import load_pipeline, unet_config

        pipe = load_pipeline(config["pipeline"])
        if unet_config(pipe, config["pipeline"]) != config["unet"]:
            raise HarnessError(
                f"the AudioLDM2 U-Net in {config['pipeline']} is not the one the base file names"
            )
        return pipe.unet, load_codec(base["codec"], pipe), prompts, schedule
    unet = make_unet(config["unet"], config["latent_channels"], prompts.features)
    unet.load_state_dict(base["unet"])
    return unet, load_codec(base["codec"]), prompts, schedule


@dataclass
class Model:
    """A trained CompoNet: its codec, the controlled U-Net, prompts, schedule and tags."""

    codec: nn.Module  # LatentCodec or audioldm2.PipelineCodec
    net: CompoNet
    prompts: PromptBank
    schedule: Schedule
    stems: list[str]
    tags: dict[str, str]
    base: str  # what the base is, for the tables

    @classmethod
    def load(cls, base_path: str, adapter_path: str, sample_steps: int | None = None, device="cpu") -> Model:
        base = load_state(base_path, "componet-base", "CompoNet base model")
        adapter = load_state(adapter_path, "componet", "CompoNet adapter")
        if adapter.get("base_unet_config") != base["config"]["unet"]:
            raise HarnessError(f"{adapter_path} was not trained on the base model {base_path}")
        unet, codec, prompts, schedule = load_base(base, sample_steps)
        net = CompoNet(unet.eval(), CompoNetAdapter(unet))
        net.adapter.load_state_dict(adapter["adapter"])
        pipeline = base["config"].get("pipeline")
        what = (f"the AudioLDM2 pipeline in {pipeline}" if pipeline else
                "a small AudioLDM2-shaped base trained here (log-mel VAE, Griffin-Lim), not AudioLDM 2-Large")  # fmt: skip
        return cls(
            codec.to(device),
            net.to(device).eval(),
            prompts,
            schedule,
            adapter["stems"],
            adapter["tags"],
            what,
        )

    @torch.no_grad()
    def through_codec(self, audio: np.ndarray, batch: int = 8) -> np.ndarray:
        """[B, samples] audio encoded and decoded by the codec alone (no diffusion)."""
        out = []
        for i in range(0, len(audio), batch):
            part = torch.from_numpy(np.asarray(audio[i : i + batch], np.float32)).to(self.device)
            out.append(self.codec.decode(self.codec.encode(part)).cpu().numpy())
        return np.concatenate(out)

    @property
    def device(self) -> torch.device:
        return self.codec.scale.device

    @torch.no_grad()
    def perform(
        self,
        inputs: np.ndarray,
        y: tuple[str, ...],
        x: tuple[str, ...],
        guidance: float,
        generator: torch.Generator,
    ) -> np.ndarray:
        """[B, samples] input sub-mixes m_Y (of stems ``y``) -> [B, samples] generated m_X."""
        unknown = sorted((set(y) | set(x)) - set(self.stems))
        if unknown:
            raise HarnessError(f"the model knows the stems {self.stems}, not {unknown[0]!r}")
        w = self.codec.encode(torch.from_numpy(np.asarray(inputs, np.float32)).to(self.device))
        text = prompt(y, x, self.tags)
        cond = self.prompts.condition([text] * len(w), self.device)
        null = self.prompts.condition([""] * len(w), self.device)

        def eps_fn(z, t, conditional):
            return self.net(z, t, w, **(cond if conditional else null))

        z = ddim_sample(eps_fn, w.shape, self.schedule, guidance, generator, self.device)
        return self.codec.decode(z).cpu().numpy()
