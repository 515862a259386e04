"""Why two CPUs of one kind train different weights: kernels chosen by instruction set, and what pinning costs.

Trains classifier A (params train_classifier.A: its seed, lr and batch size; the pipeline's training code)
for `--steps` SGD steps on the first training images, once per environment setting, each in a fresh
process (the libraries read these settings when torch loads). Per setting it prints the SHA-256 of the
weights, the largest weight difference from the default setting, the oneDNN convolution kernels that ran,
and seconds per step:

    python benchmarks/kernel_choice.py --steps 200          # after `dvc repro download`

Three libraries each pick kernels for the CPU they find, and kernels built for different instruction sets
add in different orders: ATen's own elementwise and reduction loops (ATEN_CPU_CAPABILITY: default, avx2,
avx512), oneDNN's convolutions (ONEDNN_MAX_CPU_ISA) and MKL's matrix products (MKL_CBWR). A setting that
gives weights different from the default shows that choice changes the bytes; capping all three at AVX2
is what two different x86 CPUs could both run, at the cost the last column shows.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AVX2_EVERYWHERE = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
SETTINGS = {
    "default": {},
    "default, again": {},
    "ATEN_CPU_CAPABILITY=avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "ONEDNN_MAX_CPU_ISA=AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "MKL_CBWR=AVX2": {"MKL_CBWR": "AVX2"},
    "all three at AVX2": AVX2_EVERYWHERE,
    "1 thread": {"OMP_NUM_THREADS": "1"},
}


def train(steps: int, weights: Path) -> None:
    """The worker: `steps` steps of classifier A's training, weights saved to `weights`, seconds printed."""
    import torch

    from diffdefense.cli import load_params, section
    from diffdefense.data import training_split
    from diffdefense.models import build_classifier, save_weights
    from diffdefense.seeding import seed_everything
    from diffdefense.training import train_classifier

    params = load_params()
    cfg, data = section(params, "train_classifier", "A"), section(params, "data")
    images, labels = training_split("data/raw", data)
    images, labels = images[:steps * cfg["batch_size"]], labels[:steps * cfg["batch_size"]]
    seed_everything(cfg["seed"])
    model = build_classifier("A", tuple(images.shape[1:]))
    start = time.perf_counter()
    train_classifier(model, images, labels, images[:500], labels[:500], epochs=1, lr=cfg["lr"],
                     momentum=cfg["momentum"], batch_size=cfg["batch_size"], seed=cfg["seed"],
                     device=torch.device("cpu"), schedule=cfg.get("schedule", "constant"))
    seconds = time.perf_counter() - start
    save_weights(model, weights)
    print(json.dumps({"seconds_per_step": seconds / steps, "threads": torch.get_num_threads()}))


def conv_kernels(verbose_output: str) -> list[str]:
    """The distinct oneDNN convolution implementations in ONEDNN_VERBOSE output."""
    kernels = set()
    for line in verbose_output.splitlines():
        fields = line.split(",")
        if "exec" in fields and "convolution" in fields:
            kernels.add(fields[fields.index("convolution") + 1])
    return sorted(kernels)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return train(args.steps, args.worker)

    from safetensors.torch import load_file

    rows, reference = [], None
    with tempfile.TemporaryDirectory() as tmp:
        for name, env in SETTINGS.items():
            weights = Path(tmp) / f"{len(rows)}.safetensors"
            run = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--worker", str(weights)],
                                 env=os.environ | env | {"ONEDNN_VERBOSE": "1"}, capture_output=True, text=True)
            if run.returncode:
                sys.exit(f"error: the '{name}' run failed:\n{run.stderr[-2000:]}")
            result = json.loads(run.stdout.strip().splitlines()[-1])
            tensors = load_file(weights)
            reference = reference or tensors
            difference = max(float((tensors[k] - reference[k]).abs().max()) for k in tensors)
            digest = hashlib.sha256(b"".join(tensors[k].numpy().tobytes() for k in sorted(tensors))).hexdigest()
            rows.append((name, digest[:12], f"{difference:.2e}", " ".join(conv_kernels(run.stdout)),
                         f"{result['seconds_per_step']:.3f}", result["threads"]))
    print(f"{'setting':26} {'sha256':12} {'max |dw|':9} {'s/step':6} threads  oneDNN convolution kernels")
    for name, digest, difference, kernels, seconds, threads in rows:
        print(f"{name:26} {digest:12} {difference:9} {seconds:6} {threads:7}  {kernels}")


if __name__ == "__main__":
    main()
