"""Check params.yaml as a whole (diffdefense.params) before any other stage runs.

The download stage, and so every stage after it, depends on its marker, data/params-checked, whose content
never changes: a params change reruns this check (a second or two) and, when it passes, invalidates
nothing else. The other stages do not check params.yaml as a whole (so each imports only what it uses,
see tests/test_dvc_graph.py). Because it runs first, a bad param is reported here in one line, before DVC itself trips over it (a missing
`attack.settings.<attack>` or `models/classifier_<name>.safetensors` names no param)."""

from diffdefense.cli import load_params, run_stage
from diffdefense.device import resolve_device
from diffdefense.io import atomic_path
from diffdefense.params import validate

MARKER = "data/params-checked"


def main():
    params = validate(load_params())
    resolve_device(params["device"])  # a device this machine lacks fails here, not in the first stage that uses it
    with atomic_path(MARKER) as tmp:
        tmp.write_text("params.yaml passed diffdefense.params.validate\n")
    print("params.yaml: ok")


if __name__ == "__main__":
    run_stage(main)
