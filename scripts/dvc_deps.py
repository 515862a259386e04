"""Generate the code part of each stage's `deps:` in dvc.yaml from the stage's import closure, so that no
stage can miss a module it runs (a stale cached result nobody notices) and none lists one it does not.
Data deps (anything outside diffdefense/ and stages/) are kept as written. From the project root:
    python scripts/dvc_deps.py          # rewrite dvc.yaml
    python scripts/dvc_deps.py --check  # exit 1 if dvc.yaml is stale (tests/test_dvc_graph.py does the same)"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("diffdefense", "stages")
WIDTH = 115  # dvc.yaml's line length


def _module_file(name: str) -> Path | None:
    path = REPO / name.replace(".", "/")
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _nodes(tree: ast.AST):
    """Every node, except inside a module-level __getattr__: diffdefense's lazy API, which stages do not use
    (tests/test_dvc_graph.py: test_stages_do_not_use_the_lazy_api)."""
    for node in ast.iter_child_nodes(tree):
        if not (isinstance(node, ast.FunctionDef) and node.name == "__getattr__"):
            yield node
            yield from _nodes(node)


def _imported_names(name: str, file: Path):
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    for node in _nodes(ast.parse(file.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)  # `from pkg import submodule`


def import_closure(entry: str) -> set[str]:
    """Project files (relative paths) that running `python -m entry` may import, lazy imports included;
    empty files aside."""
    files, stack = {}, [entry]
    while stack:
        name = stack.pop()
        if name in files or name.split(".")[0] not in PACKAGES or (file := _module_file(name)) is None:
            continue
        files[name] = file
        parts = name.split(".")
        stack += [".".join(parts[:i]) for i in range(1, len(parts))]  # importing a module runs its packages
        stack += list(_imported_names(name, file))
    return {str(f.relative_to(REPO)) for f in files.values() if f.read_text().strip()}


def code_deps(entry: str) -> list[str]:
    """The stage script, then the library files it imports, sorted; a subpackage whose every non-empty
    module is imported is listed as its folder."""
    closure = import_closure(entry)
    script = entry.replace(".", "/") + ".py"
    folders = {str(p.parent.relative_to(REPO)) for p in (REPO / "diffdefense").glob("*/__init__.py")}
    listed = set()
    for file in closure - {script}:
        folder = str(Path(file).parent)
        members = {str(p.relative_to(REPO)) for p in (REPO / folder).glob("*.py") if p.read_text().strip()}
        listed.add(folder if folder in folders and members <= closure else file)
    return [script] + sorted(listed)


def _entry(stage: dict) -> str:
    return re.match(r"\S+ -m (\S+)", stage.get("do", stage)["cmd"]).group(1)


def _flow(items: list[str], indent: int) -> list[str]:
    """`deps: [a, b, ...]` wrapped at WIDTH, continuation lines aligned after the bracket."""
    lines, line = [], " " * indent + "deps: ["
    for i, item in enumerate(items):
        quoted = f'"{item}"' if "{" in item else item  # ${...} is a flow mapping to YAML unquoted
        piece = quoted + ("]" if i == len(items) - 1 else ",")
        if len(line) + len(piece) > WIDTH and not line.endswith("["):
            lines.append(line.rstrip())
            line = " " * (indent + len("deps: ["))
        line += piece + " "
    lines.append(line.rstrip())
    return lines


def regenerate(text: str) -> str:
    """dvc.yaml's text with every stage's deps list rewritten: generated code deps, then its data deps."""
    stages = yaml.safe_load(text)["stages"]
    lines, out, current = text.splitlines(), [], None
    i = 0
    while i < len(lines):
        line = lines[i]
        if (m := re.fullmatch(r"  (\w+):", line)) and m.group(1) in stages:
            current = m.group(1)
        dep_line = re.fullmatch(r"( +)deps:(.*)", line)
        if current is None or dep_line is None:
            out.append(line)
            i += 1
            continue
        indent, rest = len(dep_line.group(1)), dep_line.group(2).strip()
        if rest.startswith("["):  # a flow list, possibly over several lines: skip to its closing bracket
            while not lines[i].rstrip().endswith("]"):
                i += 1
            i += 1
        else:  # a block list: the `- item` lines below
            i += 1
            while i < len(lines) and re.match(r" {%d,}- " % (indent + 1), lines[i]):
                i += 1
        body = stages[current].get("do", stages[current])
        data = [d for d in body["deps"] if not d.startswith(PACKAGES)]
        out += _flow(code_deps(_entry(stages[current])) + data, indent)
        current = None  # one deps list per stage
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether dvc.yaml is stale")
    args = parser.parse_args()
    path = REPO / "dvc.yaml"
    text = path.read_text()
    fresh = regenerate(text)
    if args.check:
        if fresh != text:
            sys.exit("dvc.yaml: deps are stale; run python scripts/dvc_deps.py")
        print("dvc.yaml: deps are current")
    elif fresh != text:
        path.write_text(fresh)
        print("dvc.yaml: deps rewritten")
    else:
        print("dvc.yaml: deps already current")


if __name__ == "__main__":
    main()
