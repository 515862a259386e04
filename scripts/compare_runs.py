"""Compare two runs of the pipeline output by output: byte-identical (same hash in both dvc.lock files), or,
for JSON and CSV files that hold wall-clock timings, identical once those fields are dropped; a metrics file
that differs otherwise is judged by its accuracies: "within intervals" when each accuracy of one run lies in
the 95 % interval of the other's (runs on two machines differ in bytes: docs/reproducibility.md). From the
project root:
    python scripts/compare_runs.py RUN_A RUN_B [STAGE ...]     # default: every stage in both locks
Exit status 1 if any compared output differs."""

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml

# the fields and columns that hold wall-clock timings and the machine (tests/test_pipeline_e2e.py uses them too)
TIMING_KEYS = {"seconds", "seconds_per_image", "threads", "device"}


def untimed(value):
    """`value` (parsed JSON) without its timing fields, at any depth."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k not in TIMING_KEYS}
    return [untimed(v) for v in value] if isinstance(value, list) else value


def same_without_timings(a: Path, b: Path) -> bool:
    if not (a.exists() and b.exists()):
        return False
    if a.suffix == ".json":
        return untimed(json.loads(a.read_text())) == untimed(json.loads(b.read_text()))
    if a.suffix == ".csv":
        def table(p):
            return pd.read_csv(p).drop(columns=list(TIMING_KEYS), errors="ignore")
        return table(a).equals(table(b))
    return False


def accuracies(value, path=()):
    """(path, summary) of every accuracy summary (accuracy with its interval) in parsed JSON `value`."""
    if isinstance(value, dict):
        if {"accuracy", "ci_low", "ci_high"} <= set(value) and value["accuracy"] is not None:
            yield path, value
        for key, item in value.items():
            yield from accuracies(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from accuracies(item, path + (index,))


def outside_intervals(a: Path, b: Path) -> list[str] | None:
    """The accuracies of two JSON metrics files that lie outside each other's interval ('/'-joined paths),
    or None when the files cannot be compared that way (not JSON, missing, or without accuracies)."""
    if a.suffix != ".json" or not (a.exists() and b.exists()):
        return None
    first, second = (dict(accuracies(json.loads(p.read_text()))) for p in (a, b))
    shared = first.keys() & second.keys()
    if not shared:
        return None
    return ["/".join(map(str, key)) for key in sorted(shared, key=str)
            if not (second[key]["ci_low"] <= first[key]["accuracy"] <= second[key]["ci_high"]
                    and first[key]["ci_low"] <= second[key]["accuracy"] <= first[key]["ci_high"])]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("stages", nargs="*")
    args = parser.parse_args()
    lock_a, lock_b = (yaml.safe_load((run / "dvc.lock").read_text())["stages"] for run in (args.a, args.b))
    stages = args.stages or [s for s in lock_a if s in lock_b]
    identical, untimed_same, within, different = [], [], [], []
    for stage in stages:
        outs_a = {o["path"]: o for o in lock_a[stage].get("outs", [])}
        for out in lock_b[stage].get("outs", []):
            path, other = out["path"], outs_a.get(out["path"])
            if other is not None and other.get("md5") == out.get("md5"):
                identical.append(path)
            elif other is not None and same_without_timings(args.a / path, args.b / path):
                untimed_same.append(path)
            elif other is not None and (outside := outside_intervals(args.a / path, args.b / path)) == []:
                within.append(path)
            else:
                different.append(path + (f" (outside the intervals: {outside})" if outside else ""))
    print(f"{len(stages)} stages compared")
    print(f"byte-identical: {len(identical)}")
    print(f"identical once timing fields are dropped: {len(untimed_same)} {untimed_same}")
    print(f"different, every accuracy inside the other run's interval: {len(within)} {within}")
    print(f"different: {len(different)} {different}")
    sys.exit(1 if different else 0)


if __name__ == "__main__":
    main()
