"""Running CompoNet: load the base and the adapter, and perform any task of Figure 6.6 with one
call, the input sub-mix m_Y (silence for unconditional generation) and the prompt of eq. 6.20
naming Y and X; the output is the sub-mix m_X."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from harness.componet.base import PromptBank, Schedule, ddim_sample, make_unet
from harness.componet.controlnet import CompoNet, CompoNetAdapter
from harness.componet.latent import LatentCodec
from harness.componet.tasks import prompt
from harness.componet.train import load_codec
from harness.core.errors import HarnessError
from harness.train.files import load_state


@dataclass
class Model:
    """A trained CompoNet: its codec, the controlled U-Net, prompts, schedule and tags."""

    codec: LatentCodec
    net: CompoNet
    prompts: PromptBank
    schedule: Schedule
    stems: list[str]
    tags: dict[str, str]

    @classmethod
    def load(cls, base_path: str, adapter_path: str, sample_steps: int | None = None) -> Model:
        base = load_state(base_path, "componet-base", "CompoNet base model")
        adapter = load_state(adapter_path, "componet", "CompoNet adapter")
        if adapter.get("base_unet_config") != base["config"]["unet"]:
            raise HarnessError(f"{adapter_path} was not trained on the base model {base_path}")
        prompts = PromptBank.from_state(base["prompts"])
        unet = make_unet(base["config"]["unet"], base["config"]["latent_channels"], prompts.features)
        unet.load_state_dict(base["unet"])
        net = CompoNet(unet.eval(), CompoNetAdapter(unet))
        net.adapter.load_state_dict(adapter["adapter"])
        schedule = Schedule(**base["config"]["schedule"])
        if sample_steps:
            schedule = Schedule(**{**base["config"]["schedule"], "sample_steps": sample_steps})
        return cls(
            load_codec(base["codec"]), net.eval(), prompts, schedule, adapter["stems"], adapter["tags"]
        )

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
        w = self.codec.encode(torch.from_numpy(np.asarray(inputs, np.float32)))
        text = prompt(y, x, self.tags)
        cond = self.prompts.condition([text] * len(w))
        null = self.prompts.condition([""] * len(w))

        def eps_fn(z, t, conditional):
            return self.net(z, t, w, **(cond if conditional else null))

        z = ddim_sample(eps_fn, w.shape, self.schedule, guidance, generator)
        return self.codec.decode(z).numpy()
