"""params.yaml declared as a whole: each stage's section here, each component's settings where the
component is (attacks: their modules' SETTINGS; defences: their classes' `settings`; training recipes:
diffdefense.training and diffdefense.gan_training), all in diffdefense.settings' terms. `validate` checks
the file against the declaration, then the rules that tie sections together, before any stage does work;
each error is one line naming the param. docs/settings.md is generated from the same declarations
(scripts/settings_docs.py)."""

from __future__ import annotations

from functools import partial

from .errors import UsageError
from .gan_training import GAN_RECIPE
from .precision import GRADIENT_PRECISIONS
from .settings import (COUNT, POSITIVE, POSITIVE_INT, SEED, Bool, Int, Late, Launcher, ListOf, MapOf, Name, Num, OneOf,
                       Setting, Settings, SettingsByName, SettingsOf)
from .training import CLASSIFIER_RECIPE, DDPM_RECIPE, attack_entry

TEST_SPLIT = 10_000  # images in the test split of each of data.DATASETS


def _datasets():
    from .data import DATASETS
    return DATASETS


def _classifiers():
    from .models import CLASSIFIERS
    return CLASSIFIERS


def _attacks():
    from .attacks import ATTACKS
    return ATTACKS


def _attack_settings():
    return {name: module.SETTINGS for name, module in _attacks().items()}


def _defences():
    from .defences import DEFENCES
    return DEFENCES


def _eot_pgd():
    from .adaptive import EOT_PGD
    return EOT_PGD


def _diffdefense():
    return _defences()["diffdefense"].settings


DATA = Settings(
    "the dataset and the test images every attack and defence is evaluated on",
    dataset=Setting(OneOf(_datasets), meaning="MNIST, FashionMNIST or KMNIST"),
    train_size=Setting(COUNT, meaning="training images used by all training stages; 0: the full split"),
    test_size=Setting(Int(1, TEST_SPLIT), meaning="random test subset every attack and defence is evaluated on"),
    seed=Setting(SEED, meaning="the subsets' draw"),
)

ATTACK_SET = Settings(
    "one evaluation set",
    attack=Setting(OneOf(_attacks), meaning="a registered attack, with settings in attack.settings"),
    crafted_on=Setting(OneOf(_classifiers), meaning="the classifier the attack is computed against"),
    evaluated_on=Setting(OneOf(_classifiers), meaning="the classifier whose accuracy is reported"),
    images=Setting(POSITIVE_INT, 0, "attack only the first N test images (left out: all)", optional=True),
)

ATTACK = Settings(
    "the attack stages",
    sets=Setting(MapOf(Name(), ATTACK_SET), meaning="name -> {attack, crafted_on, evaluated_on, images}"),
    batch_size=Setting(POSITIVE_INT, meaning="images attacked together"),
    seed=Setting(SEED, meaning="the attacks' randomness"),
    settings=Setting(SettingsByName(_attack_settings), meaning="attack name -> its settings (defaults for those "
                     "left out)"),
)


class DefenceSection:
    """`defend.<name>`: every setting the registered defence `name` declares (bar its optional ones), t_star
    bounded by train_ddpm.timesteps, none of what the stages pass themselves."""

    def __init__(self, name: str):
        self.name = name

    def check(self, name: str, value, **bounds) -> None:
        """Raise a one-line UsageError naming `name` unless `value` is allowed."""
        from .defences import check_defence_settings
        check_defence_settings(self.name, value, bounds.get("timesteps"))

    def settings(self) -> Settings:
        """The registered defence's declared settings."""
        from .defences import DEFENCES
        return DEFENCES[self.name].settings

    def describe(self) -> str:
        """The allowed values, in words (docs/settings.md)."""
        return f"settings of {self.name} (see its table)"


class DefendSection:
    """`defend`: the defences to run, the batch size, and one settings section per registered defence."""

    def settings(self) -> Settings:
        """The section's settings: the defences, the batch size, each registered defence's section."""
        per_defence = {defence: Setting(DefenceSection(defence), optional=True, meaning=f"the settings of {defence}")
                       for defence in _defences()}
        return Settings("the defences", defences=Setting(ListOf(OneOf(_defences)), meaning="defences run by `defend`"),
                        batch_size=Setting(POSITIVE_INT, meaning="images purified together (bounds peak memory)"),
                        **per_defence)

    def check(self, name: str, value, **bounds) -> None:
        """Raise a one-line UsageError naming `name` unless `value` is allowed."""
        self.settings().check(name, value, **bounds)

    def describe(self) -> str:
        """The allowed values, in words (docs/settings.md)."""
        return "mapping: defences, batch_size and defend.<defence> per defence (see the defences' tables)"


STATISTICS = Settings(
    "error bars",
    confidence=Setting(Num(0.5, 1, open_high=True), meaning="level of every interval"),
    bootstrap_resamples=Setting(Int(100), meaning="bootstrap resamples for AUC intervals"),
    seed=Setting(SEED, meaning="the bootstrap's draw"),
)

TABLE3 = Settings(
    "Table 3: defend.<defence> with L and R replaced, per row",
    set=Setting(Name(), meaning="the attack set"),
    images=Setting(POSITIVE_INT, meaning="first images of the set"),
    rows=Setting(MapOf(Name(), Settings("a row", defence=Setting(OneOf(_defences), meaning="defence"),
                                        L=Setting(POSITIVE_INT, meaning="iterations"),
                                        R=Setting(POSITIVE_INT, meaning="random starts"))),
                 meaning="row name -> {defence, L, R}"),
)

ABLATION = Settings(
    "Fig. 3: defend.diffdefense with one setting varied at a time",
    images=Setting(POSITIVE_INT, meaning="first test images of each set"),
    sets=Setting(ListOf(Name()), meaning="clean or sets evaluated on A"),
    t_star=Setting(ListOf(Int(1, "timesteps")), meaning="T* values (at most train_ddpm.timesteps)"),
    L=Setting(ListOf(POSITIVE_INT), meaning="L values"),
    R=Setting(ListOf(POSITIVE_INT), meaning="R values"),
    variants=Setting(MapOf(Name(), SettingsOf(_diffdefense)), meaning="name -> defend.diffdefense settings replaced"),
)

DETECTION = Settings(
    "the reconstruction-error detector, deployed",
    false_positive_rate=Setting(Num(0, 1, open_low=True, open_high=True), meaning="threshold's rate on clean images"),
    calibration_images=Setting(POSITIVE_INT, meaning="clean test images after adaptive.images that set it"),
    aware_rows=Setting(ListOf(OneOf(_defences), may_be_empty=True), meaning="rows also met by the detector-aware "
                       "attack"),
)

ADAPTIVE = Settings(
    "attacks that know the defence (the verdict)",
    images=Setting(Int(1, TEST_SPLIT), meaning="test images for the surrogate attacks and scoring"),
    through_images=Setting(POSITIVE_INT, meaning="the first of them also attacked through the defence"),
    defences=Setting(ListOf(OneOf(_defences)), meaning="rows: each defence in front of A"),
    robust_classifiers=Setting(ListOf(OneOf(_classifiers), may_be_empty=True), meaning="robustly trained "
                               "classifiers, rows on their own"),
    evaluation_draws=Setting(POSITIVE_INT, meaning="fresh draws of the defence each image is scored under"),
    fixed_seed=Setting(Bool(), meaning="also attack and score each randomised defence with its seed fixed"),
    surrogate=Setting(MapOf(Name(), Late(partial(attack_entry, {"classifiers": ListOf(OneOf(_classifiers)),
                                                                "precision": OneOf(GRADIENT_PRECISIONS)}))),
                      meaning="name -> {attack, classifiers, precision, ...settings}: attacks on each row's bare "
                              "classifier (precision: fp32, or bf16 for its forward passes)"),
    attack=Setting(SettingsOf(_eot_pgd, complete=True), meaning="BPDA+EOT PGD through the defence"),
    full_gradient=Setting(SettingsOf(_eot_pgd), meaning="`attack`'s settings replaced for the full gradient"),
    detection=Setting(DETECTION, meaning="the detector"),
)

PARAMS = Settings(
    "params.yaml",
    device=Setting(OneOf(("auto", "cpu", "cuda")), meaning="auto: CUDA when present; env DIFFDEFENSE_DEVICE overrides"),
    launcher=Setting(Launcher(), meaning="how attack and defend start: python, or torchrun with its options"),
    data=Setting(DATA, meaning="the dataset"),
    train_classifier=Setting(MapOf(OneOf(_classifiers), CLASSIFIER_RECIPE), meaning="classifier -> its recipe"),
    train_ddpm=Setting(DDPM_RECIPE, meaning="the DDPM"),
    train_gan=Setting(GAN_RECIPE, meaning="Defense-GAN's generator"),
    attack=Setting(ATTACK, meaning="the attack sets"),
    defend=Setting(DefendSection(), meaning="the defences"),
    statistics=Setting(STATISTICS, meaning="error bars"),
    table3=Setting(TABLE3, meaning="Table 3"),
    ablation=Setting(ABLATION, meaning="Fig. 3"),
    grids=Setting(Settings("Fig. 2", images=Setting(Int(1, 50), meaning="images per grid")), meaning="Fig. 2"),
    adaptive=Setting(ADAPTIVE, meaning="the verdict"),
)


def validate(params) -> dict:
    """`params` if it follows PARAMS and refers only to things that exist, else a UsageError naming the param."""
    ddpm = params.get("train_ddpm") if isinstance(params, dict) else None
    # train_ddpm is declared (so checked) before every section its length bounds (t_star)
    PARAMS.check("", params, timesteps=ddpm.get("timesteps") if isinstance(ddpm, dict) else None)
    if not ddpm["beta_start"] < ddpm["beta_end"]:
        raise UsageError(f"train_ddpm.beta_start={ddpm['beta_start']!r} must be below train_ddpm.beta_end="
                         f"{ddpm['beta_end']!r} (a linear schedule whose noise grows with the step)")
    settings = params["attack"]["settings"]
    for name, entry in params["attack"]["sets"].items():
        if entry["attack"] not in settings:
            raise UsageError(f"attack.sets.{name}.attack={entry['attack']!r} has no attack.settings.{entry['attack']}")
        if entry["crafted_on"] not in params["train_classifier"] or entry["evaluated_on"] not in params["train_classifier"]:
            raise UsageError(f"attack.sets.{name} names a classifier without a train_classifier section; "
                             f"have {sorted(params['train_classifier'])}")
    for where, names in (("defend.defences", params["defend"]["defences"]),
                         ("adaptive.defences", params["adaptive"]["defences"]),
                         ("table3.rows", [row["defence"] for row in params["table3"]["rows"].values()])):
        for name in names:
            if name not in params["defend"]:
                raise UsageError(f"{where} names {name!r}, which has no settings section defend.{name}")
    for name, recipe in params["train_classifier"].items():
        if isinstance(recipe, dict) and recipe.get("robust_check") and "eps" not in (recipe.get("adversarial") or {}):
            raise UsageError(f"train_classifier.{name}.robust_check={recipe['robust_check']} needs an adversarial "
                             "entry with an eps (the check runs PGD at the training eps); set it to 0 or add one")
    adaptive = params["adaptive"]
    if adaptive["through_images"] > adaptive["images"]:
        raise UsageError(f"adaptive.through_images={adaptive['through_images']} is out of range; expected an "
                         f"integer in [1, {adaptive['images']}] (adaptive.images)")
    if adaptive["images"] + adaptive["detection"]["calibration_images"] > TEST_SPLIT:
        raise UsageError(f"adaptive.detection.calibration_images={adaptive['detection']['calibration_images']} is out "
                         f"of range; expected an integer in [1, {TEST_SPLIT - adaptive['images']}] (the test images "
                         "that adaptive.images leaves)")
    for name in adaptive["detection"]["aware_rows"]:
        if name not in adaptive["defences"]:
            raise UsageError(f"adaptive.detection.aware_rows names {name!r}, which is not in adaptive.defences "
                             f"{adaptive['defences']}")
    attacked = ["A"] + adaptive["robust_classifiers"]  # the classifiers the surrogates can run on
    for name, surrogate in adaptive["surrogate"].items():
        if "classifiers" in surrogate:
            ListOf(OneOf(tuple(attacked))).check(f"adaptive.surrogate.{name}.classifiers", surrogate["classifiers"])
    on_a = ["clean"] + [n for n, entry in params["attack"]["sets"].items() if entry["evaluated_on"] == "A"]
    for name in params["ablation"]["sets"]:
        if name not in on_a:
            raise UsageError(f"ablation.sets names {name!r}, which is not a set evaluated on A; choose from {on_a}")
    return params
