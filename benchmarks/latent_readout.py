"""Band signals read linearly from the decoder's input, against decoding (#22's speed).

The default output of ``CodecTokenizer`` needs the signal the tokens code,
and the decoder costs as much as the encoder, so a cross-validation costs
about twice an encode-only tokenization. This experiment asks whether the
alpha/mu and beta signals can be read from the quantized latent that the
decoder receives (after its attention across channels) by a linear map,
fitted once without labels, instead of decoding:

1. tokens of 4-s windows of an unlabelled recording (``--fit-subject``, run
   4), their decoder-input latent (three frames of context per frame) and
   the band-passed decoded signal; one ridge map per band from the latent
   of a frame to the band signal's samples of that frame (R^2 printed);
2. for each subject's left/right imagery epochs (as ``token_features.py``
   reads them), the band covariances (OAS) of the read-out and of the
   decoded, band-passed signal, their tangent space at the training folds'
   Riemannian mean, and a plain logistic regression on the same 5 folds.

Prints per subject the two balanced accuracies and the time of each path::

    python benchmarks/latent_readout.py [--subjects 1 2 ...] [--fit-subject 9]

Both paths share this script's covariance estimator (sklearn's OAS), not
the library's cospectra, so compare them with each other, not with the
default output's figures.
"""

import argparse
import time

import mne
import numpy as np
import torch
from scipy.signal import butter, sosfiltfilt
from sklearn.covariance import oas
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold
from token_features import _mi

from mne_codec import CodecTokenizer, load_codec
from mne_codec.datasets import eegbci_raw
from mne_codec.features import riemannian_mean, tangent_space
from mne_codec.pipeline import decode_windows

BANDS = [(8.0, 13.0), (13.0, 30.0)]


def _tokens(X, sfreq, names):
    tok = CodecTokenizer(sfreq=sfreq, ch_names=names, output="tokens", verbose="ERROR")
    return tok.fit(X).tokenize(X)


def _decoder_input(codec, tokens, names):
    """(n, C, F, 3 * dim): the decoder's input latent at frames f - 1, f, f + 1, and a 1."""
    codes = torch.from_numpy(tokens.codes.astype(np.int64))
    n, c, k, f = codes.shape
    with torch.inference_mode():
        q = codec.quantizer.decode(codes.reshape(n * c, k, f))
        z = codec._mix_quantized(q, codec._channel_context(names, n, c, q.device), n, c)
    z = z.reshape(n, c, -1, f).numpy()
    pad = np.pad(z, ((0, 0), (0, 0), (0, 0), (1, 1)), mode="edge")
    ctx = np.concatenate([pad[..., :-2], pad[..., 1:-1], pad[..., 2:]], 2).transpose(0, 1, 3, 2)
    return np.concatenate([ctx, np.ones(ctx.shape[:3] + (1,), ctx.dtype)], -1)


def _band_frames(y, sos, n_frames, hop):
    """Band-passed signals (n, C, T) cut into frames: (n * C * n_frames, hop)."""
    yb = sosfiltfilt(sos, y, axis=-1)
    yb = np.pad(yb, ((0, 0), (0, 0), (0, max(0, n_frames * hop - yb.shape[-1]))))
    return yb[..., :n_frames * hop].reshape(-1, hop)


def _scores(band_signals, y, cv):
    covs = np.stack([np.stack([oas(s.T)[0] for s in b]) for b in band_signals], 1)
    acc = []
    for train, test in cv.split(covs, y):
        refs = [riemannian_mean(covs[train, b]) for b in range(len(band_signals))]

        def feats(idx, refs=refs):
            return np.concatenate([tangent_space(covs[idx, b], r) for b, r in enumerate(refs)],
                                  1)

        clf = LogisticRegression().fit(feats(train), y[train])
        acc.append(balanced_accuracy_score(y[test], clf.predict(feats(test))))
    return float(np.mean(acc))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codec", default="default")
    parser.add_argument("--subjects", type=int, nargs="+", default=list(range(1, 11)))
    parser.add_argument("--fit-subject", type=int, default=9)
    parser.add_argument("--ridge", type=float, default=1e-3, help="relative to mean eigenvalue")
    args = parser.parse_args()
    mne.set_log_level("ERROR")
    codec = load_codec(args.codec, verbose=False).prepare_for_inference()
    hop = codec.hop_length
    sos = [butter(4, band, "bandpass", fs=codec.sfreq, output="sos") for band in BANDS]

    raw = eegbci_raw(args.fit_subject, [4], verbose="ERROR")  # its labels are not read
    names, data, sfreq = raw.ch_names, raw.get_data(), raw.info["sfreq"]
    n = int(4 * sfreq)
    X = np.stack([data[:, i:i + n] for i in range(0, data.shape[1] - n, n)])
    tokens = _tokens(X, sfreq, names)
    A = _decoder_input(codec, tokens, names)
    n_frames = A.shape[2]
    A = A.reshape(-1, A.shape[-1])
    y = decode_windows(codec, tokens.codes, tokens.n_times_codec, names)
    gram = A.T @ A
    gram[np.diag_indices_from(gram)] += args.ridge * np.trace(gram) / len(gram)
    maps = []
    for band, s in zip(BANDS, sos):
        target = _band_frames(y, s, n_frames, hop)
        w = np.linalg.solve(gram, A.T @ target)
        r2 = 1 - ((A @ w - target) ** 2).sum() / ((target - target.mean()) ** 2).sum()
        print(f"read-out {band[0]:g}-{band[1]:g} Hz fitted on S{args.fit_subject:03d} run 4: "
              f"R^2 {r2:.3f}")
        maps.append(w)

    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    res = {"read-out": [], "decoded": []}
    print("subject | read-out | decoded | encode s | read-out s | decode + band-pass s")
    for subject, (X, labels) in _mi(args.subjects, None, codec.preprocessing).items():
        t0 = time.perf_counter()
        tokens = _tokens(X, 160.0, names)
        t1 = time.perf_counter()
        A = _decoder_input(codec, tokens, names)
        m, c, f = A.shape[:3]
        read = [(A.reshape(-1, A.shape[-1]) @ w).reshape(m, c, f * hop) for w in maps]
        t2 = time.perf_counter()
        dec = decode_windows(codec, tokens.codes, tokens.n_times_codec, names)
        dec = [sosfiltfilt(s, dec, axis=-1) for s in sos]
        t3 = time.perf_counter()
        res["read-out"].append(_scores(read, labels, cv))
        res["decoded"].append(_scores(dec, labels, cv))
        print(f"S{subject:03d} | {res['read-out'][-1]:.2f} | {res['decoded'][-1]:.2f} | "
              f"{t1 - t0:.1f} | {t2 - t1:.1f} | {t3 - t2:.1f}", flush=True)
    for key, values in res.items():
        print(f"{key}: {np.mean(values):.3f} +- {np.std(values):.3f}")


if __name__ == "__main__":
    main()
