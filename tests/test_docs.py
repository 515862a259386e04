"""The library's public API is documented: every public module, class and function has a docstring."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "diffdefense"


def test_every_public_module_class_and_function_has_a_docstring():
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        if path.name != "__init__.py" and not ast.get_docstring(tree):
            missing.append(f"{path.relative_to(PACKAGE.parent)} (module)")
        # Top-level definitions and class members; closures inside functions are private by nature.
        scopes = [tree] + [node for node in tree.body if isinstance(node, ast.ClassDef)]
        for scope in scopes:
            for node in scope.body:
                if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                        and not node.name.startswith("_") and not ast.get_docstring(node)):
                    missing.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}")
    assert not missing, "public API without a docstring:\n" + "\n".join(missing)


def test_the_settings_tables_are_generated_from_the_declarations():
    """docs/settings.md is what scripts/settings_docs.py writes from the code's declarations today."""
    import subprocess
    import sys

    root = PACKAGE.parent
    result = subprocess.run([sys.executable, "scripts/settings_docs.py", "--check"], cwd=root, capture_output=True,
                            text=True, env={"PYTHONPATH": str(root), "PATH": ""})
    assert result.returncode == 0, result.stderr
