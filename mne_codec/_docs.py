"""Shared parameter documentation, filled into docstrings as MNE does (``%(name)s``)."""

docdict = {}

docdict["codec"] = """codec : str | path-like | Codec
    ``"default"`` (the codec shipped with the package), a registered name
    (:func:`mne_codec.list_codecs`), a local checkpoint, or a model."""
docdict["sfreq"] = """sfreq : float | None
    Sampling frequency of array input (taken from ``info`` for MNE objects)."""
docdict["window_s"] = """window_s : float | None
    Window length in seconds used to cut a :class:`mne.io.Raw`. None: a Raw
    is coded as one window, the whole recording (scaled once per channel
    and recording; ``BAD_`` annotations do not drop it), streamed through
    the codec in chunks of ``chunk_s`` (see
    :func:`~mne_codec.pipeline.encode_stream`): the codes of a one-pass
    encoding, with the codec's memory bounded by the chunk. Only for
    streamable (causal) codecs, such as the default codec; others raise a
    ValueError in :meth:`fit`."""
docdict["chunk_s"] = """chunk_s : float | None
    With ``window_s=None``: the chunk length in seconds, a whole number of
    codec frames (None: about 10 s). Ignored otherwise."""
docdict["n_codebooks"] = """n_codebooks : int | None
    Number of RVQ levels to use (fewer levels, fewer bits); all if None."""
docdict["picks"] = """picks : str | list of str | list of int | None
    For MNE input, the channels to code, as MNE's ``picks`` (names, types
    such as ``"eeg"``, or indices), taken as given. None (default): the
    channels of the codec's types (EEG), less those typed EEG whose names
    say they are not EEG electrodes (ECG, EOG, EMG, A1/A2/M1/M2, bipolar
    labels such as ``"A2-A1"``, status and trigger channels: see
    :func:`~mne_codec.channels.non_eeg_channels`); :meth:`fit` says which
    (at ``"INFO"``) and lists them in ``ch_names_left_out_``. ``picks="eeg"``
    codes every channel typed EEG. Ignored for arrays."""
docdict["ch_names"] = """ch_names : list of str | None
    Names of the channels of array input, in order (arrays carry none; MNE
    objects name their own channels and ignore this): what codecs that code
    channels jointly by name (NeuroRVQ) need to code arrays, e.g. in a MOABB
    pipeline, which hands arrays to its estimators. None: unnamed channels."""
docdict["resample"] = """resample : bool
    Allow resampling to the codec's rate (and back); if False, other rates raise."""
docdict["device"] = """device : str
    ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"``..."""
docdict["batch_size"] = """batch_size : int
    Channel-windows per forward pass. A batch that cannot fit in free memory
    raises a MemoryError saying what fits (CPU); on a GPU it is reduced, and
    halved on an out-of-memory error."""
docdict["memory"] = """memory : None | str | joblib.Memory
    Where to cache tokens, window by window (keyed by the window's samples,
    the codec's fingerprint and the parameters that change tokens): the
    folds of ``cross_val_score`` or ``GridSearchCV`` then tokenize each
    window once, and later sessions reuse the files. None: no cache."""
docdict["progress"] = """progress : bool | None
    Progress bars of encoding and decoding: None follows ``verbose`` (shown
    at ``"INFO"`` and below), True shows them whatever ``verbose`` says
    (``verbose="WARNING", progress=True``: the bars without the messages),
    False hides them."""
docdict["verbose_est"] = """verbose : bool | str | int | None
    MNE verbosity: messages at ``"INFO"`` and below, such as the channels
    left out and the resampling (said once per process and pair of rates,
    not at every fold); progress bars too unless ``progress`` is set."""
docdict["fitted_attributes"] = """codec_ : Codec
    The (frozen) codec.
n_codebooks_ : int
    Levels in use.
sfreq_ : float
    Sampling frequency seen in fit.
ch_names_ : list of str | None
    Channel names seen in fit (for arrays, ``ch_names``).
n_features_in_ : int
    Number of channels (``X.shape[1]`` for arrays).
ch_names_left_out_ : list of str
    Channels typed EEG left out because their names say they are not EEG
    (with ``picks=None``; empty otherwise).
picks_ : ndarray of int
    Positions, among the channels picked (``picks``), of the channels coded
    (all of them, except those a named codec does not know when
    ``unknown="drop"``)."""


def fill_doc(obj):
    """Fill ``%(name)s`` entries of ``obj``'s docstring from :data:`docdict`."""
    doc = obj.__doc__
    lines = doc.expandtabs().splitlines()
    indent = min((len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()),
                 default=0)
    entries = {k: v.replace("\n", "\n" + " " * indent) for k, v in docdict.items()}
    obj.__doc__ = doc % entries
    return obj

docdict["unknown"] = """unknown : ``"raise"`` | ``"drop"``
    For codecs that code channels jointly by name (NeuroRVQ): what to do
    with channels whose names the codec does not know: raise a ValueError,
    or leave them out with a warning (they are then not in the tokens, and
    :meth:`CodecReconstructor.reconstruct` leaves them untouched). Ignored by
    channel-independent codecs."""
docdict["precision"] = """precision : ``"fp32"`` | ``"bf16"`` | ``"fp16"``
    Encoding precision on CUDA (autocast; ``"fp32"`` on CPU). Autocast is
    faster on a GPU but changes a few codes at near-ties: see the agreement
    measured by ``benchmarks/gpu.py`` in the documentation of the codecs."""
