"""Training CompoNet at the embedded scale, in three resumable runs on the shared loop: the VAE of
the log-mels, the base U-Net on captioned sub-mix latents, and the ControlNet adapter on (Y, X)
pairs with the base frozen (only psi trains, as in the thesis).

The VAE latents of every sub-mix of a pool of training crops are computed once (``pool``), so the
diffusion runs draw latents, not audio. Data-parallel under ``accelerate`` as the other diffusion
models: every process draws the same global batch from the same seeded generators and trains on
its own slice, so the checkpoints are identical and a resumed run continues exactly."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import combinations

import numpy as np
import torch

from harness.audio.arrays import random_crops
from harness.componet.base import PromptBank, Schedule, denoising_loss, make_unet, noised
from harness.componet.controlnet import CompoNet
from harness.componet.latent import LatentCodec, MelSettings, vae_loss
from harness.componet.tasks import draw_pair, prompt
from harness.core.logs import LOG, progress
from harness.train.checkpoint import seed_everything
from harness.train.files import save_state
from harness.train.loop import RunFiles, finish_run, train_steps

SILENCE = 1.5e-5  # MSDM's test: a stem is active when ||x|| / samples reaches it


def all_subsets(stems: list[str]) -> list[tuple[str, ...]]:
    """Every subset of the stems, the empty one first (the index of a sub-mix in a pool)."""
    return [c for k in range(len(stems) + 1) for c in combinations(stems, k)]


@dataclass(frozen=True)
class RunSettings:
    lr: float
    batch_size: int  # per process
    steps: int
    checkpoint_every: int
    log_every: int


def _accelerated(device: str):
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=device == "cpu")
    return accelerator, accelerator.process_index, accelerator.num_processes


def _run(module, params, loss_of, settings: RunSettings, seed: int, files: RunFiles, device: str,
         desc: str, tag: str, stop_after: int | None) -> tuple[list[dict], bool]:  # fmt: skip
    """The shared loop around ``loss_of(model, step_rng, n_global, my_slice, device)``."""
    accelerator, rank, world = _accelerated(device)
    rng = seed_everything(seed)
    module = module.to(accelerator.device)
    wrapped = accelerator.prepare_model(module) if world > 1 else module
    optimizer = torch.optim.AdamW(params, lr=settings.lr)
    total = settings.batch_size * world
    mine = slice(rank * settings.batch_size, (rank + 1) * settings.batch_size)

    def step_fn(step_rng):
        return loss_of(wrapped, step_rng, total, mine, accelerator.device)

    history, finished = train_steps(
        module, optimizer, step_fn, settings.steps, rng, files.checkpoint, f"{tag}|{world}",
        settings.log_every, stop_after=stop_after, desc=desc, checkpoint_every=settings.checkpoint_every,
    )  # fmt: skip
    accelerator.wait_for_everyone()
    return history, finished and accelerator.is_main_process


def _finish(files: RunFiles, kind: str, state: dict, trained, history: list[dict], what: str, **meta) -> None:
    """Save a finished run's model file, then its history and meta (parameters of ``trained``,
    ``meta``, the final loss), and drop the checkpoint."""
    save_state(files.model, kind, state)
    params = sum(p.numel() for p in trained.parameters())
    meta = {"parameters": params, **meta, "final_loss": history[-1]["train_loss"]}
    finish_run(history, files.history_csv, meta, files.meta_json, files.checkpoint, ["step", "train_loss"])
    LOG.info("%s: %d parameters %s", what, params, {k: v for k, v in meta.items() if k != "parameters"})


# ----------------------------------------------------------------------------- the VAE
def train_vae(
    tracks: list[np.ndarray], mel: MelSettings, vae_config: dict, kl_weight: float, settings: RunSettings,
    seed: int, files: RunFiles, device: str, stop_after: int | None = None,
) -> bool:  # fmt: skip
    """The VAE on log-mels of random sub-mixes of ``tracks`` (every dataset's training songs)."""
    seed_everything(seed)  # the initial weights too (torch seeds each process at random)
    codec = LatentCodec(mel, vae_config)
    crops = random_crops(tracks, 512, mel.samples, np.random.default_rng(seed))
    stats = codec.logmel.raw(torch.from_numpy(crops.sum(1)))
    codec.logmel.mean.fill_(stats.mean())
    codec.logmel.std.fill_(stats.std())

    def loss_of(vae, step_rng, n, mine, dev):
        batch = random_crops(tracks, n, mel.samples, step_rng)
        keep = step_rng.random(batch.shape[:2]) < 0.5
        keep[np.arange(n), step_rng.integers(batch.shape[1], size=n)] = True
        audio = torch.from_numpy((batch * keep[..., None]).sum(1))[mine]
        with torch.no_grad():
            images = codec.logmel(audio).to(dev)
        return vae_loss(vae, images, kl_weight)

    tag = repr((asdict(mel), vae_config, kl_weight, settings, seed))
    history, done = _run(codec.vae, codec.vae.parameters(), loss_of, settings, seed, files, device,
                            "componet vae", tag, stop_after)  # fmt: skip
    if not done:
        return False
    codec.eval()
    with torch.no_grad():
        latents = torch.cat(
            [codec.encode(torch.from_numpy(crops[i : i + 32].sum(1))) for i in range(0, 256, 32)]
        )
    codec.scale.fill_(1.0 / float(latents.std()))
    state = {"config": codec.config(), "state_dict": codec.state_dict()}
    _finish(files, "componet-vae", state, codec.vae, history, "componet vae", latent_scale=float(codec.scale))
    return True


def load_codec(state: dict, pipe=None):
    """The codec of a ``componet-vae`` file: the trained ``LatentCodec``, or the AudioLDM2
    pipeline's (``pipe`` if it is already loaded)."""
    config = state["config"]
    if "pipeline" in config:
        from harness.componet.audioldm2 import PipelineCodec, load_pipeline

        pipe = pipe if pipe is not None else load_pipeline(config["pipeline"])
        return PipelineCodec(pipe, MelSettings(**config["mel"]), config["pipeline"]).eval()
    codec = LatentCodec(MelSettings(**config["mel"]), config["vae"])
    codec.load_state_dict(state["state_dict"])
    return codec.eval()


def _imported(files: RunFiles, kind: str, state: dict, parts, what: str, **meta) -> None:
    """A pretrained part in place of a run: its model file, an empty history and the meta."""
    save_state(files.model, kind, state)
    params = sum(p.numel() for part in parts for p in part.parameters())
    meta = {"parameters": params, **meta, "trained_here": False}
    finish_run([], files.history_csv, meta, files.meta_json, files.checkpoint, ["step", "train_loss"])
    LOG.info("%s: %d parameters %s", what, params, {k: v for k, v in meta.items() if k != "parameters"})


def import_codec(pipeline: str, mel: MelSettings, files: RunFiles) -> None:
    """Thesis scale: the AudioLDM2 pipeline's VAE and vocoder as the codec (nothing trains)."""
    from harness.componet.audioldm2 import PipelineCodec, load_pipeline

    codec = PipelineCodec(load_pipeline(pipeline), mel, pipeline)
    _imported(files, "componet-vae", {"config": codec.config()}, [codec.vae, codec.vocoder],
              "componet codec (AudioLDM2 VAE + vocoder)", pipeline=pipeline)  # fmt: skip


# ----------------------------------------------------------------------------- latent pools
@torch.no_grad()
def pool(codec, tracks: list[np.ndarray], stems: list[str], n: int, seed: int, device="cpu") -> dict:
    """The latents of every sub-mix of ``n`` random training crops: {"latents": [n, 2^N, C, h, w]
    float16 (``all_subsets`` order), "active": [n, N] stems that sound in each crop}."""
    crops = random_crops(tracks, n, codec.mel_settings.samples, np.random.default_rng(seed))
    active = np.linalg.norm(crops, axis=-1) / crops.shape[-1] >= SILENCE
    subsets = all_subsets(stems)
    weights = torch.tensor([[s in sub for s in stems] for sub in subsets], dtype=torch.float32)
    out = []
    for i in progress(range(n), desc="latents"):
        mixes = weights @ torch.from_numpy(crops[i])  # [2^N, samples]
        out.append(codec.encode(mixes.to(device)).cpu().half())
    return {"latents": torch.stack(out), "active": torch.from_numpy(active), "stems": stems}


# ----------------------------------------------------------------------------- the base U-Net
@dataclass(frozen=True)
class BaseSettings(RunSettings):
    p_uncond: float  # share of examples trained with the empty prompt


def caption(stems, tags: dict[str, str]) -> str:
    """The base model's caption of a sub-mix: the tags of its stems."""
    return ", ".join(tags[s] for s in stems)


def train_base(
    pools: dict[str, dict], tags: dict[str, dict[str, str]], prompts: PromptBank, codec_state: dict, unet_config: dict,
    schedule: Schedule, settings: BaseSettings, seed: int, files: RunFiles, device: str, stop_after: int | None = None,
) -> bool:  # fmt: skip
    """eps_phi on every dataset's pool: a random non-empty sub-mix of active stems, captioned."""
    first = next(iter(pools.values()))["latents"]
    seed_everything(seed)  # the initial weights too
    unet = make_unet(unet_config, first.shape[2], prompts.features)
    scheduler = schedule.ddpm()
    names = sorted(pools)

    def loss_of(model, step_rng, n, mine, dev):
        z, texts = [], []
        for _ in range(n):
            p = pools[names[step_rng.integers(len(names))]]
            i = int(step_rng.integers(len(p["latents"])))
            stems = p["stems"]
            on = [s for s, a in zip(stems, p["active"][i].tolist()) if a] or stems
            chosen = tuple(s for s in stems if s in on and step_rng.random() < 0.5) or (
                on[step_rng.integers(len(on))],
            )
            z.append(p["latents"][i, all_subsets(stems).index(chosen)].float())
            texts.append("" if step_rng.random() < settings.p_uncond else caption(chosen, tags[p["name"]]))
        generator = torch.Generator().manual_seed(int(step_rng.integers(2**62)))
        zt, t, eps = noised(scheduler, torch.stack(z), generator)
        cond = prompts.condition(texts[mine], dev)
        return denoising_loss(
            model(zt[mine].to(dev), t[mine].to(dev), return_dict=False, **cond)[0], eps[mine].to(dev)
        )

    tag = repr((unet_config, schedule, settings, seed, sorted(prompts.texts)))
    history, done = _run(unet, unet.parameters(), loss_of, settings, seed, files, device, "componet base", tag,
                            stop_after)  # fmt: skip
    if not done:
        return False
    config = {
        "unet": unet_config,
        "schedule": asdict(schedule),
        "tags": tags,
        "latent_channels": first.shape[2],
    }
    state = {"config": config, "unet": unet.state_dict(), "codec": codec_state, "prompts": prompts.state()}
    _finish(files, "componet-base", state, unet, history, "componet base", steps=settings.steps)
    return True


def import_base(pipeline: str, codec_state: dict, tags: dict, texts: list[str], sample_steps: int,
                files: RunFiles) -> None:  # fmt: skip
    """Thesis scale: the AudioLDM2 pipeline's U-Net, schedule and prompt encoders as the base
    (nothing trains); every prompt the adapters can be given is encoded once into the file."""
    from harness.componet.audioldm2 import load_pipeline, pipeline_prompts, pipeline_schedule, unet_config

    pipe = load_pipeline(pipeline)
    schedule = pipeline_schedule(pipe, sample_steps)
    config = {
        "pipeline": pipeline,
        "unet": unet_config(pipe, pipeline),
        "schedule": asdict(schedule),
        "tags": tags,
        "latent_channels": pipe.unet.config.in_channels,
    }
    state = {"config": config, "codec": codec_state, "prompts": pipeline_prompts(pipe, texts).state()}
    _imported(files, "componet-base", state, [pipe.unet, pipe.text_encoder, pipe.text_encoder_2,
              pipe.projection_model, pipe.language_model], "componet base (AudioLDM2 U-Net + encoders)",
              pipeline=pipeline, prompts=len(state["prompts"]["texts"]))  # fmt: skip


# ----------------------------------------------------------------------------- the adapter
def train_adapter(
    base_unet, pool_: dict, tags: dict[str, str], prompts: PromptBank, schedule: Schedule, settings: BaseSettings,
    seed: int, files: RunFiles, device: str, extra: dict, stop_after: int | None = None,
) -> bool:  # fmt: skip
    """C_psi on one dataset's pool: z the latent of m_X, w that of m_Y, s eq. 6.20's prompt."""
    seed_everything(seed)  # the initial weights too
    model = CompoNet(base_unet)
    scheduler = schedule.ddpm()
    stems, subsets = pool_["stems"], all_subsets(pool_["stems"])

    def loss_of(net, step_rng, n, mine, dev):
        z, w, texts = [], [], []
        for _ in range(n):
            i = int(step_rng.integers(len(pool_["latents"])))
            on = [s for s, a in zip(stems, pool_["active"][i].tolist()) if a] or stems
            y, x = draw_pair(on, stems, step_rng)
            z.append(pool_["latents"][i, subsets.index(x)].float())
            w.append(pool_["latents"][i, subsets.index(y)].float())
            texts.append("" if step_rng.random() < settings.p_uncond else prompt(y, x, tags))
        generator = torch.Generator().manual_seed(int(step_rng.integers(2**62)))
        zt, t, eps = noised(scheduler, torch.stack(z), generator)
        cond = prompts.condition(texts[mine], dev)
        w = torch.stack(w)[mine].to(dev)
        return denoising_loss(net(zt[mine].to(dev), t[mine].to(dev), w, **cond), eps[mine].to(dev))

    tag = repr((schedule, settings, seed, stems, tags))
    history, done = _run(model, model.adapter.parameters(), loss_of, settings, seed, files, device,
                            "componet", tag, stop_after)  # fmt: skip
    if not done:
        return False
    state = {**extra, "adapter": model.adapter.state_dict()}
    _finish(files, "componet", state, model.adapter, history, "componet adapter", steps=settings.steps)
    return True
