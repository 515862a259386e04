"""Settings declared once. A component (an attack, a defence, a training recipe, a stage's section of
params.yaml) lists its settings as `Setting`s: the check of its type and range, its default and its meaning.
From that one `Settings` declaration come the check of a params section (errors name the param's path),
the library's defaults and checks for a Python caller (`resolve`), and the settings tables in docs/.

A check is any object with `check(name, value)`, raising a one-line UsageError naming `name`, and
`describe()`, the allowed values in words. Ranges may end at a bound known only when the component is
built, such as the length of the trained diffusion schedule: `Int(1, "timesteps")` takes its upper bound
from the `bounds` the caller passes."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable

from .errors import UsageError, check_int_range, check_name, check_number

REQUIRED = object()  # the default of a setting that has none: params.yaml must give it


def _join(name: str, key) -> str:
    return f"{name}.{key}" if name else str(key)


def _bound(bound, bounds: dict):
    """A range's end: a number, or the name of one of `bounds` (None when it is not given: no bound)."""
    return bounds.get(bound) if isinstance(bound, str) else bound


@dataclass(frozen=True)
class Int:
    """An integer in [low, high] (no upper bound if high is None)."""

    low: int = 0
    high: int | str | None = None

    def check(self, name: str, value, **bounds) -> None:
        """Raise a one-line UsageError naming `name` unless `value` is allowed."""
        check_int_range(name, value, self.low, _bound(self.high, bounds))

    def describe(self) -> str:
        """The allowed values, in words (docs/settings.md)."""
        return f"integer in [{self.low}, {self.high}]" if self.high is not None else f"integer >= {self.low}"


@dataclass(frozen=True)
class Num:
    """A number between low and high, each bound closed unless marked open."""

    low: float = 0.0
    high: float | None = None
    open_low: bool = False
    open_high: bool = False

    def check(self, name: str, value, **bounds) -> None:
        """Raise a one-line UsageError naming `name` unless `value` is allowed."""
        check_number(name, value, self.low, self.high, open_low=self.open_low, open_high=self.open_high)

    def describe(self) -> str:
        """The allowed values, in words (docs/settings.md)."""
        if self.high is None:
            return f"number {'>' if self.open_low else '>='} {self.low:g}"
        return f"number in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}{')' if self.open_high else ']'}"


@dataclass(frozen=True)
class OneOf:
    """One of a fixed list, or of a registry's names (`options` called late: registries fill on import)."""

    options: tuple | Callable[[], Any]

    def allowed(self) -> list:
        """The options, the registry's names once it is filled."""
        return list(self.options() if callable(self.options) else self.options)

    def check(self, name: str, value, **bounds) -> None:
        """Raise a one-line UsageError naming `name` unless `value` is allowed."""
        if value not in self.allowed():
            raise UsageError(f"{name}={value!r} is not allowed; choose one of {self.allowed()}")

    def describe(self) -> str:
        """The allowed values, in words (docs/settings.md)."""
        return "one of " + ", ".join(f"`{v}`" for v in self.allowed())


@dataclass(frozen=True)
class Name:
    """A name that becomes part of a file path."""

    def check(self, name: str, value, **bounds) -> None:
        """Raise a one-line UsageError naming `name` unless `value` is allowed."""
        check_name(name, value)

    def describe(self) -> str:
        """The allowed values, in words (docs/settings.md)."""
        return "safe name (1-64 letters, digits, '-', '_')"


@dataclass(frozen=True)
class Bool:
    """true or false."""

    def check(self, name: str, value, **bounds) -> None:
        """Raise a one-line UsageError naming `name` unless `value` is allowed."""
        if not isinstance(value, bool):
            raise UsageError(f"{name}={value!r} must be true or false")

    def describe(self) -> str:
        """The allowed values, in words (docs/settings.md)."""
        return "true or false"


@dataclass(frozen=True)
class Launcher:
    """How stages that can share their work start their processes: python, or torchrun with its options."""

    def check(self, name: str, value, **bounds) -> None:
        """Raise a one-line UsageError naming `name` unless `value` is allowed."""
        if not isinstance(value, str) or value.split()[:1] not in (["python"], ["torchrun"]):
            raise UsageError(f"{name}={value!r} is not allowed; use 'python' or 'torchrun <options>', for example "
                             "'torchrun --standalone --nproc-per-node 4'")

    def describe(self) -> str:
        """The allowed values, in words (docs/settings.md)."""
        return "`python` or `torchrun <options>`"


@dataclass(frozen=True)
class ListOf:
    """A list (non-empty unless `may_be_empty`, of exactly `length` items if set) whose items follow `item`."""

    item: Any
    length: int | None = None
    may_be_empty: bool = False

    def check(self, name: str, value, **bounds) -> None:
        """Raise a one-line UsageError naming `name` unless `value` is allowed."""
        if not isinstance(value, list) or (not value and not self.may_be_empty) or (
                self.length is not None and len(value) != self.length):
            size = (f"{self.length} items" if self.length is not None
                    else "items" if self.may_be_empty else "at least one item")
            raise UsageError(f"{name}={value!r} must be a list of {size}")
        for item in value:
            self.item.check(name, item, **bounds)

    def describe(self) -> str:
        """The allowed values, in words (docs/settings.md)."""
        size = f"{self.length} " if self.length is not None else ""
        return f"list of {size}{self.item.describe()}"


@dataclass(frozen=True)
class MapOf:
    """A non-empty mapping from keys checked by `key` to values checked by `value`."""

    key: Any
    value: Any

    def check(self, name: str, value, **bounds) -> None:
        """Raise a one-line UsageError naming `name` unless `value` is allowed."""
        if not isinstance(value, dict) or not value:
            raise UsageError(f"{name} must be a non-empty mapping, got {value!r}")
        for key, item in value.items():
            self.key.check(f"{name} key", key)
            self.value.check(f"{name}.{key}", item, **bounds)

    def describe(self) -> str:
        """The allowed values, in words (docs/settings.md)."""
        return f"mapping: {self.key.describe()} -> {self.value.describe()}"


@dataclass(frozen=True)
class Setting:
    """One setting: what it may be (a check), its default (REQUIRED: none, params.yaml gives it), its
    meaning, whether params.yaml may leave it out (`optional`: the default is then used) and whether it may
    be null (`nullable`, or a default of None: "not set")."""

    check: Any
    default: Any = REQUIRED
    meaning: str = ""
    optional: bool = False
    nullable: bool = False


class Settings:
    """A component's settings, by name. `check` judges a params section; `resolve` gives a Python
    caller the defaults; `rows` feeds the docs' tables. A `Settings` is itself a check, so sections nest."""

    def __init__(self, meaning: str = "", **settings: Setting):
        self.meaning, self.settings = meaning, settings

    def check(self, name: str, value, complete: bool = True, **bounds) -> None:
        """UsageError naming the param unless `value` is a mapping of these settings, each allowed, and (when
        `complete`) giving every one that is neither optional nor defaulted by the caller."""
        where = name or "params.yaml"
        if not isinstance(value, dict):
            raise UsageError(f"{where} must be a mapping with the keys {sorted(self.required())}, got {value!r}")
        unknown = [key for key in value if key not in self.settings]
        if unknown:
            raise UsageError(f"{_join(name, unknown[0])} is not a setting of {where}; allowed: {sorted(self.settings)}")
        missing = sorted(set(self.required()) - set(value)) if complete else []
        if missing:
            raise UsageError(f"{where} is missing the key(s) {missing}")
        for key, setting in self.settings.items():  # in declared order: a section may bound a later one's values
            if key in value and not (value[key] is None and (setting.nullable or setting.default is None)):
                setting.check.check(_join(name, key), value[key], **bounds)

    def required(self) -> list[str]:
        """The settings a params section must give."""
        return [key for key, s in self.settings.items() if not s.optional]

    def defaults(self) -> dict:
        """Every setting's default (REQUIRED where it has none)."""
        return {key: s.default for key, s in self.settings.items()}

    def resolve(self, given: dict, name: str = "", **bounds) -> SimpleNamespace:
        """The defaults with `given` in their place, checked (errors name `name`.<setting>, or the bare
        setting for a Python caller); every setting without a default must be given."""
        self.check(name, given, complete=False, **bounds)
        values = self.defaults() | given
        missing = sorted(key for key, value in values.items() if value is REQUIRED)
        if missing:
            raise UsageError(f"{name or 'settings'} is missing the key(s) {missing}")
        return SimpleNamespace(**values)

    def describe(self) -> str:
        """The allowed values, in words (docs/settings.md)."""
        return "mapping (see its table)"

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(name, allowed values, default, meaning) per setting, for the docs."""
        def default(s: Setting) -> str:
            return "required" if s.default is REQUIRED else f"`{s.default}`" + (" (may be left out)" if s.optional else "")
        return [(key, s.check.describe(), default(s), s.meaning) for key, s in self.settings.items()]


def markdown_table(settings: Settings) -> str:
    """`settings` as a markdown table: setting, allowed values, default, meaning."""
    lines = ["| setting | allowed | default | meaning |", "|---|---|---|---|"]
    lines += [f"| `{key}` | {allowed} | {default} | {meaning} |" for key, allowed, default, meaning in settings.rows()]
    return "\n".join(lines)


def declared_default(check, key: str):
    """The default declared for the dotted param `key` under `check` (a Settings, or any check that nests
    settings: a mapping's values, a registry's, a late one, or one with a `settings()` method); REQUIRED
    where none is declared or `key` names no setting."""
    head, _, rest = key.partition(".")
    if isinstance(check, Late):
        return declared_default(check.make(), key)
    if isinstance(check, SettingsOf):
        return declared_default(check.lookup(), key)
    if isinstance(check, MapOf):
        return declared_default(check.value, rest) if rest else REQUIRED
    if isinstance(check, SettingsByName):
        registry = check.registry()
        return declared_default(registry[head], rest) if head in registry and rest else REQUIRED
    if hasattr(check, "settings") and callable(check.settings):
        return declared_default(check.settings(), key)
    if isinstance(check, Settings) and head in check.settings:
        setting = check.settings[head]
        return declared_default(setting.check, rest) if rest else setting.default
    return REQUIRED


SEED = Int(0, 2**32 - 1)  # numpy's seed range: stages seed numpy with their seeds (seeding.seed_everything)
POSITIVE_INT, COUNT = Int(1), Int(0)
POSITIVE = Num(0, open_low=True)
NON_NEGATIVE = Num(0)
FRACTION = Num(0, 1)  # an L-inf radius on [0, 1] images, a threshold
EPS = Setting(FRACTION, 0.3, "L-inf radius")  # every L-inf-bounded attack's


@dataclass(frozen=True)
class SettingsOf:
    """The settings of a component found late (`lookup()`: registries fill on import), all of them given
    (`complete`) or only those that replace its defaults."""

    lookup: Callable[[], Settings]
    complete: bool = False

    def check(self, name: str, value, **bounds) -> None:
        """Raise a one-line UsageError naming `name` unless `value` is allowed."""
        self.lookup().check(name, value, complete=self.complete, **bounds)

    def describe(self) -> str:
        """The allowed values, in words (docs/settings.md)."""
        return "settings of " + (self.lookup().meaning or "the component")


@dataclass(frozen=True)
class SettingsByName:
    """A mapping from a registry's names to each one's settings (`registry()`: name -> Settings)."""

    registry: Callable[[], dict[str, Settings]]
    complete: bool = False

    def check(self, name: str, value, **bounds) -> None:
        """Raise a one-line UsageError naming `name` unless `value` is allowed."""
        if not isinstance(value, dict) or not value:
            raise UsageError(f"{name} must be a non-empty mapping, got {value!r}")
        registry = self.registry()
        for key, item in value.items():
            OneOf(tuple(registry)).check(f"{name} key", key)
            registry[key].check(f"{name}.{key}", item, complete=self.complete, **bounds)

    def describe(self) -> str:
        """The allowed values, in words (docs/settings.md)."""
        return "mapping: name -> its settings (see its table)"


@dataclass(frozen=True)
class Late:
    """A check made when first used (`make()`), for one whose module is slow to import or not yet filled."""

    make: Callable[[], Any]

    def check(self, name: str, value, **bounds) -> None:
        """Raise a one-line UsageError naming `name` unless `value` is allowed."""
        self.make().check(name, value, **bounds)

    def describe(self) -> str:
        """The allowed values, in words (docs/settings.md)."""
        return self.make().describe()
