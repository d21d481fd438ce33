"""The audio data layer on real files: fluidsynth rendering, the embedded datasets, the dataset
interface, and the thesis-scale downloaders against fixture archives served on 127.0.0.1."""

import hashlib
import io
import json
import tarfile
import zipfile

import numpy as np
import pytest
import soundfile as sf

from conftest import run
from harness.audio import chorales, polyphony, synthpop
from harness.audio.dataset import StemDataset
from harness.audio.embedded import write_dataset
from harness.audio.render import Note, Part, find_soundfont, render_tracks
from harness.core.errors import HarnessError

SR = 22050


def test_render_places_notes_in_time():
    sf2 = find_soundfont()
    note = Part(program=0, notes=[Note(60, 1.0, 1.5, 100)])
    out = render_tracks([note, None, note], [2.0, 1.0, 2.0], SR, sf2)
    assert [len(a) for a in out] == [2 * SR, SR, 2 * SR]
    first = out[0]
    assert np.abs(first[: SR - 100]).max() == 0  # silence before the note starts at 1 s
    assert np.abs(first[SR : SR + SR // 2]).max() > 0.01
    assert np.abs(out[1]).max() == 0  # a stem that sits the song out
    # the same notes later in the render: same sound, onset within fluidsynth's 64-sample block
    onset = [int(np.argmax(np.abs(a) > 1e-6)) for a in (out[0], out[2])]
    assert abs(onset[0] - onset[1]) < 64 and 0 <= onset[0] - SR < 160  # block + attack latency
    assert np.sqrt(np.mean(out[0] ** 2)) == pytest.approx(np.sqrt(np.mean(out[2] ** 2)), rel=0.02)
    again = render_tracks([note, None, note], [2.0, 1.0, 2.0], SR, sf2)
    assert all(np.array_equal(x, y) for x, y in zip(out, again))  # rendering is deterministic


def test_synthpop_songs_are_seeded_and_in_bounds():
    a = synthpop.make_songs(3, {"train": 3, "valid": 1, "test": 1}, bars=4)
    b = synthpop.make_songs(3, {"train": 3, "valid": 1, "test": 1}, bars=4)
    c = synthpop.make_songs(4, {"train": 3, "valid": 1, "test": 1}, bars=4)
    assert [s.parts["bass"].notes for s in a] == [s.parts["bass"].notes for s in b]
    assert [s.parts["bass"].notes for s in a] != [s.parts["bass"].notes for s in c]
    assert [s.split for s in a] == ["train"] * 3 + ["valid", "test"]
    for song in a:
        assert song.parts["drums"].is_drum and 32 <= song.parts["bass"].program <= 39
        for part in song.parts.values():
            assert all(0 <= n.start < n.end <= song.seconds + 1e-9 for n in part.notes)
            assert all(0 <= n.pitch < 128 for n in part.notes)


@pytest.fixture(scope="module")
def synth_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("audio") / "synthpop"
    write_dataset(
        root, "synthpop", synthpop.STEMS, synthpop.make_songs(1, {"train": 2, "valid": 1, "test": 1}, 2), SR
    )
    return root


def test_embedded_dataset_interface(synth_dataset):
    ds = StemDataset(synth_dataset)
    assert ds.stems == synthpop.STEMS and ds.sample_rate == SR
    assert len(ds.tracks("train")) == 2 and len(ds.tracks("test")) == 1
    track = ds.tracks("train")[0]
    stems = ds.load(track)
    n = round(ds.info(track)["seconds"] * SR)
    assert all(a.shape == (1, n) for a in stems.values())
    np.testing.assert_allclose(ds.mixture(track), sum(stems.values()))
    assert np.abs(ds.mixture(track)).max() == pytest.approx(0.9, abs=1e-3)  # the per-track gain
    assert sf.info(str(synth_dataset / ds.info(track)["stems"]["bass"])).subtype == "PCM_16"
    # chunks: whole windows, the active-source filter
    chunks = list(ds.chunks("train", 1.0, min_active=1, with_audio=True))
    assert chunks and all(c.end - c.start == SR and c.audio["bass"].shape == (1, SR) for c in chunks)
    two = list(ds.chunks("train", 1.0, min_active=2))
    assert {(c.track, c.start) for c in two} <= {(c.track, c.start) for c in chunks}
    assert all(len(c.active) >= 2 for c in two)
    # resampled on load for a 16 kHz model
    ds16 = StemDataset(synth_dataset, sample_rate=16000)
    assert ds16.load(track)["bass"].shape[-1] == pytest.approx(n * 16000 / SR, abs=1)
    with pytest.raises(HarnessError, match="unknown split"):
        ds.tracks("dev")


def test_chorales_have_four_voices():
    songs = chorales.make_songs(5, {"train": 1, "valid": 1, "test": 1}, max_seconds=6.0)
    assert len(songs) == 3 and len({s.meta["source"] for s in songs}) == 3
    for song in songs:
        assert set(song.parts) == set(chorales.STEMS) and song.seconds <= 6.0
        assert all(song.parts[v].notes for v in chorales.STEMS)
        assert [song.parts[v].program for v in chorales.STEMS] == chorales.ENSEMBLES[song.meta["ensemble"]]
        # soprano above bass on average: the voices are where SATB puts them
        mean = {v: np.mean([n.pitch for n in song.parts[v].notes]) for v in chorales.STEMS}
        assert mean["soprano"] > mean["alto"] > mean["tenor"] > mean["bass"]


def test_polyphony_is_seeded_palestrina_with_other_instruments():
    songs = polyphony.make_songs(2, {"train": 0, "valid": 0, "test": 4}, max_seconds=8.0)
    again = polyphony.make_songs(2, {"train": 0, "valid": 0, "test": 4}, max_seconds=8.0)
    assert [s.meta for s in songs] == [s.meta for s in again] and len({s.meta["source"] for s in songs}) == 4
    used = {p for programs in chorales.ENSEMBLES.values() for p in programs}
    for song in songs:
        assert song.split == "test" and "palestrina/" in song.meta["source"] and song.seconds <= 8.0
        assert 3 <= len(song.parts) <= 6 and set(song.parts) <= set(polyphony.STEMS)
        assert all(part.notes for part in song.parts.values())  # a voice without notes is absent
        assert not {part.program for part in song.parts.values()} & used  # never the chorales' instruments


def test_missing_manifest_is_one_line(tmp_path):
    with pytest.raises(HarnessError, match="no manifest.json"):
        StemDataset(tmp_path)


# ----------------------------------------------------------------------------- downloaders
def _wav_bytes(seconds=0.5, sr=SR, seed=0):
    buf = io.BytesIO()
    sf.write(
        buf,
        np.random.default_rng(seed).normal(size=int(seconds * sr)) * 0.1,
        sr,
        format="WAV",
        subtype="PCM_16",
    )
    return buf.getvalue()


def _tar(path, files: dict[str, bytes], mode="w:gz"):
    with tarfile.open(path, mode) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def _spec(base, **kw):
    return {"sample_rate": SR, "sha256": {}, **kw, "url": base + kw["url"]}


def _download(name, spec, tmp_path, check=True):
    out = tmp_path / "data" / "audio" / name
    cmd = ["harness", "audio", "download", "--dataset", name, "--spec", json.dumps(spec)]
    proc = run(cmd + ["--downloads", str(tmp_path / "dl"), "--out", str(out)], check=check)
    return proc, out


def test_slakh_archives_download_verify_and_index(http_root, tmp_path):
    root, base = http_root
    # MSDM's per-stem archives: <stem>_22050/<split>/<Track>.wav
    for i, stem in enumerate(("bass", "drums")):
        _tar(root / f"{stem}.tar.gz", {f"{stem}_22050/{split}/Track0000{k}.wav": _wav_bytes(seed=i)
                                        for split, k in (("train", 1), ("validation", 2), ("test", 3))})  # fmt: skip
    sha = {
        f"all/{s}": hashlib.sha256((root / f"{s}.tar.gz").read_bytes()).hexdigest() for s in ("bass", "drums")
    }
    spec = _spec(
        base, layout="slakh_msdm", url="/{shard}.tar.gz", shards={"all": ["bass", "drums"]}, sha256=sha
    )
    _, out = _download("slakh", spec, tmp_path)
    ds = StemDataset(out)
    assert ds.stems == ["bass", "drums", "guitar", "piano"]
    assert ds.tracks("train") == ["Track00001"] and ds.tracks("valid") == ["Track00002"]
    stems = ds.load("Track00003")
    assert np.abs(stems["drums"]).max() > 0 and np.abs(stems["piano"]).max() == 0  # absent stem: silence
    # a checksum mismatch: one line, the archive removed, the existing dataset untouched
    spec["sha256"]["all/bass"] = "0" * 64
    (tmp_path / "dl" / "slakh" / "all-bass.archive").unlink()
    proc, _ = _download("slakh", spec, tmp_path, check=False)
    assert proc.returncode == 2 and "checksum mismatch" in proc.stderr.strip().splitlines()[-1]
    assert StemDataset(out).tracks() == ds.tracks()


def test_truncated_archive_leaves_no_dataset(http_root, tmp_path):
    root, base = http_root
    _tar(
        root / "full.tar.gz",
        {f"train/T{k}/{s}.wav": _wav_bytes(2.0, seed=k) for k in range(3) for s in ("bass", "drums")},
    )
    (root / "cut.tar.gz").write_bytes((root / "full.tar.gz").read_bytes()[:-4000])
    spec = _spec(base, layout="slakh_msdm", url="/{shard}.tar.gz", shards={"all": ["cut"]})
    proc, out = _download("slakh", spec, tmp_path, check=False)
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and "corrupt or truncated archive" in last, proc.stderr
    assert not out.exists() and not list(out.parent.glob(".slakh.*"))  # nothing half-written
    (root / "junk.zip").write_bytes(b"PK\x03\x04 not really a zip")
    proc, out = _download(
        "slakh", dict(spec, shards={"all": ["junk"]}, url=base + "/{shard}.zip"), tmp_path, check=False
    )
    assert proc.returncode == 2 and "not a zip or tar archive" in proc.stderr and not out.exists()


def test_musdb_cocochorales_and_jamendo_layouts(http_root, tmp_path):
    root, base = http_root
    with zipfile.ZipFile(root / "musdb18hq.zip", "w") as zf:
        for split, name in (("train", "A - One"), ("train", "B - Two"), ("test", "C - Three")):
            for stem in ("bass", "drums", "other", "vocals", "mixture"):
                zf.writestr(f"{split}/{name}/{stem}.wav", _wav_bytes(sr=44100))
    spec = _spec(base, layout="musdb18hq", url="/{shard}.zip", shards={"all": ["musdb18hq"]}, sample_rate=44100,
                 valid_tracks=["B - Two"])  # fmt: skip
    ds = StemDataset(_download("musdb18hq", spec, tmp_path)[1])
    assert ds.stems == ["bass", "drums", "other", "vocals"]
    assert (ds.tracks("train"), ds.tracks("valid"), ds.tracks("test")) == (
        ["A - One"],
        ["B - Two"],
        ["C - Three"],
    )

    for split in ("train", "test"):
        _tar(root / f"coco-{split}-1.tar.bz2", {
            f"string_track00{k}/stems_audio/{p}_{inst}.wav": _wav_bytes(sr=16000, seed=p)
            for k in (1, 2) for p, inst in ((1, "violin"), (2, "violin"), (3, "viola"), (4, "cello"))
        }, mode="w:bz2")  # fmt: skip
    spec = _spec(base, layout="cocochorales", url="/coco-{split}-{shard}.tar.bz2",
                 shards={"train": [1], "test": [1]}, sample_rate=16000)  # fmt: skip
    ds = StemDataset(_download("cocochorales", spec, tmp_path)[1])
    assert ds.stems == ["soprano", "alto", "tenor", "bass"] and len(ds.tracks("test")) == 2
    assert ds.info(ds.tracks("train")[0])["instruments"]["bass"] == "cello"

    mp3 = io.BytesIO()
    sf.write(mp3, np.random.default_rng(0).normal(size=44100) * 0.1, 44100, format="MP3")
    for shard in ("00", "99"):
        _tar(root / f"jam-{shard}.tar", {f"{shard}/12{shard}.low.mp3": mp3.getvalue()}, mode="w")
    spec = _spec(
        base, layout="mtg_jamendo", url="/jam-{shard}.tar", shards={"all": ["00", "99"]}, sample_rate=44100
    )
    ds = StemDataset(_download("mtg_jamendo", spec, tmp_path)[1])
    assert ds.stems == ["mixture"] and ds.tracks("train") == ["1200"] and ds.tracks("valid") == ["1299"]
    assert ds.load("1299")["mixture"].shape[0] == 1


def test_licensed_dataset_reads_a_local_copy(tmp_path):
    spec = {"layout": "moisesdb", "sample_rate": SR, "licence": "a licence acceptance", "local_path": None,
            "split_fractions": {"valid": 0.5, "test": 0.0}}  # fmt: skip
    proc, out = _download("moisesdb", spec, tmp_path, check=False)
    assert (
        proc.returncode == 2 and "needs a licence acceptance" in proc.stderr and "local_path" in proc.stderr
    )
    local = tmp_path / "my_moisesdb"
    for track in ("uuid-a", "uuid-b", "uuid-c"):
        for stem, files in (("drums", ["kick", "snare"]), ("bass", ["bass"])):
            (local / track / stem).mkdir(parents=True, exist_ok=True)
            for i, f in enumerate(files):
                (local / track / stem / f"{f}.wav").write_bytes(_wav_bytes(seed=i))
    spec["local_path"] = str(local)
    _, out = _download("moisesdb", spec, tmp_path)
    ds = StemDataset(out)
    assert sorted(ds.tracks()) == ["uuid-a", "uuid-b", "uuid-c"]
    drums = ds.load("uuid-a")["drums"]
    kick, snare = (
        sf.read(local / "uuid-a" / "drums" / f"{f}.wav", dtype="float32")[0] for f in ("kick", "snare")
    )
    np.testing.assert_allclose(drums[0], kick + snare, atol=1e-6)  # several sources sum to the stem
    assert not (local / "manifest.json").exists()  # the user's copy is not written to


def test_fad_encoder_resumes_after_a_kill(synth_dataset, tmp_path):
    import torch

    from harness.audio.encoder import EncoderSettings, TrainedEncoder, train_encoder
    from harness.metrics.fad import fad_of_clips
    from harness.train.loop import RunFiles

    torch.set_num_threads(1)
    ds = StemDataset(synth_dataset)
    settings = EncoderSettings(steps=8, batch_size=4, lr=1e-3, checkpoint_every=3, embed_dim=4)

    def train(name, stop_after=None):
        paths = [str(tmp_path / f"{name}.{ext}") for ext in ("pt", "csv", "json", "ckpt")]
        train_encoder(ds, RunFiles(*paths), settings, seed=5, stop_after=stop_after)
        return paths

    whole = train("whole")
    killed = train("killed", stop_after=5)  # preempted after step 5; the checkpoint is from step 3
    assert not (tmp_path / "killed.pt").exists() and (tmp_path / "killed.ckpt").exists()
    train("killed")  # resumes from step 3
    assert not (tmp_path / "killed.ckpt").exists()
    a, b = (torch.load(p[0], weights_only=True)["state_dict"] for p in (whole, killed))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "whole.csv").read_text() == (tmp_path / "killed.csv").read_text()
    # the trained encoder embeds clips: every whole second is one embedding
    enc = TrainedEncoder(whole[0])
    clips = [ds.load(t)["bass"] for t in ds.tracks("train")]
    assert enc.embed(clips).shape == (sum(c.shape[-1] // SR for c in clips), 4)
    assert fad_of_clips(enc, clips, clips) == pytest.approx(0.0, abs=1e-6)
    # `harness audio fad` on two directories of WAV files gives the library's value
    dirs = {name: tmp_path / name for name in ("bass", "drums")}
    for name, folder in dirs.items():
        folder.mkdir()
        for t in ds.tracks():
            sf.write(folder / f"{t}.wav", ds.load(t)[name][0], SR, subtype="FLOAT")
    cmd = ["harness", "audio", "fad", str(dirs["bass"]), str(dirs["drums"]), "--encoder", whole[0]]
    out = json.loads(run(cmd).stdout)
    want = fad_of_clips(enc, *([ds.load(t)[n] for t in ds.tracks()] for n in ("bass", "drums")))
    assert out["fad"] == pytest.approx(want, rel=1e-4) and out["encoder"] == enc.name
