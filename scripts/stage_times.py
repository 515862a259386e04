"""Per-stage wall-clock times from a `dvc repro` log whose lines start with HH:MM:SS (scripts/run_profile.sh).

A stage runs from its "Running stage" line to the next stage's, or to the log's last line.
    python scripts/stage_times.py repro.log > stage-times.csv
"""

import re
import sys
from datetime import datetime, timedelta

STAGE = re.compile(r"^(\d\d:\d\d:\d\d) Running stage '([^']+)'")
STAMP = re.compile(r"^(\d\d:\d\d:\d\d) ")


def stage_times(lines: list[str]) -> list[tuple[str, float]]:
    """(stage, seconds) in the order the stages ran; times past midnight are handled."""
    events, last = [], None
    for line in lines:
        stamp = STAMP.match(line)
        if not stamp:
            continue
        last = datetime.strptime(stamp.group(1), "%H:%M:%S")
        if match := STAGE.match(line):
            events.append((match.group(2), last))
    rows = []
    for (stage, begin), end in zip(events, [e[1] for e in events[1:]] + [last]):
        rows.append((stage, (end - begin) % timedelta(days=1) / timedelta(seconds=1)))
    return rows


if __name__ == "__main__":
    rows = stage_times(open(sys.argv[1]).read().splitlines())
    print("stage,seconds")
    for stage, seconds in rows:
        print(f"{stage},{seconds:.0f}")
    print(f"total,{sum(s for _, s in rows):.0f}")
