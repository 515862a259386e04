"""params.yaml checked as a whole before any stage does work: every section has exactly its keys, of the
right type and range, and names that become paths are safe. Each error is one line naming the param.

Attack settings (attack.settings.<attack>) are checked by the attack's builder, which knows its keywords
and ranges, when the attack runs. Defence settings (defend.<defence>) are checked here, by the defence's
own constructor run on stand-ins for its networks (defences.check_settings), so a bad one is not
found only after the networks it needs have been trained."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import UsageError, check_name


def _join(name: str, key) -> str:
    return f"{name}.{key}" if name else str(key)


@dataclass(frozen=True)
class Int:
    """An integer in [low, high] (no upper bound if high is None)."""

    low: int = 0
    high: int | None = None

    def check(self, name: str, value) -> None:
        """Raise UsageError naming `name` unless `value` fits."""
        if isinstance(value, bool) or not isinstance(value, int) or value < self.low or (
                self.high is not None and value > self.high):
            allowed = f"an integer in [{self.low}, {self.high}]" if self.high is not None else f"an integer >= {self.low}"
            raise UsageError(f"{name}={value!r} is out of range; expected {allowed}")


@dataclass(frozen=True)
class Num:
    """A number between low and high, each bound closed unless marked open."""

    low: float = 0.0
    high: float | None = None
    open_low: bool = False  # the lower bound itself is not allowed
    open_high: bool = False

    def check(self, name: str, value) -> None:
        """Raise UsageError naming `name` unless `value` fits."""
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = ok and (value > self.low if self.open_low else value >= self.low)
        if self.high is not None:
            ok = ok and (value < self.high if self.open_high else value <= self.high)
        if not ok:
            left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
            allowed = (f"a number in {left}{self.low:g}, {self.high:g}{right}" if self.high is not None
                       else f"a number {'>' if self.open_low else '>='} {self.low:g}")
            raise UsageError(f"{name}={value!r} is out of range; expected {allowed}")


@dataclass(frozen=True)
class OneOf:
    """One of a registry's names."""

    options: Callable[[], list]  # called late: registries are filled on import

    def check(self, name: str, value) -> None:
        """Raise UsageError naming `name` unless `value` fits."""
        allowed = list(self.options())
        if value not in allowed:
            raise UsageError(f"{name}={value!r} is not allowed; choose one of {allowed}")


@dataclass(frozen=True)
class Name:
    """A name that becomes part of a file path."""

    def check(self, name: str, value) -> None:
        """Raise UsageError naming `name` unless `value` fits."""
        check_name(name, value)


@dataclass(frozen=True)
class Launcher:
    """How stages that can share their work start their processes: python, or torchrun with its options."""

    def check(self, name: str, value) -> None:
        """Raise UsageError naming `name` unless `value` fits."""
        if not isinstance(value, str) or value.split()[:1] not in (["python"], ["torchrun"]):
            raise UsageError(f"{name}={value!r} is not allowed; use 'python' or 'torchrun <options>', for example "
                             "'torchrun --standalone --nproc-per-node 4'")


@dataclass(frozen=True)
class Bool:
    """true or false."""

    def check(self, name: str, value) -> None:
        """Raise UsageError naming `name` unless `value` is a boolean."""
        if not isinstance(value, bool):
            raise UsageError(f"{name}={value!r} must be true or false")


@dataclass(frozen=True)
class ListOf:
    """A list (non-empty unless `may_be_empty`) whose items follow `item`."""

    item: Any
    length: int | None = None  # exact length, if fixed
    may_be_empty: bool = False

    def check(self, name: str, value) -> None:
        """Raise UsageError naming `name` unless `value` fits."""
        if not isinstance(value, list) or (not value and not self.may_be_empty) or (
                self.length is not None and len(value) != self.length):
            size = (f"{self.length} items" if self.length is not None
                    else "items" if self.may_be_empty else "at least one item")
            raise UsageError(f"{name}={value!r} must be a list of {size}")
        for item in value:
            self.item.check(name, item)


@dataclass(frozen=True)
class Section:
    """A mapping with exactly the keys of `fields` (plus any of `optional`)."""

    fields: dict
    optional: dict = field(default_factory=dict)

    def check(self, name: str, value) -> None:
        """Raise UsageError naming `name` unless `value` fits."""
        if not isinstance(value, dict):
            raise UsageError(f"{name or 'params.yaml'} must be a mapping with the keys {sorted(self.fields)}, "
                             f"got {value!r}")
        missing = sorted(set(self.fields) - set(value))
        unknown = sorted(set(value) - set(self.fields) - set(self.optional))
        if missing:
            raise UsageError(f"{name or 'params.yaml'} is missing the key(s) {missing}")
        if unknown:
            raise UsageError(f"{name or 'params.yaml'} has unknown key(s) {unknown}; "
                             f"allowed: {sorted(self.fields | self.optional)}")
        for key, spec in (self.fields | self.optional).items():
            if key in value:
                spec.check(_join(name, key), value[key])


@dataclass(frozen=True)
class MapOf:
    """A mapping from keys checked by `key` to values checked by `value`."""

    key: Any
    value: Any

    def check(self, name: str, value) -> None:
        """Raise UsageError naming `name` unless `value` fits."""
        if not isinstance(value, dict) or not value:
            raise UsageError(f"{name} must be a non-empty mapping, got {value!r}")
        for key, item in value.items():
            self.key.check(f"{name} key", key)
            self.value.check(f"{name}.{key}", item)


@dataclass(frozen=True)
class Settings:
    """A mapping of keyword settings checked by the builder it is passed to, except its seed, if any:
    checked here like every seed, since not every builder checks it (attack.settings.autoattack)."""

    def check(self, name: str, value) -> None:
        """Raise UsageError naming `name` unless `value` fits."""
        if not isinstance(value, dict):
            raise UsageError(f"{name} must be a mapping, got {value!r}")
        if "seed" in value:
            SEED.check(f"{name}.seed", value["seed"])


def _datasets():
    from .data import DATASETS
    return DATASETS


def _classifiers():
    from .models import CLASSIFIERS
    return CLASSIFIERS


def _attacks():
    from .attacks import ATTACKS
    return ATTACKS


def _defences():
    from .defences import DEFENCES
    return DEFENCES


@dataclass(frozen=True)
class DefendSection:
    """`defend`: the defences to run, the batch size, and one settings mapping per registered defence
    (checked by validate, which knows the schedule that bounds their t_star)."""

    def check(self, name: str, value) -> None:
        """Raise UsageError naming `name` unless `value` fits."""
        Section({"defences": ListOf(OneOf(_defences)), "batch_size": POSITIVE_INT},
                {defence: Settings() for defence in _defences()}).check(name, value)


def _gan_architectures():
    from .models.gan import ARCHITECTURES
    return list(ARCHITECTURES)


def _gan_losses():
    from .gan_training import LOSSES
    return LOSSES


SEED = Int(0, 2**32 - 1)  # numpy's seed range: stages seed numpy with their seeds (seeding.seed_everything)
POSITIVE_INT, COUNT = Int(1), Int(0)
POSITIVE = Num(0, open_low=True)
CLASSIFIER_TRAINING = Section(
    {"epochs": POSITIVE_INT, "lr": POSITIVE, "momentum": Num(0, 1, open_high=True), "batch_size": POSITIVE_INT,
     "seed": SEED},
    {"adversarial": Settings(), "schedule": OneOf(lambda: ["constant", "onecycle"])})
SCHEMA = Section({
    "device": OneOf(lambda: ["auto", "cpu", "cuda"]),
    "launcher": Launcher(),
    "data": Section({"dataset": OneOf(_datasets), "train_size": COUNT,
                      "test_size": Int(1, 10_000),  # 10,000: the test split of each of data.DATASETS
                      "seed": SEED}),
    "train_classifier": MapOf(OneOf(_classifiers), CLASSIFIER_TRAINING),
    "train_ddpm": Section({"timesteps": Int(1, 1000), "beta_start": Num(0, 1, True, True),
                           "beta_end": Num(0, 1, True, True), "epochs": POSITIVE_INT, "lr": POSITIVE,
                           "batch_size": POSITIVE_INT, "seed": SEED}),
    "train_gan": Section({"architecture": OneOf(_gan_architectures), "loss": OneOf(_gan_losses), "epochs": POSITIVE_INT, "lr": POSITIVE,
                          "betas": ListOf(Num(0, 1, open_high=True), 2), "batch_size": POSITIVE_INT,
                          "latent_dim": POSITIVE_INT, "width": POSITIVE_INT, "critic_steps": POSITIVE_INT,
                          "gp_weight": Num(0), "seed": SEED}),
    "attack": Section({
        "sets": MapOf(Name(), Section({"attack": OneOf(_attacks), "crafted_on": OneOf(_classifiers),
                                       "evaluated_on": OneOf(_classifiers)}, {"images": POSITIVE_INT})),
        "batch_size": POSITIVE_INT, "seed": SEED,
        "settings": MapOf(OneOf(_attacks), Settings())}),
    "defend": DefendSection(),
    "statistics": Section({"confidence": Num(0.5, 1, open_high=True), "bootstrap_resamples": Int(100), "seed": SEED}),
    "table3": Section({"set": Name(), "images": POSITIVE_INT,
                       "rows": MapOf(Name(), Section({"defence": OneOf(_defences), "L": POSITIVE_INT,
                                                     "R": POSITIVE_INT}))}),
    "ablation": Section({"images": POSITIVE_INT, "sets": ListOf(Name()), "t_star": ListOf(POSITIVE_INT),
                         "L": ListOf(POSITIVE_INT), "R": ListOf(POSITIVE_INT),
                         "variants": MapOf(Name(), Settings())}),
    "grids": Section({"images": Int(1, 50)}),
    "adaptive": Section({"images": Int(1, 10_000), "through_images": POSITIVE_INT,
                         "defences": ListOf(OneOf(_defences)),
                         "robust_classifiers": ListOf(OneOf(_classifiers), may_be_empty=True), "evaluation_draws": POSITIVE_INT,
                         "fixed_seed": Bool(),
                         "surrogate": MapOf(Name(), Settings()),
                         "attack": Section({"eps": Num(0, 1, True), "step": POSITIVE, "steps": POSITIVE_INT,
                                            "eot_samples": POSITIVE_INT, "restarts": POSITIVE_INT, "seed": SEED,
                                            "batch_size": POSITIVE_INT}, {"final_step": POSITIVE}),
                         "full_gradient": Section({}, {"step": POSITIVE, "final_step": POSITIVE, "steps": POSITIVE_INT,
                                                       "eot_samples": POSITIVE_INT, "batch_size": POSITIVE_INT}),
                         "detection": Section({"false_positive_rate": Num(0, 1, open_low=True, open_high=True),
                                               "calibration_images": POSITIVE_INT,
                                               "aware_rows": ListOf(OneOf(_defences), may_be_empty=True)})}),
})


def validate(params) -> dict:
    """`params` if it follows SCHEMA and refers only to things that exist, else a UsageError naming the param."""
    SCHEMA.check("", params)
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
    from .defences import check_settings  # late, like the registries, so importing this module needs no torch
    for name, settings in params["defend"].items():
        if name in _defences():
            check_settings(name, settings, params["train_ddpm"]["timesteps"])
    adaptive = params["adaptive"]
    if adaptive["through_images"] > adaptive["images"]:
        raise UsageError(f"adaptive.through_images={adaptive['through_images']} is out of range; expected an "
                         f"integer in [1, {adaptive['images']}] (adaptive.images)")
    if adaptive["images"] + adaptive["detection"]["calibration_images"] > 10_000:
        raise UsageError(f"adaptive.detection.calibration_images={adaptive['detection']['calibration_images']} is out "
                         f"of range; expected an integer in [1, {10_000 - adaptive['images']}] (the test images that "
                         "adaptive.images leaves)")
    for name in adaptive["detection"]["aware_rows"]:
        if name not in adaptive["defences"]:
            raise UsageError(f"adaptive.detection.aware_rows names {name!r}, which is not in adaptive.defences "
                             f"{adaptive['defences']}")
    attacked = ["A"] + adaptive["robust_classifiers"]  # the classifiers the surrogates can run on
    for name, surrogate in adaptive["surrogate"].items():
        if surrogate.get("attack") not in _attacks():
            raise UsageError(f"adaptive.surrogate.{name}.attack={surrogate.get('attack')!r} is not allowed; "
                             f"choose one of {list(_attacks())}")
        if "classifiers" in surrogate:
            ListOf(OneOf(lambda: attacked)).check(f"adaptive.surrogate.{name}.classifiers", surrogate["classifiers"])
    ddpm = params["train_ddpm"]
    if not ddpm["beta_start"] < ddpm["beta_end"]:
        raise UsageError(f"train_ddpm.beta_start={ddpm['beta_start']!r} must be below train_ddpm.beta_end="
                         f"{ddpm['beta_end']!r} (a linear schedule whose noise grows with the step)")
    on_a = ["clean"] + [n for n, entry in params["attack"]["sets"].items() if entry["evaluated_on"] == "A"]
    for name in params["ablation"]["sets"]:
        if name not in on_a:
            raise UsageError(f"ablation.sets names {name!r}, which is not a set evaluated on A; choose from {on_a}")
    for name, cfg in params["train_classifier"].items():
        adversarial = cfg.get("adversarial")
        if adversarial is not None and adversarial.get("attack") not in _attacks():
            raise UsageError(f"train_classifier.{name}.adversarial.attack={adversarial.get('attack')!r} is not "
                             f"allowed; choose one of {list(_attacks())}")
    check_attack_settings(params)
    return params


def check_attack_settings(params: dict) -> None:
    """Every attack's settings (attack.settings, adaptive.surrogate, train_classifier.*.adversarial) checked
    now, before any training, by building the attack as its stage will, on an untrained classifier A."""
    from .attacks import build_attack
    from .models import CLASSIFIERS
    from .protocol import surrogate_attacks

    classifier = CLASSIFIERS["A"]()
    given = [(name, f"attack.settings.{name}", dict(s)) for name, s in params["attack"]["settings"].items()]
    given += [(cfg["adversarial"]["attack"], f"train_classifier.{name}.adversarial",
               {k: v for k, v in cfg["adversarial"].items() if k != "attack"})
              for name, cfg in params["train_classifier"].items() if cfg.get("adversarial")]
    for attack, section, settings in given:
        build_attack(attack, classifier, settings, section)
    surrogate_attacks(params["adaptive"]["surrogate"], classifier)
