"""Benchmark: our batched DiffDefense engine against a per-image loop shaped like the authors' code.

Both run the "code" variant (DDIM steps, sigmoid output, frozen U-Net, Adam) on the same images with
the same per-image seeds, so their reconstructions should agree to float tolerance. Prints s/image,
images/s, the speed ratio, peak memory, agreement, and a FLOP-bound estimate for this machine.

    python benchmarks/reconstruction_speed.py                  # default params (L=4, R=5, T*=15)
    python benchmarks/reconstruction_speed.py --L 5 --R 1      # a Table 3 setting
    python benchmarks/reconstruction_speed.py --images 1000 --batch-size 1000 --loop-images 50 \
        --precision fp32 tf32 bf16                             # on a GPU
    python benchmarks/reconstruction_speed.py --images 80 --loop-images 10 --precision fp32 bf16  # CPU with bf16 units
Uses models/ddpm.safetensors and data/sets/clean.safetensors when present (after `dvc repro`),
otherwise an untrained U-Net and random binary images (timing is the same; agreement still checked).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import resource
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from diffdefense.defences import DiffDefense
from diffdefense.device import resolve_device
from diffdefense.diffusion import LinearSchedule
from diffdefense.io import load_tensors
from diffdefense.models import UNet, load_classifier, load_ddpm
from diffdefense.seeding import derived_seed


def authors_style(unet, images, *, L, R, t_star, seed, lr=0.02, lr_restart=25.0, decay=0.1):
    """One image at a time, a batch of its R starts; per-sample time steps; U-Net under no_grad."""
    schedule = LinearSchedule(t_star, 1e-4, 0.02)
    device = next(unet.parameters()).device
    outputs = []
    for index, image in enumerate(images):
        gen = torch.Generator(device).manual_seed(derived_seed(seed, index))
        z = torch.randn((R,) + tuple(image.shape), generator=gen, device=device).requires_grad_(True)
        target = image.to(device).expand(R, *image.shape)
        adam = torch.optim.Adam([z], lr=lr, betas=(0.5, 0.999))
        for i in range(L):
            x = z
            for k in reversed(range(t_star)):
                noise = torch.randn(x.shape, generator=gen, device=device)
                with torch.no_grad():
                    eps = unet(x, torch.full((R,), k, device=device))
                x = schedule.ddim_step(x, eps, k, noise)
            x = torch.sigmoid(x)
            mse = (x - target).pow(2).flatten(1).mean(1)
            if i < L - 1:
                adam.zero_grad()
                mse.sum().backward()
                adam.step()
                adam.param_groups[0]["lr"] = lr_restart * decay ** ((i + 1) / math.ceil(0.8 * L))
        outputs.append(x.detach()[mse.argmin()].clamp(0, 1).cpu())
    return torch.stack(outputs)


def load_inputs(n: int, device):
    if Path("models/ddpm.safetensors").exists() and Path("data/sets/clean.safetensors").exists():
        unet, _ = load_ddpm("models/ddpm.safetensors", device)
        sets = load_tensors("data/sets/clean.safetensors")[0]
        return unet, sets["images"][:n], sets["labels"][:n], "pipeline outputs"
    torch.manual_seed(0)
    return UNet().to(device).eval(), (torch.rand(n, 1, 28, 28) > 0.8).float(), None, "untrained U-Net, random images"


# Engine precisions, each compared with fp32 on the same images: fp32 turns TF32 off (cuDNN allows it for
# convolutions by default), tf32 turns it on for matmuls and convolutions, bf16 is the defence's own
# precision="bf16" (diffdefense.precision: the frozen U-Net under autocast, its input conv in fp32).
PRECISIONS = ("fp32", "tf32", "bf16")


def timed(mode: str, args, queue):
    """Run one mode in its own process so its peak memory is its own."""
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    unet, images, _, _ = load_inputs(args.images, device)
    settings = dict(L=args.L, R=args.R, t_star=args.t_star, seed=0)
    if mode == "authors":
        images = images[:args.loop_images]
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = mode == "tf32"
    start = time.perf_counter()
    if mode == "authors":
        out = authors_style(unet, images, **settings)
    else:
        engine = DiffDefense(unet, LinearSchedule(100, 1e-5, 0.02), batch_size=args.batch_size,
                             precision="bf16" if mode == "bf16" else "fp32", **settings)
        out = engine(images).images
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # a numpy copy, not a shared-memory tensor: the child may exit before the parent attaches to it
    queue.put((seconds, peak, out.cpu().numpy()))


def run(mode, args):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=timed, args=(mode, args, queue))
    process.start()
    seconds, peak, out = queue.get()
    process.join()
    return seconds, peak, torch.from_numpy(out)


def matmul_flops(device, dtype=torch.float32, size=2048, repeats=10) -> float:
    """Achieved FLOP/s of a large matmul in `dtype`: the machine's practical bound for that precision."""
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 2 * size ** 3 * repeats / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--loop-images", type=int, help="images for the slow per-image loop (default: --images); "
                        "agreement is checked on these")
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS, default=["fp32"],
                        help="engine precisions to time (CUDA: tf32, bf16), each compared with fp32")
    parser.add_argument("--L", type=int, default=4)
    parser.add_argument("--R", type=int, default=5)
    parser.add_argument("--t-star", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=40, help="engine: images per batch (defend.batch_size)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="auto")
    parser.add_argument("--profile", action="store_true", help="also print where the engine's time goes, by op")
    args = parser.parse_args()
    args.loop_images = min(args.loop_images or args.images, args.images)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    unet, images, labels, source = load_inputs(args.images, device)
    classifier = load_classifier("A", "models/classifier_A.safetensors") if labels is not None else None

    def accuracy_of_a(out):
        from diffdefense.evaluation import accuracy
        return "" if classifier is None else f", accuracy of A {accuracy(classifier, out, labels[:len(out)]):.2f}%"

    base_s, base_mem, base_out = run("authors", args)
    m = len(base_out)
    n = len(images)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        unet(torch.zeros(1, 1, 28, 28, device=device), torch.zeros(1, dtype=torch.long, device=device))
    macs = counter.get_total_flops() / 2
    per_image_flops = 2 * macs * args.L * args.t_star * args.R
    peaks = {"fp32": matmul_flops(device), "bf16": matmul_flops(device, torch.bfloat16)}
    peaks["tf32"] = peaks["fp32"]

    print(f"device {device} ({torch.get_num_threads()} threads), torch {torch.__version__}; inputs: {source}")
    print(f"settings: L={args.L} R={args.R} T*={args.t_star}, engine on {n} images in batches of {args.batch_size}, "
          f"per-image loop on the first {m}")
    print(f"authors-style per-image loop: {base_s / m:.4f} s/image, {m / base_s:.2f} images/s, peak {base_mem:.0f} MiB"
          f"{accuracy_of_a(base_out)}")
    reference = None
    for precision in ["fp32"] + [p for p in args.precision if p != "fp32"]:
        ours_s, ours_mem, ours_out = run(precision, args)
        reference = ours_out if reference is None else reference
        print(f"our engine, {precision}: {ours_s / n:.4f} s/image, {n / ours_s:.2f} images/s, peak {ours_mem:.0f} MiB, "
              f"speed-up {base_s / m / (ours_s / n):.1f}x; max |difference| to the loop {(base_out - ours_out[:m]).abs().max():.2e}"
              f", to fp32 {(reference - ours_out).abs().max():.2e}{accuracy_of_a(ours_out)}")
        print(f"  FLOP bound: U-Net {macs / 1e6:.2f} M MAC/forward x L x T* x R = {per_image_flops / 1e9:.2f} GFLOP/image; "
              f"matmul here FP32 {peaks['fp32'] / 1e9:.1f}, BF16 {peaks['bf16'] / 1e9:.1f} GFLOP/s; engine "
              f"{per_image_flops / (ours_s / n) / 1e9:.1f} GFLOP/s ({per_image_flops / (ours_s / n) / peaks[precision]:.0%} "
              f"of {precision}'s)")
    if args.profile:
        engine = DiffDefense(unet, LinearSchedule(100, 1e-5, 0.02), batch_size=args.batch_size, L=args.L, R=args.R,
                             t_star=args.t_star)
        chunk = images[:args.batch_size].to(device)
        with torch.profiler.profile() as prof:
            engine(chunk)
        print(f"where the engine's time goes (one batch of {len(chunk)} images, self time by op):")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))
        # The convolution kernels are a floor no amount of fusion or overhead removal goes below.
        conv_us = sum(e.self_cpu_time_total for e in prof.key_averages() if "conv" in e.key.lower())
        print(f"convolution kernels alone: {conv_us / 1e6 / len(chunk):.4f} s/image; "
              f"a 5x speed-up over the per-image loop needs <= {base_s / m / 5:.4f} s/image")


if __name__ == "__main__":
    main()
