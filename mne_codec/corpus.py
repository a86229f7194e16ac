"""Tokenize a corpus of recordings into token shards, resumably and in parallel.

Output folder layout (format version 1)::

    OUT/codec.json                  the codec (name, family, fingerprint, config) and
                                    the tokenizer's parameters; every shard used them
    OUT/shards/<name>.tokens.npz    one shard per recording: a Tokens file
                                    (:func:`mne_codec.read_tokens`): codes,
                                    per-window scaling statistics, channel names,
                                    sfreq, window onsets, codec identity
    OUT/shards/<name>.json          the shard's record, written after the shard
    OUT/manifest.jsonl              one record per shard, sorted by source:
                                    source path, size and mtime, shard path,
                                    n_windows, n_channels, duration_s
    OUT/failed.jsonl                recordings that could not be tokenized, and why

``<name>`` is the recording's path relative to the folder it was found in,
with ``/`` replaced by ``__`` (a file given directly: its name), plus a short
hash of its full path where two recordings would get the same name. Shards are
written atomically, so a run that is interrupted and started again skips the
recordings whose shard and record exist, whose source has not changed and whose
shard still has the size and sha256 its record holds, and does the rest. A
shard name that another recording's shard holds already in the folder (the
same file name from an earlier run over other folders) is an error.

Work is spread over ``n_jobs`` processes on one machine, and over the ranks
of ``torchrun`` (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``): rank ``r`` takes
every ``WORLD_SIZE``-th recording from ``r``, uses ``cuda:LOCAL_RANK`` when
there is a GPU, and rank 0 writes the manifest once all ranks are done.
"""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import mne
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from ._io import atomic_path, sha256_file
from ._version import __version__
from .checkpoints import load_codec
from .transformers import CodecTokenizer

__all__ = ["find_recordings", "tokenize_corpus", "FORMAT_VERSION"]

FORMAT_VERSION = 1
#: file types searched for in folders (MNE reads them all with mne.io.read_raw);
#: EGI's .mff recordings are folders, so they are not searched for
EXTENSIONS = (".edf", ".bdf", ".fif", ".vhdr", ".set", ".gdf", ".cnt")


def _collect(inputs, extensions=EXTENSIONS):
    """Map recordings to shard names, stable across runs with the same inputs."""
    found = {}
    for item in map(Path, inputs):
        if item.is_dir():
            for p in sorted(item.rglob("*")):
                rel = p.relative_to(item)
                if (p.suffix.lower() in extensions and p.is_file()
                        and "derivatives" not in rel.parts):
                    found.setdefault(p.resolve(), "__".join(rel.with_suffix("").parts))
        elif item.is_file():
            found.setdefault(item.resolve(), item.stem)
        else:
            raise FileNotFoundError(f"No such file or folder: {item}")
    counts = {}
    for name in found.values():
        counts[name] = counts.get(name, 0) + 1
    for path, name in found.items():
        if counts[name] > 1:  # same name from different places: tell them apart
            found[path] = f"{name}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    return dict(sorted(found.items()))


def find_recordings(inputs, extensions=EXTENSIONS):
    """Find the recordings given as files, or in folders (BIDS folders included).

    Parameters
    ----------
    inputs : list of path-like
        Files and folders; folders are searched recursively (``derivatives``
        sub-folders excepted).
    extensions : tuple of str
        File types to take from folders.

    Returns
    -------
    files : list of pathlib.Path
        Sorted, without duplicates.
    """
    return list(_collect(inputs, extensions))


def _write_json(path, obj):
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1))


def _source_stamp(path):
    st = path.stat()
    return {"size": st.st_size, "mtime": st.st_mtime}


def _read_record(record_path):
    try:
        return json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None


def _is_done(source, shard, record_path):
    """Whether the shard of ``source`` is whole: its source unchanged, its bytes verified."""
    if not (shard.exists() and record_path.exists()):
        return False
    record = _read_record(record_path)
    if record is None or record.get("source") != str(source):
        return False
    if not all(record.get(k) == v for k, v in _source_stamp(source).items()):
        return False
    # a shard damaged after its run (truncated, overwritten) is done again
    return (record.get("shard_size") == shard.stat().st_size
            and record.get("shard_sha256") == sha256_file(shard))


def _check_collision(source, record_path):
    """Refuse a shard name that another recording's shard in this folder holds already."""
    record = _read_record(record_path) if record_path.exists() else None
    if record is not None and record.get("source") not in (None, str(source)):
        raise ValueError(
            f"{source} would be written to shard {record_path.stem!r}, which holds "
            f"{record['source']} already (two recordings of the same name from different "
            "runs). Tokenize them in one run (the names are then told apart) or into "
            "another folder.")


#: errors of a full disk or quota, after which no shard can be written
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class _Worker:
    """Tokenizes one recording at a time with one codec loaded once."""

    def __init__(self, codec, params, prepare_raw, device, num_threads):
        torch.set_num_threads(num_threads)
        self.prepare_raw = prepare_raw
        self.tokenizer = CodecTokenizer(codec, output="tokens", device=device,
                                        verbose="ERROR", **params)
        self.tokenizer._cache_windows = False  # each window is coded once

    def __call__(self, job):
        source, shard, record_path = job
        t0 = time.perf_counter()
        try:
            # the reader's warnings say when a file holds less than its header claims
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                raw = mne.io.read_raw(source, preload=False, verbose="WARNING")
            read_warnings = sorted({str(w.message) for w in caught})
            if self.prepare_raw is not None:
                raw = self.prepare_raw(raw) or raw
            tokens = self.tokenizer.fit(raw).tokenize(raw)
            tokens.save(shard, overwrite=True)
        except OSError as err:
            if err.errno in _DISK_FULL:  # no recording can be written: stop the run
                raise
            return {"source": str(source), "error": f"{type(err).__name__}: {err}"}
        except Exception as err:  # one bad recording must not stop a corpus
            return {"source": str(source), "error": f"{type(err).__name__}: {err}"}
        n_win, n_ch = tokens.codes.shape[:2]
        partial = [m for m in read_warnings if "does not match the file size" in m]
        record = {"source": str(source), **_source_stamp(source), "shard": shard.name,
                  "shard_size": shard.stat().st_size, "shard_sha256": sha256_file(shard),
                  "partial": bool(partial), "warnings": read_warnings,
                  "n_windows": int(n_win), "n_channels": int(n_ch),
                  "ch_names": tokens.ch_names,
                  "left_out": self.tokenizer.ch_names_left_out_, "sfreq": tokens.sfreq,
                  "duration_s": float(raw.n_times / raw.info["sfreq"]),
                  "torch_num_threads": torch.get_num_threads(),
                  "seconds": round(time.perf_counter() - t0, 3)}
        _write_json(record_path, record)
        return record


_WORKER = None


def _init_worker(*args):
    global _WORKER
    _WORKER = _Worker(*args)


def _run_job(job):
    return _WORKER(job)


def _codec_header(codec, params):
    return {"format": "mne-codec-corpus", "version": FORMAT_VERSION,
            "mne_codec": __version__, "codec": {
                "name": codec.name, "family": codec.family,
                "fingerprint": codec.fingerprint(), "config": codec.config.to_dict()},
            "tokenizer": params}


def tokenize_corpus(inputs, out_dir, *, codec="default", window_s=5.0, n_codebooks=None,
                    reject_by_annotation=True, resample=True, batch_size=256, device="auto",
                    unknown="raise", picks=None, n_jobs=1, num_threads=1, prepare_raw=None,
                    progress=True):
    """Tokenize many recordings into a folder of token shards.

    Parameters
    ----------
    inputs : list of path-like
        Recordings and folders (searched recursively, see :func:`find_recordings`).
    out_dir : path-like
        Output folder (layout in the module documentation).
    codec : str | path-like
        Registered codec name or path.
    window_s, n_codebooks, reject_by_annotation, resample, batch_size, device, unknown, picks
        As in :class:`~mne_codec.CodecTokenizer`. With ``picks=None``,
        channels typed EEG whose names say they are not (ECG, A2-A1...) are
        left out; each record of the manifest lists the channels coded
        (``ch_names``) and those left out (``left_out``). ``unknown`` matters for a
        codec that reads channel names (NeuroRVQ): with ``"raise"`` a
        recording with a channel the codec does not know fails (and is listed
        in ``failed.jsonl``), with ``"drop"`` that channel is left out of its
        shard.
    n_jobs : int
        Processes on this machine.
    num_threads : int
        Torch threads of each process that codes (the calling one too when
        ``n_jobs=1``, restored afterwards), whatever ``n_jobs``: the codes of
        a run do not depend on ``n_jobs``. On CPU, the codes of runs with other
        thread counts (or on other machines) may differ at float near-ties
        (with the default codec, 1 against 2 threads: 0 of 2,262,960 codes
        of 4 real recordings, ``benchmarks/thread_determinism.py``); each
        record holds ``torch_num_threads``.
    prepare_raw : callable | None
        Applied to each Raw after reading (fix channel types, names...); must
        be picklable when ``n_jobs > 1``.
    progress : bool
        Show a progress bar.

    Returns
    -------
    summary : dict
        ``done`` (newly tokenized), ``skipped`` (already done, their shards
        verified), ``failed`` (records with the error), ``partial`` (records
        of recordings whose file holds less than its header says, e.g. a
        truncated EDF: their shard has what could be read, and the record
        says ``"partial": true`` with the reader's ``warnings``),
        ``n_recordings``, and ``channels``: for each
        distinct choice of channels among the recordings tokenized now, the
        channels coded (``ch_names``), those left out (``left_out``) and the
        number of recordings (``n_recordings``).
    """
    world = int(os.environ.get("WORLD_SIZE", 1))
    rank = int(os.environ.get("RANK", 0))
    for name, value in (("n_jobs", n_jobs), ("num_threads", num_threads)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if device == "auto" and world > 1 and torch.cuda.is_available():
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"The output folder {out_dir} is a file.")
    model = load_codec(codec, verbose="ERROR")
    params = dict(window_s=window_s, n_codebooks=n_codebooks,
                  reject_by_annotation=reject_by_annotation, resample=resample,
                  batch_size=batch_size, unknown=unknown, picks=picks)
    # every parameter is checked before anything is written, so that a corrected
    # rerun into the same folder is accepted
    CodecTokenizer(model, output="tokens", device=device, **params)._check_params()
    if n_codebooks is not None:
        model.set_num_codebooks(n_codebooks)  # more levels than the codec has: ValueError
        model.set_num_codebooks(None)
    # the batch size does not change the tokens: not a parameter of the folder
    compared = {k: v for k, v in params.items() if k != "batch_size"}
    header = _codec_header(model, compared)
    header["runtime"] = {"torch_num_threads": num_threads, "torch": torch.__version__}
    header_path = out_dir / "codec.json"
    shards = out_dir / "shards"
    if header_path.exists():
        old = json.loads(header_path.read_text())
        old_params = {k: v for k, v in old.get("tokenizer", {}).items() if k != "batch_size"}
        if old.get("codec", {}).get("fingerprint") != header["codec"]["fingerprint"] or \
                old_params != compared:
            raise ValueError(
                f"{out_dir} holds shards of another codec or other parameters "
                f"({old.get('codec', {}).get('name')}, {old_params}); use another "
                "folder.")
    shards.mkdir(parents=True, exist_ok=True)
    if not header_path.exists() and rank == 0:
        _write_json(header_path, header)

    names = _collect(inputs)
    files = list(names)
    jobs, skipped = [], 0
    for i, source in enumerate(files):
        if i % world != rank:
            continue
        shard = shards / f"{names[source]}.tokens.npz"
        record = shards / f"{names[source]}.json"
        _check_collision(source, record)
        if _is_done(source, shard, record):
            skipped += 1
        else:
            jobs.append((source, shard, record))

    results = []
    bar = tqdm(total=len(jobs), desc=f"Tokenizing (rank {rank})" if world > 1 else "Tokenizing",
               unit="rec", disable=not progress or not jobs)
    init = (model, params, prepare_raw, device, num_threads)
    if n_jobs > 1 and len(jobs) > 1:
        # an executor, not multiprocessing.Pool: a worker killed by a signal (the
        # out-of-memory killer, kill -9) fails the run instead of hanging it forever
        with ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker, initargs=init) as pool:
            futures = [pool.submit(_run_job, job) for job in jobs]
            try:
                for future in as_completed(futures):
                    results.append(future.result())
                    bar.update()
            except BrokenProcessPool as err:
                raise ChildProcessError(
                    f"A worker process died (killed by a signal, e.g. out of memory) after "
                    f"{len(results)} of {len(jobs)} recordings; the shards written are kept "
                    "and verified: run the same command again to do the rest.") from err
            finally:  # after an error (a full disk), the recordings not started are not
                for future in futures:
                    future.cancel()
    else:
        threads = torch.get_num_threads()
        try:
            worker = _Worker(*init)
            for job in jobs:
                results.append(worker(job))
                bar.update()
        finally:
            torch.set_num_threads(threads)
    bar.close()
    failed = [r for r in results if "error" in r]
    partial = [r for r in results if r.get("partial")]
    channels = {}
    for r in results:
        if "error" not in r:
            key = (tuple(r["ch_names"]), tuple(r["left_out"]))
            channels[key] = channels.get(key, 0) + 1
    if failed:
        with open(out_dir / f"failed{'' if world == 1 else f'.rank{rank}'}.jsonl", "a") as fid:
            for r in failed:
                fid.write(json.dumps(r) + "\n")
    _barrier(world)
    if rank == 0:
        _write_manifest(out_dir)
    return {"n_recordings": len(files), "done": len(results) - len(failed),
            "skipped": skipped, "failed": failed, "partial": partial,
            "channels": [{"ch_names": list(k[0]), "left_out": list(k[1]), "n_recordings": n}
                         for k, n in channels.items()]}


def _barrier(world):
    if world <= 1:
        return
    if not dist.is_initialized():
        dist.init_process_group("gloo")
    dist.barrier()


def _write_manifest(out_dir):
    # every recording of the folder, from this run and earlier ones into the same folder
    lines = []
    for record_path in sorted((out_dir / "shards").glob("*.json")):
        record = _read_record(record_path)
        if record is not None:
            lines.append(json.dumps(record))
    with atomic_path(out_dir / "manifest.jsonl") as tmp:
        tmp.write_text("".join(line + "\n" for line in lines))
