r"""Tokenization speed of mne_codec's NeuroRVQ against the authors' code, same weights.

Builds the authors' full EEG tokenizer (``flags/NeuroRVQ_EEG_v1.yml``, 76 M
parameters) with seeded random weights and random L2-normalised codebooks
marked initialised (so that their first eval forward runs no k-means), loads
the same state dict into :class:`mne_codec.models.NeuroRVQ`, and encodes the
same real EEG with both: EEGMMIDB S009 run 4, the 19 electrodes of the 10-20
system, 10-s windows of 200 Hz (190 tokens per window), preprocessed with the
codec's preprocessing. Reports channel-seconds tokenized per wall-second
(median of repeats, interleaved so both see the same load), the speed ratio,
and whether the tokens are identical. The authors' code
(KonstantinosBarmpas/NeuroRVQ, CC BY-NC 4.0) is imported from a checkout
outside this repository; nothing of it is part of mne_codec::

    python benchmarks/neurorvq_vs_reference.py --reference /path/to/NeuroRVQ \\
        [--threads 1 2] [--batch-size 8] [--repeats 3]

Their code needs ``einops`` and ``pyyaml``.

Measured on 2 shared AMD EPYC cores (AVX2; torch 2.11) with ``--threads 1 2
--repeats 3``, tokens identical (0 of 48,640 differ): at load 0.25, 109 /
369 channel-s/s with 1 thread (ratio 3.37) and 162 / 559 with 2 (3.45),
authors / ours. Before the blocked lookup and the grouped transformer: 1.50
to 1.59 with 1 thread and 1.64 with 2.
"""

import argparse
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from mne_codec._validation import check_input
from mne_codec.checkpoints import neurorvq_state_from_authors
from mne_codec.models.neurorvq import NeuroRVQ, NeuroRVQConfig, map_channels
from mne_codec.preprocessing import preprocess
from mne_codec.training.default import default_data_dir, eegmmidb_files, prepare_eegbci

TEN_TWENTY = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8",
              "P7", "P3", "Pz", "P4", "P8", "O1", "O2"]


def _their_model(reference):
    import yaml

    sys.path.insert(0, str(reference))
    # the authors' code, not ours
    from inference.modules.NeuroRVQ_EEG_tokenizer_inference_modules import (  # noqa: PLC0415
        ch_names_global,
    )
    from NeuroRVQ.NeuroRVQ import NeuroRVQTokenizer  # noqa: PLC0415
    from NeuroRVQ.NeuroRVQ_modules import get_encoder_decoder_params  # noqa: PLC0415

    with open(f"{reference}/flags/NeuroRVQ_EEG_v1.yml") as fid:
        args = yaml.safe_load(fid)
    args["n_global_electrodes"] = len(ch_names_global)
    enc, dec = get_encoder_decoder_params(args)
    torch.manual_seed(0)
    model = NeuroRVQTokenizer(enc, dec, n_code=args["n_code"], code_dim=args["code_dim"],
                              decoder_out_dim=args["decoder_out_dim"])
    with torch.no_grad():
        for name, buf in model.state_dict().items():
            if name.endswith("embedding.weight"):
                buf.copy_(F.normalize(torch.randn_like(buf), dim=-1))
            elif name.endswith("initted"):
                buf.fill_(1.0)
    return model.eval(), args, ch_names_global


def _time(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", required=True, help="checkout of NeuroRVQ")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=8, help="10-s windows per call")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import mne

    theirs, flags, vocab = _their_model(args.reference)
    ours = NeuroRVQ(NeuroRVQConfig.eeg())
    state, _ = neurorvq_state_from_authors(theirs.state_dict())
    ours.load_state_dict(state, strict=True)
    ours.eval()

    raw = prepare_eegbci(mne.io.read_raw_edf(eegmmidb_files(default_data_dir(), [9])[0],
                                             preload=True, verbose=False)).pick(TEN_TWENTY)
    w = check_input(raw, window_s=10.0)
    x, _, _ = preprocess(w.data, w.sfreq, ours.preprocessing, verbose=False)
    x = torch.from_numpy(np.ascontiguousarray(x[:args.batch_size], dtype=np.float32))
    b, c, n_times = x.shape
    n_patches = n_times // flags["patch_size"]
    # their indices: time-major within each channel, the window aligned to the right
    _, spatial = map_channels(TEN_TWENTY)
    s_ix = torch.from_numpy(np.repeat(spatial, n_patches)).reshape(1, -1).int()
    t_ix = torch.arange(flags["n_patches"] - n_patches, flags["n_patches"]).repeat(c)
    t_ix = t_ix.reshape(1, -1).int()
    xp = x.reshape(b, c, n_patches, flags["patch_size"])
    seconds = b * c * n_times / ours.sfreq
    print(f"NeuroRVQ EEG v1 architecture (seeded weights): {b} windows x {c} channels x "
          f"{n_times / ours.sfreq:g} s ({seconds:.0f} channel-s), median of {args.repeats} "
          "runs after a warm-up")

    with torch.inference_mode():
        ref = theirs.get_tokens(xp, t_ix, s_ix)["token"]
        mine = ours.reference_token_layout(ours.encode(x, TEN_TWENTY).codes)
        same = torch.equal(ref.long(), mine.long())
        print(f"tokens identical: {same} (mismatch fraction "
              f"{float((ref.long() != mine.long()).float().mean()):.2e}, {ref.numel()} tokens)")
        print(f"{'threads':>8}{'authors ch-s/s':>16}{'ours ch-s/s':>14}{'ratio':>8}")
        for n in args.threads:
            torch.set_num_threads(n)
            theirs.get_tokens(xp, t_ix, s_ix)
            ours.encode(x, TEN_TWENTY)
            t_ref, t_our = [], []
            for _ in range(args.repeats):  # interleaved: both see the same load
                t_ref.append(_time(lambda: theirs.get_tokens(xp, t_ix, s_ix)))
                t_our.append(_time(lambda: ours.encode(x, TEN_TWENTY)))
            r_ref = seconds / statistics.median(t_ref)
            r_our = seconds / statistics.median(t_our)
            print(f"{n:>8}{r_ref:>16.0f}{r_our:>14.0f}{r_our / r_ref:>8.2f}", flush=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
