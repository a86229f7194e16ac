"""Export token sequences to a Hugging Face ``datasets`` dataset (Arrow, then Parquet...)."""

from __future__ import annotations

import copy

__all__ = ["to_hf_dataset"]


def _rows(dataset):
    for item in dataset:
        row = dict(item)
        row["input_ids"] = item["input_ids"].tolist()
        yield row


def to_hf_dataset(dataset, *, cache_dir=None):
    """Write the sequences of a :class:`TokenSequenceDataset` to a ``datasets.Dataset``.

    Every sequence of the epoch, in the dataset's order, once (whatever its
    ``rank``, ``world_size``, ``start_step`` and shuffle buffer), with the
    same columns as its items: ``input_ids`` (a list of ints, or of lists of
    ``n_levels`` ints for the parallel layouts), ``index``, ``shard``,
    ``start``, ``n_recordings``, ``ch_names``, ``sfreq``, ``codec``,
    ``codec_fingerprint``. The rows are written to Arrow files as they are
    read; ``.to_parquet(path)`` or ``.save_to_disk(path)`` keep them.

    Parameters
    ----------
    dataset : TokenSequenceDataset
        The sequences.
    cache_dir : path-like | None
        Where ``datasets`` writes its Arrow files (None: its default cache).

    Returns
    -------
    hf_dataset : datasets.Dataset
        Needs ``datasets`` (``pip install mne-codec[lm]``).
    """
    # lazy: datasets is the optional ``lm`` extra
    from datasets import Dataset

    whole = copy.copy(dataset)
    whole.rank, whole.world_size, whole.start_step, whole.shuffle_buffer = 0, 1, 0, 0
    whole._cache = type(dataset._cache)()
    return Dataset.from_generator(_rows, gen_kwargs={"dataset": whole}, cache_dir=cache_dir)
