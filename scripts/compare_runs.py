"""Compare two runs of the pipeline output by output: byte-identical (same hash in both dvc.lock files), or,
for JSON and CSV files that hold wall-clock timings, identical once those fields are dropped. From the
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("stages", nargs="*")
    args = parser.parse_args()
    lock_a, lock_b = (yaml.safe_load((run / "dvc.lock").read_text())["stages"] for run in (args.a, args.b))
    stages = args.stages or [s for s in lock_a if s in lock_b]
    identical, untimed_same, different = [], [], []
    for stage in stages:
        outs_a = {o["path"]: o for o in lock_a[stage].get("outs", [])}
        for out in lock_b[stage].get("outs", []):
            path, other = out["path"], outs_a.get(out["path"])
            if other is not None and other.get("md5") == out.get("md5"):
                identical.append(path)
            elif other is not None and same_without_timings(args.a / path, args.b / path):
                untimed_same.append(path)
            else:
                different.append(path)
    print(f"{len(stages)} stages compared")
    print(f"byte-identical: {len(identical)}")
    print(f"identical once timing fields are dropped: {len(untimed_same)} {untimed_same}")
    print(f"different: {len(different)} {different}")
    sys.exit(1 if different else 0)


if __name__ == "__main__":
    main()
