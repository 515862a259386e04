"""The DVC graph follows from the code: each stage's code deps are generated from its import closure (lazy
imports included) by scripts/dvc_deps.py, and every declared dep exists or is made by a stage. A missing
dep means a stale cached result that nobody notices; the failure says what to run."""

import ast
import re
from pathlib import Path

import pytest
import yaml

from diffdefense.defences import WEIGHTS
from scripts.dvc_deps import _entry, import_closure, regenerate

REPO = Path(__file__).resolve().parents[1]
DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _covered(path: str, deps: list[str]) -> bool:
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def _deps(stage: dict) -> list[str]:
    body = stage.get("do", stage)
    return [next(iter(d)) if isinstance(d, dict) else d for d in body.get("deps", [])]


def _outs() -> list[str]:
    outs = []
    for stage in DVC.values():
        body = stage.get("do", stage)
        for key in ("outs", "metrics", "plots"):
            outs += [next(iter(o)) if isinstance(o, dict) else o for o in body.get(key, [])]
    return outs


def _made_by(dep: str, out: str) -> bool:
    """Whether `out` (a foreach stage's may hold ${...}) is `dep`, lies inside it or holds it."""
    pattern = re.escape(out).replace(r"\$\{", "${")
    pattern = re.sub(r"\$\{[^}]*\}", "[^/]+", pattern)
    return bool(re.fullmatch(pattern, dep) or re.match(pattern + "/", dep)
                or re.match(re.escape(dep) + "/", out))


def test_dvc_yaml_deps_are_the_generated_ones():
    text = (REPO / "dvc.yaml").read_text()
    assert regenerate(text) == text, "dvc.yaml's deps are stale: run python scripts/dvc_deps.py"


def test_regenerating_adds_a_module_a_stage_starts_importing_and_keeps_data_deps():
    text = (REPO / "dvc.yaml").read_text()
    stale = text.replace("diffdefense/training_log.py, data/raw]", "data/raw]")
    assert stale != text and regenerate(stale) == text


@pytest.mark.parametrize("name", sorted(DVC))
def test_every_module_a_stage_imports_is_a_declared_dep(name):
    deps = _deps(DVC[name])
    missing = sorted(path for path in import_closure(_entry(DVC[name])) if not _covered(path, deps))
    assert not missing, f"stage {name} imports these but does not declare them as deps: {missing}"


@pytest.mark.parametrize("name", sorted(DVC))
def test_every_declared_dep_exists_or_is_made_by_a_stage(name):
    outs = _outs()
    for dep in _deps(DVC[name]):
        if "${" in dep:  # a per-item data file, made by a stage of the same foreach
            continue
        made = any(_made_by(dep, out) for out in outs)
        assert made or (REPO / dep).exists(), f"stage {name} declares dep {dep}, which neither exists nor is made"


def test_each_defence_s_weights_are_deps_of_the_stages_that_build_defences():
    weights = {f"models/{w}" for files in WEIGHTS.values() for w in files}
    for name in ("defend", "table3", "adaptive"):
        assert all(_covered(w, _deps(DVC[name])) for w in weights), name


def test_the_closure_finds_lazy_and_relative_imports():
    closure = import_closure("stages.attack")
    assert {"diffdefense/attacks/square.py", "diffdefense/attacks/art_bridge.py", "diffdefense/errors.py"} <= closure
    assert "diffdefense/report.py" not in closure


def test_stages_do_not_use_the_lazy_api():
    import diffdefense
    for script in (REPO / "stages").glob("*.py"):
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "diffdefense" and not node.level:
                assert not {a.name for a in node.names} & set(diffdefense.__all__), script.name
