"""Training throughput of the default BioCodec recipe, in channel-seconds per second.

Runs full training steps (forward, BioCodec loss, backward, Adam step, EMA
codebook update) on random 5 s single-channel crops of real EEG from
``shared/data`` and prints the median time per step and the throughput::

    python benchmarks/train_throughput.py [--threads 1 2] [--batch-size 32] [--steps 20]

On a machine with CUDA it also measures the GPU (fp32 and bf16 autocast).
Figures are machine- and load-dependent: compare ratios measured in one run.
"""

import argparse
import statistics
import time

import torch

from mne_codec.models import BioCodec, BioCodecConfig
from mne_codec.training import BioCodecLoss
from mne_codec.training.default import build_data, default_data_dir


def _bench(device, batch_size, steps, warmup, amp, crops):
    torch.manual_seed(0)
    codec = BioCodec(BioCodecConfig()).to(device).train()
    loss_fn = BioCodecLoss(commitment_weight=2.0)
    opt = torch.optim.Adam(codec.parameters(), lr=1e-3, betas=(0.5, 0.9))
    times = []
    for i in range(warmup + steps):
        x = crops[torch.randint(0, len(crops), (batch_size,))].to(device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            y, _, commit = codec(x)
            losses = loss_fn.terms(y.float(), x, commit)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(codec.parameters(), 1.0)
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    step_s = statistics.median(times)
    seconds_of_eeg = batch_size * crops.shape[-1] / codec.sfreq
    return step_s, seconds_of_eeg / step_s


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    codec = BioCodec(BioCodecConfig())
    _, val = build_data(codec, default_data_dir(), val_segments=512)
    crops = torch.cat(list(val.values()))  # real 5 s crops, preprocessed as in training
    print(f"BioCodec (3.15 M parameters), batch {args.batch_size} x 5 s single-channel crops, "
          f"median of {args.steps} steps after {args.warmup} warm-up steps")
    print(f"{'device':<22}{'s/step':>10}{'channel-s/s':>14}")
    for n in args.threads:
        torch.set_num_threads(n)
        step_s, rate = _bench(torch.device("cpu"), args.batch_size, args.steps, args.warmup,
                              False, crops)
        print(f"{f'CPU, {n} thread(s)':<22}{step_s:>10.3f}{rate:>14.1f}")
    if torch.cuda.is_available():
        for amp in (False, True):
            step_s, rate = _bench(torch.device("cuda"), args.batch_size, args.steps,
                                  args.warmup, amp, crops)
            label = f"CUDA {'bf16' if amp else 'fp32'}"
            print(f"{label:<22}{step_s:>10.3f}{rate:>14.1f}")


if __name__ == "__main__":
    main()
