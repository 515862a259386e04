"""Where the pipeline keeps things, and which evaluation sets the params ask for."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import check_name


SETS_DIR = Path("data/sets")
DEFENDED_DIR = Path("data/defended")
MODELS_DIR = Path("models")
DEFENDED_CLASSIFIER = "A"  # the classifier the defences protect
# Table 2's robust-training columns: column -> the classifier role trained that way (A's architecture)
ROBUST_TRAINING = {"adversarial_training": "A_adv", "pgd_adversarial_training": "A_pgd"}


@dataclass(frozen=True)
class AttackSet:
    """One evaluation set: which attack, the classifier it is crafted on, the one it is fed to."""

    attack: str
    crafted_on: str  # classifier the attack is computed against
    evaluated_on: str  # classifier whose accuracy on the result is reported
    images: int = 0  # attack only the first `images` test images (0 = all): keeps slow attacks in budget

    @property
    def box(self) -> str:
        """white-box when crafted on the evaluated model itself; black-box (transfer) otherwise."""
        return "white" if self.crafted_on == self.evaluated_on else "black"


def attack_sets(attack_params: dict) -> dict[str, AttackSet]:
    """Set name -> AttackSet from params `attack.sets` (checked as a whole by the check_params stage; the
    names, which become file names, are checked here too, for a stage run on its own)."""
    sets = attack_params.get("sets") or {}
    for name in sets:
        check_name("attack.sets key", name)
    return {name: AttackSet(**entry) for name, entry in sets.items()}


def defended_sets(attack_params: dict) -> list[str]:
    """The sets a defence in front of classifier A is run on: the clean subset and every set fed to A."""
    return ["clean"] + [name for name, s in attack_sets(attack_params).items()
                        if s.evaluated_on == DEFENDED_CLASSIFIER]


def made_by(set_name: str) -> str:
    """The stage that writes evaluation set `set_name` (for missing-input errors)."""
    return "testset" if set_name == "clean" else f"attack@{set_name}"
