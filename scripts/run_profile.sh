#!/usr/bin/env bash
# Run `dvc repro` on a params profile and collect a results folder (params, dvc.lock, metrics, plots,
# REPORT.md, the timestamped log, per-stage times, the machine). From the project root, in the venv:
#   bash scripts/run_profile.sh profiles/paper.yaml results/MNIST-paper-scale [seconds]
# With a time budget, dvc repro stops when it is spent and the folder gets whatever finished: the paper's
# tables are made first (evaluate, then detect, table3, grids), the ablation and adaptive stages last.
set -uo pipefail
profile=$1 out=$2 budget=${3:-0}
[ -f "$profile" ] || { echo "error: no profile $profile" >&2; exit 2; }
[ ! -e "$out" ] || [ -f "$out/repro.log" ] || { echo "error: $out exists and is not a results folder" >&2; exit 2; }
rm -rf "$out" && mkdir -p "$out"
cp "$profile" params.yaml
marker=$(mktemp) start=$SECONDS   # only files written after the marker are this run's (a budget can stop it)
stamp() { while IFS= read -r line; do printf '%s %s\n' "$(date +%H:%M:%S)" "$line"; done; }
left() { local s=$(( budget - (SECONDS - start) )); echo $(( budget == 0 ? 0 : (s > 1 ? s : 1) )); }
for targets in evaluate "detect table3 grids" ""; do
  timeout "$(left)" python3 -m dvc repro $targets || break   # timeout 0: no limit
done 2>&1 | stamp | tee "$out/repro.log"
python3 scripts/stage_times.py "$out/repro.log" > "$out/stage-times.csv"
cp params.yaml "$out/params.yaml"
cp dvc.lock "$out/dvc.lock" 2>/dev/null
# metrics, plots and the report of the stages that ran (or were restored) now, nothing older
find metrics plots reports -type f -newer "$marker" | while read -r f; do mkdir -p "$out/$(dirname "$f")"; cp "$f" "$out/$f"; done
if [ -f "$out/reports/REPORT.md" ]; then  # figure links are relative to reports/; here plots/ sits beside it
  sed 's#(\.\./plots/#(plots/#g' "$out/reports/REPORT.md" > "$out/REPORT.md" && rm -r "$out/reports"
fi
python3 -c "import platform, torch; print(platform.node(), platform.processor(), torch.__version__,
  torch.cuda.get_device_name() if torch.cuda.is_available() else f'cpu, {torch.get_num_threads()} threads')" \
  > "$out/machine.txt"
rm -f "$marker"
echo "$(( SECONDS - start )) s in all; per stage: $out/stage-times.csv"
