"""Config validation: unknown keys and wrong types stop with one line naming the key."""

import pytest
import yaml

from harness.core.config import REPO_ROOT, load_config, validate_config
from harness.core.errors import HarnessError


def embedded():
    return yaml.safe_load((REPO_ROOT / "config.yaml").read_text())


def test_shipped_configs_validate():
    assert load_config(REPO_ROOT / "config.yaml")["scale"] == "embedded"
    thesis = load_config(REPO_ROOT / "config.yaml", REPO_ROOT / "config" / "thesis.yaml")
    assert thesis["scale"] == "thesis" and thesis["device"] == "cuda"
    # layered, not replaced: keys the thesis file does not set keep the embedded value
    assert thesis["odeen"]["histogram_bins"] == embedded()["odeen"]["histogram_bins"]
    assert thesis["odeen"]["train_structures"] == [100, 1000, 10000]
    assert thesis["odeen"]["interpreter"]["d_model"] == 128 and thesis["odeen"]["beams"] == 300


def test_lass_thesis_search_overlay_changes_only_the_search():
    """config/lass-thesis-search.yaml: the embedded models with the thesis's 512 candidates and
    10 counting passes, written beside the embedded results and models, not over them."""
    base = load_config(REPO_ROOT / "config.yaml")
    search = load_config(REPO_ROOT / "config.yaml", REPO_ROOT / "config" / "lass-thesis-search.yaml")
    for key in ("results_dir", "data_dir", "models_dir", "checkpoints_dir", "logs_dir"):
        assert search[key] != base[key] and search[key].startswith(base[key])  # e.g. models/...
    lass, embedded_lass = search["lass"], base["lass"]
    assert lass["mnist"]["likelihood"]["epochs"] == 10 and embedded_lass["mnist"]["likelihood"]["epochs"] == 2
    assert {k: v["candidates"] for k, v in lass["samplers"].items()} == {
        "greedy": 1, "beam": embedded_lass["samplers"]["beam"]["candidates"],
        "ancestral": 512, "top_k16": 512, "top_k32": 512, "top_k64": 512}  # fmt: skip
    for name, sampler in lass["samplers"].items():  # merged: label, kind and k kept
        assert {k: v for k, v in sampler.items() if k != "candidates"} == {
            k: v for k, v in embedded_lass["samplers"][name].items() if k != "candidates"
        }
    assert lass["mnist"]["vqvae"] == embedded_lass["mnist"]["vqvae"]  # the same models, retrained
    # the thesis's k = 32 in the test run, the rest of the embedded test setting kept
    assert lass["test"] == {**embedded_lass["test"], "sampler": "top_k32"}
    # and the original code's pull in the refinement (the embedded run's is validated apart)
    assert lass["refine"] == {**embedded_lass["refine"], "regularizer": 1.0e-3}
    assert embedded_lass["refine"]["regularizer"] != 1.0e-3
    assert lass["mnist"]["prior"] == embedded_lass["mnist"]["prior"] and search["seed"] == base["seed"]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["odeen"].update(foo=1), "config: unknown key 'foo' in odeen"),
        (lambda c: c.update(colour="red"), "config: unknown key 'colour' in <top level>"),
        (
            lambda c: c["odeen"].update(histogram_bins="20"),
            "config: odeen.histogram_bins: '20' is not of type 'integer'",
        ),
        (lambda c: c.update(scale="huge"), "config: scale: 'huge' is not one of"),
        (
            lambda c: c["odeen"]["interpreter"].update(layers=2),
            "config: unknown key 'layers' in odeen.interpreter",
        ),
        (lambda c: c["odeen"].update(main_regime="big"), "config: odeen.main_regime: 'big' does not match"),
        (
            lambda c: c["resources"]["default"].update(gpus=1),
            "config: unknown key 'gpus' in resources.default",
        ),
        (lambda c: c.pop("seed"), "'seed' is a required property"),
        # constraints between keys
        (lambda c: c["odeen"].update(test_exactly_two=c["odeen"]["n_test"] + 1), "exceeds odeen.n_test"),
        (lambda c: c["odeen"].update(main_regime="7x9"), "is not one of the train_rules x train_structures"),
        (lambda c: c["lass"]["test"].update(sampler="nucleus"), "lass.test.sampler 'nucleus' is not under"),
        (lambda c: c["lass"]["nmf"].update(components=10**6), "components exceeds"),
        (
            lambda c: c["msdm"]["separation"]["variants"]["dirac"].update(constrained="flute"),
            "is not one of msdm.stems",
        ),
        (lambda c: c["msdm"]["checkpoint"].update(isdm_flute="w.pt"), "isdm_flute names no stem"),
        (
            lambda c: c["msdm"]["separation"]["variants"]["gaussian"].pop("gamma_over_sigma"),
            "gamma_over_sigma",
        ),
    ],
)
def test_bad_config_one_line(mutate, message):
    config = embedded()
    mutate(config)
    with pytest.raises(HarnessError) as err:
        validate_config(config)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(HarnessError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("scale: [embedded\n")
    with pytest.raises(HarnessError, match="not valid YAML"):
        load_config(broken)


def test_rule_resources_merge_over_default():
    from harness.workflow.smk import resources

    config = {
        "resources": {"default": {"mem_mb": 100, "runtime": 5, "gpu": 0}, "train": {"mem_mb": 900, "gpu": 1}}
    }
    assert resources(config, "train") == {"mem_mb": 900, "runtime": 5, "gpu": 1}
    assert resources(config, "other") == {"mem_mb": 100, "runtime": 5}  # no GPU asked of SLURM
