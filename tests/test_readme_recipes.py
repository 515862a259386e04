"""The README's recipes for a new defence and a new attack work as written: each code block, with its
relative imports made absolute, defines something the registries and the Python API then use."""

import re
from pathlib import Path
from types import SimpleNamespace

import torch

import diffdefense.attacks
from diffdefense import defended_classifier
from diffdefense.attacks import build_attack
from diffdefense.defences import DEFENCES, DefenceContext, build_defence

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def recipe(module: str) -> dict:
    """Execute the README's code block that starts with `# <module>` and return its namespace."""
    block = re.search(rf"```python\n# {re.escape(module)}\n(.*?)```", README, re.S).group(1)
    package = ".".join(module.removesuffix(".py").split("/")[:-1])  # diffdefense.defences
    source = re.sub(r"^from \.\.(\w)", r"from diffdefense.\1", block, flags=re.M)
    source = re.sub(r"^from \. import", f"from {package} import", source, flags=re.M)
    source = re.sub(r"^from \.(\w)", rf"from {package}.\1", source, flags=re.M)
    namespace: dict = {}
    exec(compile(source, module, "exec"), namespace)
    return namespace


def test_the_readme_defence_recipe_runs_from_its_registry_entry(monkeypatch, tiny_classifier, tmp_path):
    MedianFilter = recipe("diffdefense/defences/median.py")["MedianFilter"]
    monkeypatch.setitem(DEFENCES, "median", MedianFilter)
    images = torch.rand(5, 1, 28, 28)
    purified = build_defence("median", {"k": 3}, DefenceContext(tmp_path, torch.device("cpu"), batch_size=2))(images)
    assert purified.images.shape == images.shape and (purified.recon_error > 0).all()
    assert defended_classifier(tiny_classifier, "median", k=3)(images).shape == (5, 10)


def test_the_readme_attack_recipe_runs_from_its_registry_entry(monkeypatch, tiny_classifier, mnist_test):
    monkeypatch.setattr(diffdefense.attacks, "ATTACKS", dict(diffdefense.attacks.ATTACKS))  # restored afterwards
    diffdefense.attacks.ATTACKS["mifgsm"] = SimpleNamespace(**recipe("diffdefense/attacks/mifgsm.py"))  # as its module
    images, labels = mnist_test[0][-20:], mnist_test[1][-20:]
    adversarial = build_attack("mifgsm", tiny_classifier, {"eps": 0.3, "steps": 5})(images, labels)
    assert (adversarial - images).abs().max() <= 0.3 + 1e-6
