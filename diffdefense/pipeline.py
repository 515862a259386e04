"""Where the pipeline keeps things, and which evaluation sets the params ask for."""

from __future__ import annotations

from pathlib import Path

from .attacks import ATTACKS
from .errors import check_one_of

SETS_DIR = Path("data/sets")
DEFENDED_DIR = Path("data/defended")
MODELS_DIR = Path("models")
BOXES = {"white": "A", "black": "B"}  # which classifier crafts the attack; A is always the one evaluated


def attacked_sets(attack_params: dict) -> list[tuple[str, str]]:
    """(attack, box) pairs from params `attack.names` x `attack.boxes`, validated."""
    for name in attack_params["names"]:
        check_one_of("attack.names entry", name, ATTACKS)
    for box in attack_params["boxes"]:
        check_one_of("attack.boxes entry", box, BOXES)
    return [(name, box) for name in attack_params["names"] for box in attack_params["boxes"]]


def set_names(attack_params: dict) -> list[str]:
    return ["clean"] + [f"{name}-{box}" for name, box in attacked_sets(attack_params)]
