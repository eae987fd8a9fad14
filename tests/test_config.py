"""The configuration object: profiles, environment variables, overrides and validation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from helpers.config import REPO_ROOT, Config, load_config, synthetic_archive_url
from helpers.errors import FlowersError

OFFICIAL_URL = "https://www.robots.ox.ac.uk/~vgg/data/flowers/17/17flowers.tgz"
OFFICIAL_MD5 = "b59a65d8d1a99cd66944d474e1289eab"


def test_full_profile_is_the_default_and_uses_the_official_archive(tmp_path: Path) -> None:
    """With no variables set, the real archive, its md5, 299 px and ImageNet weights."""
    cfg = load_config(env={}, data_dir=tmp_path / "data", build_dir=tmp_path / "build")
    assert cfg.profile == "full"
    assert cfg.archive_url == OFFICIAL_URL
    assert cfg.archive_md5 == OFFICIAL_MD5
    assert cfg.image_size == 299
    assert cfg.weights == "imagenet"
    assert cfg.split == "seeded" and cfg.seed == 42 and cfg.split_sizes == (40, 20, 20)
    assert cfg.splits_url.endswith("/17/datasplits.mat") and cfg.splits_md5
    assert cfg.synthetic is False
    assert cfg.steps_per_epoch is None


def test_default_folders_are_the_repository_data_and_build_folders() -> None:
    """Without FLOWERS_DATA_DIR/FLOWERS_BUILD_DIR, data lands in the repo's data/ and build/."""
    cfg = load_config(env={})
    repo = REPO_ROOT
    assert cfg.data_dir == repo / "data"
    assert cfg.build_dir == repo / "build"
    assert cfg.work_dir == repo / "data" / "full"


def test_smoke_profile_is_offline_small_and_synthetic(tmp_path: Path) -> None:
    """The smoke profile: 75 px, random weights, a file:// URL to the synthetic archive."""
    cfg = load_config(env={}, profile="smoke", data_dir=tmp_path)
    assert cfg.image_size == 75
    assert cfg.weights is None
    assert cfg.archive_url.startswith("file://")
    assert cfg.archive_url == (tmp_path.resolve() / "synthetic" / "17flowers.tgz").as_uri()
    assert cfg.archive_url == synthetic_archive_url(tmp_path)
    assert cfg.splits_url == (tmp_path.resolve() / "synthetic" / "datasplits.mat").as_uri()
    assert cfg.archive_md5 is None
    assert cfg.synthetic is True
    assert cfg.work_dir == tmp_path.resolve() / "smoke"
    assert cfg.transfer_epochs == 1 and cfg.finetune_epochs == 1


def test_profile_comes_from_flowers_profile(tmp_path: Path) -> None:
    """FLOWERS_PROFILE=smoke selects the smoke profile."""
    cfg = load_config(env={"FLOWERS_PROFILE": "smoke", "FLOWERS_DATA_DIR": str(tmp_path)})
    assert cfg.profile == "smoke" and cfg.synthetic


def test_environment_variables_are_read_from_the_given_mapping(tmp_path: Path) -> None:
    """FLOWERS17_URL, FLOWERS17_MD5, FLOWERS_SPLIT, FLOWERS_SEED, FLOWERS_DATA_DIR, FLOWERS_BUILD_DIR."""
    env = {
        "FLOWERS17_URL": "file:///somewhere/my_copy.tgz",
        "FLOWERS17_MD5": "  ABCDEF0123456789ABCDEF0123456789 ",
        "FLOWERS_SPLIT": "official2",
        "FLOWERS_SEED": "7",
        "FLOWERS_DATA_DIR": str(tmp_path / "d"),
        "FLOWERS_BUILD_DIR": str(tmp_path / "b"),
    }
    cfg = load_config(env=env)
    assert cfg.archive_url == "file:///somewhere/my_copy.tgz"
    assert cfg.archive_md5 == "abcdef0123456789abcdef0123456789"
    assert cfg.split == "official2"
    assert cfg.seed == 7
    assert cfg.data_dir == (tmp_path / "d").resolve()
    assert cfg.build_dir == (tmp_path / "b").resolve()
    assert cfg.synthetic is False


def test_a_custom_url_keeps_the_official_md5_unless_told_otherwise() -> None:
    """A learner's own copy of the official archive has the same bytes, so the md5 stays."""
    cfg = load_config(env={"FLOWERS17_URL": "file:///x/17flowers.tgz"})
    assert cfg.archive_md5 == OFFICIAL_MD5


def test_an_empty_md5_variable_turns_the_check_off() -> None:
    """FLOWERS17_MD5="" means: do not check the archive's md5."""
    assert load_config(env={"FLOWERS17_MD5": ""}).archive_md5 is None
    assert load_config(env={"FLOWERS17_MD5": "   "}).archive_md5 is None


def test_an_empty_md5_override_turns_the_check_off() -> None:
    """archive_md5="" as an override also means: do not check."""
    assert load_config(env={}, archive_md5="").archive_md5 is None


def test_a_smoke_profile_with_a_real_url_is_not_synthetic(tmp_path: Path) -> None:
    """Only the project's own file:// URL counts as synthetic."""
    cfg = load_config(env={"FLOWERS17_URL": "file:///x/17flowers.tgz"}, profile="smoke", data_dir=tmp_path)
    assert cfg.synthetic is False


def test_overrides_win_over_the_environment(tmp_path: Path) -> None:
    """Explicit keyword values (a lesson's parameters) beat environment variables."""
    env = {"FLOWERS_PROFILE": "full", "FLOWERS_SEED": "7", "FLOWERS_SPLIT": "official1",
           "FLOWERS17_URL": "file:///env.tgz", "FLOWERS17_MD5": "0" * 32,
           "FLOWERS_DATA_DIR": str(tmp_path / "env")}
    cfg = load_config(env=env, profile="smoke", seed=3, split="seeded", archive_url="file:///kw.tgz",
                      archive_md5="1" * 32, data_dir=tmp_path / "kw", image_size=96, batch_size=4,
                      split_sizes=[30, 10, 10])
    assert (cfg.profile, cfg.seed, cfg.split) == ("smoke", 3, "seeded")
    assert cfg.archive_url == "file:///kw.tgz" and cfg.archive_md5 == "1" * 32
    assert cfg.data_dir == (tmp_path / "kw").resolve()
    assert cfg.image_size == 96 and cfg.batch_size == 4
    assert cfg.split_sizes == (30, 10, 10)


def test_none_overrides_are_ignored(tmp_path: Path) -> None:
    """profile=None and friends mean 'whatever the environment says'."""
    env = {"FLOWERS_PROFILE": "smoke", "FLOWERS_SEED": "5", "FLOWERS_SPLIT": "official3",
           "FLOWERS_DATA_DIR": str(tmp_path)}
    cfg = load_config(env=env, profile=None, seed=None, split=None, data_dir=None, archive_md5=None,
                      image_size=None)
    assert (cfg.profile, cfg.seed, cfg.split) == ("smoke", 5, "official3")
    assert cfg.data_dir == tmp_path.resolve()
    assert cfg.image_size == 75


def test_empty_variables_fall_back_to_the_defaults() -> None:
    """FLOWERS_PROFILE="" etc. behave like unset variables."""
    cfg = load_config(env={"FLOWERS_PROFILE": "", "FLOWERS_SPLIT": "", "FLOWERS_SEED": "", "FLOWERS17_URL": ""})
    assert (cfg.profile, cfg.split, cfg.seed, cfg.archive_url) == ("full", "seeded", 42, OFFICIAL_URL)


@pytest.mark.parametrize("kwargs, words", [
    (dict(env={"FLOWERS_PROFILE": "fast"}), ["FLOWERS_PROFILE", "'fast'", "smoke"]),
    (dict(env={}, profile="tiny"), ["FLOWERS_PROFILE", "'tiny'", "full"]),
    (dict(env={"FLOWERS_SPLIT": "official4"}), ["FLOWERS_SPLIT", "'official4'", "seeded"]),
    (dict(env={}, split="random"), ["FLOWERS_SPLIT", "'random'", "official1"]),
    (dict(env={"FLOWERS_SEED": "forty-two"}), ["FLOWERS_SEED", "whole number", "forty-two"]),
    (dict(env={}, seed="1.5"), ["seed must be a whole number", "1.5"]),
    (dict(env={}, colour="red"), ["Unknown configuration field", "colour"]),
])
def test_bad_settings_raise_a_readable_flowers_error(kwargs: dict, words: list[str]) -> None:
    """Unknown profile/split/field or a non-numeric seed: a FlowersError naming the setting."""
    with pytest.raises(FlowersError) as info:
        load_config(**kwargs)
    message = str(info.value)
    for word in words:
        assert word in message
    assert info.value.__cause__ is None


def test_config_is_frozen_and_replace_returns_a_changed_copy(tmp_path: Path) -> None:
    """Fields cannot be assigned; replace() gives a new Config and leaves the old one alone."""
    cfg = load_config(env={}, profile="smoke", data_dir=tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]
    other = cfg.replace(seed=1, split="official1")
    assert isinstance(other, Config)
    assert (other.seed, other.split) == (1, "official1")
    assert (cfg.seed, cfg.split) == (42, "seeded")
    assert other.data_dir == cfg.data_dir and other.synthetic


def test_describe_lists_the_settings(tmp_path: Path) -> None:
    """describe() shows profile, archive, split and image size, one setting a line."""
    text = load_config(env={}, profile="smoke", data_dir=tmp_path, seed=9).describe()
    assert "profile" in text and "smoke" in text
    assert "seed 9" in text and "75 x 75" in text
    assert "synthetic archive" in text
    assert all(" : " in line for line in text.splitlines())


# --------------------------------------------------------------------------- datasplits.mat and paths


def test_splits_url_and_md5_come_from_the_environment(tmp_path: Path) -> None:
    """FLOWERS17_SPLITS_URL and FLOWERS17_SPLITS_MD5 point the course at a copy of datasplits.mat."""
    env = {"FLOWERS17_SPLITS_URL": "file:///copies/datasplits.mat",
           "FLOWERS17_SPLITS_MD5": " 0123456789ABCDEF0123456789ABCDEF"}
    cfg = load_config(env=env, profile="full", data_dir=tmp_path)
    assert cfg.splits_url == "file:///copies/datasplits.mat"
    assert cfg.splits_md5 == "0123456789abcdef0123456789abcdef"
    assert load_config(env={"FLOWERS17_SPLITS_MD5": ""}, profile="full").splits_md5 is None
    smoke = load_config(env=env, profile="smoke", data_dir=tmp_path)
    assert smoke.splits_url == "file:///copies/datasplits.mat"


def test_plain_paths_and_home_become_file_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = load_config(env={"FLOWERS17_URL": "~/flowers/17flowers.tgz",
                           "FLOWERS17_SPLITS_URL": str(tmp_path / "datasplits.mat")}, profile="full")
    assert cfg.archive_url == (tmp_path / "flowers" / "17flowers.tgz").resolve().as_uri()
    assert cfg.splits_url == (tmp_path / "datasplits.mat").resolve().as_uri()


@pytest.mark.parametrize("name", ["FLOWERS17_MD5", "FLOWERS17_SPLITS_MD5"])
def test_an_md5_that_is_not_32_hex_digits_is_refused(name: str) -> None:
    with pytest.raises(FlowersError, match=f"{name} must be 32 hexadecimal digits"):
        load_config(env={name: "not-a-md5"}, profile="full")


def test_probe_epochs_per_profile() -> None:
    assert load_config(env={}, profile="full").probe_epochs == 300
    assert load_config(env={}, profile="smoke").probe_epochs == 3


# --------------------------------------------------------------------------- training runs and repeatability


def test_run_1_trains_with_the_seed_itself_and_later_runs_with_other_seeds(tmp_path: Path) -> None:
    """FLOWERS_RUN changes the training seed, never the split's seed."""
    first = load_config(env={"FLOWERS_SEED": "7"}, data_dir=tmp_path)
    assert (first.run, first.training_seed) == (1, 7)
    seeds = {load_config(env={"FLOWERS_SEED": "7", "FLOWERS_RUN": str(r)}, data_dir=tmp_path).training_seed
             for r in range(1, 6)}
    assert len(seeds) == 5
    third = load_config(env={"FLOWERS_SEED": "7", "FLOWERS_RUN": "3"}, data_dir=tmp_path)
    assert third.seed == 7 and third.training_seed == 7 + 2 * 1_000_003
    top = load_config(env={"FLOWERS_SEED": str(2**32 - 1), "FLOWERS_RUN": "2"}, data_dir=tmp_path)
    assert 0 <= top.training_seed <= 2**32 - 1, "Keras' set_random_seed refuses seeds outside 0..2**32-1"
    assert "run 3, seed 2000013, repeatable" in third.describe()


@pytest.mark.parametrize(("value", "message"), [("0", "training runs count from 1"), ("-2", "from 1"),
                                                ("two", "whole number")])
def test_a_run_that_is_not_a_count_from_1_is_refused(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(FlowersError, match=message):
        load_config(env={"FLOWERS_RUN": value}, data_dir=tmp_path)


def test_training_is_repeatable_unless_flowers_deterministic_is_0(tmp_path: Path) -> None:
    assert load_config(env={}, data_dir=tmp_path).deterministic
    assert load_config(env={"FLOWERS_DETERMINISTIC": ""}, data_dir=tmp_path).deterministic
    for off in ("0", "off", " False "):
        cfg = load_config(env={"FLOWERS_DETERMINISTIC": off}, data_dir=tmp_path)
        assert not cfg.deterministic and "not repeatable" in cfg.describe()
    with pytest.raises(FlowersError, match="FLOWERS_DETERMINISTIC must be 1"):
        load_config(env={"FLOWERS_DETERMINISTIC": "maybe"}, data_dir=tmp_path)


# --------------------------------------------------------------------------- settings checked where they enter


@pytest.mark.parametrize(("name", "closest"), [("FLOWERS_BACKBONES", "FLOWERS_BACKBONE"),
                                               ("FLOWERS_SEEDS", "FLOWERS_SEED"),
                                               ("FLOWERS17_MD", "FLOWERS17_MD5"),
                                               ("FLOWERS_DATADIR", "FLOWERS_DATA_DIR")])
def test_a_misspelt_variable_is_named_with_the_closest_setting(tmp_path: Path, name: str, closest: str) -> None:
    """FLOWERS_BACKBONES=mobilenet_v2_035 was ignored, so the full profile trained InceptionV3."""
    with pytest.raises(FlowersError) as info:
        load_config(env={name: "mobilenet_v2_035"}, data_dir=tmp_path)
    assert str(info.value).startswith(f"{name} is not a setting of this course: did you mean {closest} (")
    with pytest.raises(FlowersError, match="the course's settings are FLOWERS_PROFILE, "):
        load_config(env={"FLOWERS_COLOUR": "red"}, data_dir=tmp_path)
    assert load_config(env={"FLOWERS_COURSE_SOURCE": "git+https://example.org/x", "OTHER_FLOWERS": "1"},
                       data_dir=tmp_path).profile == "full", "known and foreign variables pass"


def test_yes_no_variables_take_their_six_words_and_nothing_else(tmp_path: Path) -> None:
    """FLOWERS_MIXED_PRECISION=2 was silently off."""
    for text, on in (("1", True), ("on", True), ("TRUE", True), ("0", False), ("no", False), ("", False)):
        assert load_config(env={"FLOWERS_MIXED_PRECISION": text}, data_dir=tmp_path).mixed_precision is on
    for name in ("FLOWERS_MIXED_PRECISION", "FLOWERS_DETERMINISTIC"):
        with pytest.raises(FlowersError, match=rf"^{name} must be 1 \(on\) or 0 \(off\), not '2'\.$"):
            load_config(env={name: "2"}, data_dir=tmp_path)
    with pytest.raises(FlowersError, match="deterministic must be True or False, not 0"):
        load_config(env={}, data_dir=tmp_path, deterministic=0)


@pytest.mark.parametrize(("overrides", "words"), [
    (dict(seed=7.5), "seed must be a whole number from 0 to 4,294,967,295, not 7.5 (a float)."),
    (dict(seed=True), "seed must be a whole number from 0 to 4,294,967,295, not True (a bool)."),
    (dict(seed=-1), "seed must be a whole number from 0 to 4,294,967,295, not -1."),
    (dict(finetune_epochs=0), "finetune_epochs must be a whole number from 1 up, not 0."),
    (dict(transfer_epochs=2.0), "transfer_epochs must be a whole number from 1 up, not 2.0 (a float)."),
    (dict(probe_epochs="many"), "probe_epochs must be a whole number from 1 up, not 'many'."),
    (dict(run=0), "run must be a whole number from 1 up, not 0."),
    (dict(image_size=16, backbone="mobilenet_v2_035"), "image_size must be at least 32 for mobilenet_v2_035"),
])
def test_lesson_parameters_of_the_wrong_type_or_range_are_refused_by_name(tmp_path: Path, overrides: dict,
                                                                          words: str) -> None:
    """Papermill's seed=7.5 became 7 and True became 1; finetune_epochs=0 ended in KeyError: 'val_accuracy'."""
    with pytest.raises(FlowersError) as info:
        load_config(env={}, data_dir=tmp_path, **overrides)
    assert str(info.value) == words or str(info.value).startswith(words)
    config = load_config(env={}, data_dir=tmp_path, seed="7", finetune_epochs=3)
    assert config.seed == 7, "a string of digits is a number"


@pytest.mark.parametrize(("sizes", "words"), [
    ((40, -5, 20), "the split sizes (validation) must be a whole number from 1 up, not -5."),
    ((40, 0, 20), "the split sizes (validation) must be a whole number from 1 up, not 0."),
    ((60, 20, 20), "the split sizes (60, 20, 20) ask for 100 photos of each species, but Flowers17 has 80"),
    ((40, 20), "the split sizes must be three whole numbers"),
    ((40, 20.5, 19), "the split sizes (validation) must be a whole number from 1 up, not 20.5 (a float)."),
])
def test_split_sizes_that_cannot_work_say_the_sizes_are_the_problem(tmp_path: Path, sizes: tuple, words: str) -> None:
    """Negative or oversized sizes in lesson 01 stopped with a message that blamed the archive."""
    with pytest.raises(FlowersError) as info:
        load_config(env={}, data_dir=tmp_path, split_sizes=sizes)
    assert str(info.value).startswith(words) and "archive" not in str(info.value)


def test_flowers_split_sizes_sets_the_sizes_for_every_lesson_and_tool(tmp_path: Path) -> None:
    cfg = load_config(env={"FLOWERS_SPLIT_SIZES": "60, 10,10"}, data_dir=tmp_path)
    assert cfg.split_sizes == (60, 10, 10) and cfg.split_dir.name == "seeded-42-60-10-10"
    assert load_config(env={"FLOWERS_SPLIT_SIZES": "60,10,10"}, data_dir=tmp_path, split_sizes=(30, 20, 20)) \
        .split_sizes == (30, 20, 20), "a lesson's parameter wins"
    with pytest.raises(FlowersError, match=r"^FLOWERS_SPLIT_SIZES must be three whole numbers"):
        load_config(env={"FLOWERS_SPLIT_SIZES": "40/20/20"}, data_dir=tmp_path)


def test_each_split_has_its_own_folder(tmp_path: Path) -> None:
    """Seeds, sizes and official splits never share a split folder (a second tab cannot rewrite one)."""
    names = {load_config(env={}, data_dir=tmp_path, **kw).split_dir for kw in
             (dict(seed=42), dict(seed=7), dict(split_sizes=(30, 20, 20)), dict(split="official1"),
              dict(split="official2"))}
    assert len(names) == 5 and {p.parent for p in names} == {tmp_path.resolve() / "full" / "splits"}


def test_relative_folders_resolve_against_the_course_home_for_lessons_and_tools(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lessons run in notebooks/, the tools in the root: a relative FLOWERS_DATA_DIR must mean one folder."""
    seen = set()
    for where in (REPO_ROOT, REPO_ROOT / "notebooks"):
        monkeypatch.chdir(where)
        cfg = load_config(env={"FLOWERS_DATA_DIR": "my-data", "FLOWERS_BUILD_DIR": "my-build"})
        seen.add((cfg.data_dir, cfg.build_dir))
    assert seen == {(REPO_ROOT / "my-data", REPO_ROOT / "my-build")}
    assert not (REPO_ROOT / "my-data").exists(), "nothing is created by reading the settings"


def test_a_learning_rate_that_is_not_above_0_is_refused_at_setup() -> None:
    from helpers import environment

    for bad in (0, -1e-3, float("nan"), True, "1e-3"):
        with pytest.raises(FlowersError, match="learning_rate must be a number above 0"):
            environment.setup(profile="smoke", learning_rate=bad)
