"""DNA alphabet, cleaning and every input representation genozoo models consume.

This module owns the one place where characters become numbers. Everything is vectorized over bytes with
lookup tables (no per-character Python loop): sequences are cleaned into a ``(N, L)`` uint8 *code* matrix
(``A=0 C=1 G=2 T=3 N=4 PAD=5``), and every representation is computed from codes:

================  ==========================  =====================================================
kind              shape                       used by
================  ==========================  =====================================================
``onehot``        ``(N, 4, L)`` float32        generic CNNs (gReLU convention, channels first)
``kmer_image``    ``(N, 1, L-k+1, 4**k*(r+1))``  the study's Conv2D CNNs (k=3; region r=0 or 2), uint8
``kmer_seq``      ``(N, 4**k*(r+1), L-k+1)``   the DeepRAM "onehot" models (k=3, r=2), channels first, uint8
``tokens``        ``(N, L)`` int64             embedding models (vocabulary :data:`TOKENS`)
================  ==========================  =====================================================

The k-mer one-hot holds 64-192 values per position, so it is emitted as uint8 0/1 (a quarter of the memory
and of the host-to-device traffic of float32, and about twice as fast to build); the models that take it cast
it to float in their first line.

An :class:`Encoding` record (JSON-serializable) names the representation and its parameters, including the
fixed length and the pad/crop policy; it is part of every model's config so callers never guess.
"""
from __future__ import annotations

import dataclasses
import functools
import numbers
from dataclasses import dataclass
from typing import Iterable, Literal, Sequence

import numpy as np

from zoo.errors import UserError

__all__ = [
    "ALPHABET", "TOKENS", "PAD_TOKEN", "N_TOKEN", "IUPAC_AMBIGUOUS", "SPLICE_MAPPING",
    "EncodingError", "Encoding", "clean", "to_codes", "codes_to_strings", "fit_length",
    "one_hot", "one_hot_to_strings", "kmer_index", "kmer_onehot", "tokens", "tokens_to_strings",
    "reverse_complement", "reverse_complement_encoded", "encode",
]

ALPHABET = "ACGT"
A, C, G, T, N, PAD = range(6)
#: Token vocabulary of the embedding models: id -> symbol. PAD is 0 so ``padding_idx=0`` works.
TOKENS = ("<pad>", "N", "A", "C", "G", "T")
PAD_TOKEN, N_TOKEN = 0, 1
#: IUPAC ambiguity codes (all mapped to N by default).
IUPAC_AMBIGUOUS = "NRYSWKMBDHV"
#: The study's replacement of ambiguity codes in the UCI splice data (PAPER.md).
SPLICE_MAPPING = {"N": "A", "D": "T", "S": "C", "R": "G"}

Kind = Literal["onehot", "kmer_image", "kmer_seq", "tokens"]
KINDS: tuple[str, ...] = ("onehot", "kmer_image", "kmer_seq", "tokens")


class EncodingError(UserError):
    """A sequence cannot be encoded (invalid character, wrong length, empty input)."""


def _build_lut(ambiguity: str | dict[str, str]) -> np.ndarray:
    lut = np.full(256, 255, dtype=np.uint8)
    for i, base in enumerate(ALPHABET):
        lut[ord(base)] = lut[ord(base.lower())] = i
    lut[ord("U")] = lut[ord("u")] = T
    mapping = SPLICE_MAPPING if ambiguity == "splice" else (ambiguity if isinstance(ambiguity, dict) else {})
    for code in IUPAC_AMBIGUOUS:
        target = ALPHABET.index(mapping[code]) if code in mapping else N
        lut[ord(code)] = lut[ord(code.lower())] = target
    return lut


_LUTS = {"N": _build_lut("N"), "splice": _build_lut("splice")}
_LUT_BYTES = {name: lut.tobytes() for name, lut in _LUTS.items()}
_COMPLEMENT_CODES = np.array([T, G, C, A, N, PAD], dtype=np.uint8)
_CODE_TO_CHAR = np.frombuffer(b"ACGTN-", dtype=np.uint8)
_BASES = np.arange(4, dtype=np.uint8)


@dataclass(frozen=True)
class Encoding:
    """How a model wants its input: representation, parameters, fixed length and pad/crop policy.

    ``length`` is the sequence length in nucleotides the model was built for (``None``: any length, all
    sequences of a batch padded to the longest). Sequences of another length are padded with PAD (all-zero
    one-hot rows) or cropped, at the ``right`` end or evenly on both ends (``center``).
    """

    kind: Kind = "onehot"
    length: int | None = None
    k: int = 3
    region: int = 0
    pad_mode: Literal["right", "center"] = "right"
    n_value: float = 0.0
    ambiguity: str = "N"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown encoding kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.pad_mode not in ("right", "center"):
            raise ValueError(f"pad_mode must be 'right' or 'center', not {self.pad_mode!r}")
        if self.ambiguity not in _LUTS:
            raise ValueError(f"ambiguity must be one of {', '.join(_LUTS)}, not {self.ambiguity!r}")
        for name, least in (("length", 1), ("k", 1), ("region", 0)):
            value = getattr(self, name)
            if name == "length" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
                raise ValueError(f"encoding {name} must be a whole number of at least {least}, not {value!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Encoding":
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ValueError(f"unknown encoding field(s) {sorted(unknown)}; known: {sorted(fields)}")
        return cls(**d)

    def replace(self, **changes) -> "Encoding":
        return dataclasses.replace(self, **changes)

    def shape(self, length: int | None = None) -> tuple[int, ...]:
        """Shape of one encoded sequence (without the batch axis)."""
        L = length or self.length
        if L is None:
            raise ValueError("the encoding has no fixed length; pass one")
        width = 4 ** self.k * (self.region + 1)
        return {
            "onehot": (4, L),
            "kmer_image": (1, L - self.k + 1, width),
            "kmer_seq": (width, L - self.k + 1),
            "tokens": (L,),
        }[self.kind]


# ----------------------------------------------------------------------------------------------- cleaning
def _as_list(sequences: str | Iterable[str]) -> list[str]:
    if isinstance(sequences, str):
        return [sequences]
    return list(sequences)


def _describe(i: int, ids: Sequence[str] | None) -> str:
    return f"sequence {i} ({ids[i]!r})" if ids is not None else f"sequence {i}"


def _raw_codes(seqs: list[str], ambiguity: str, ids: Sequence[str] | None) -> tuple[np.ndarray, list[int]]:
    """Concatenated codes of all sequences and their lengths; raises on any invalid character."""
    if not seqs:
        raise EncodingError("no sequences to encode")
    joined = "".join(seqs)
    lengths = list(map(len, seqs))  # a list: building an array costs more than the rest for short batches
    # Non-ASCII characters become '?' (one byte per character, so positions hold), which the table rejects.
    # bytes.translate is a C loop over a 256-byte table: about 5x faster than a numpy gather.
    raw = joined.encode("ascii", errors="replace").translate(_LUT_BYTES[ambiguity])
    codes = np.frombuffer(bytearray(raw), dtype=np.uint8)
    if not codes.size or codes.max() <= PAD:
        return codes, lengths
    bad = int(np.flatnonzero(codes == 255)[0])
    seq_i = int(np.searchsorted(np.cumsum(lengths), bad, side="right"))
    pos = bad - sum(lengths[:seq_i])
    raise EncodingError(
        f"{_describe(seq_i, ids)} has invalid character {joined[bad]!r} at position {pos + 1}; "
        f"allowed are A, C, G, T, U and the IUPAC ambiguity codes {', '.join(IUPAC_AMBIGUOUS)}"
    )


def clean(sequences: str | Iterable[str], *, ambiguity: str = "N",
          ids: Sequence[str] | None = None) -> list[str]:
    """Upper-case, ``U``->``T``, ambiguity codes -> ``N`` (or the study's splice mapping with
    ``ambiguity="splice"``). Any other character raises :class:`EncodingError` naming sequence and position."""
    seqs = _as_list(sequences)
    codes, lengths = _raw_codes(seqs, ambiguity, ids)
    text = _CODE_TO_CHAR[codes].tobytes().decode("ascii")
    ends = np.cumsum(lengths)
    return [text[e - n:e] for e, n in zip(ends.tolist(), lengths)]


def to_codes(sequences: str | Iterable[str], length: int | None = None, *, pad_mode: str = "right",
             ambiguity: str = "N", ids: Sequence[str] | None = None) -> np.ndarray:
    """Clean and convert to a ``(N, length)`` uint8 code matrix, padding (PAD) or cropping to ``length``
    (default: the longest sequence)."""
    seqs = _as_list(sequences)
    flat, lens = _raw_codes(seqs, ambiguity, ids)
    n = len(seqs)
    target = max(lens) if length is None else int(length)
    if min(lens) == max(lens) == target:
        return flat.reshape(n, target) if target else np.zeros((n, 0), np.uint8)
    lengths = np.asarray(lens, dtype=np.int64)
    # Variable lengths: place each sequence at an offset (negative = crop) inside a PAD-filled row.
    if pad_mode == "center":
        offset = (target - lengths) // 2
    else:
        offset = np.zeros(n, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    row = np.repeat(np.arange(n), lengths)
    col = np.arange(flat.size) - np.repeat(starts, lengths) + np.repeat(offset, lengths)
    keep = (col >= 0) & (col < target)
    out = np.full((n, target), PAD, dtype=np.uint8)
    out[row[keep], col[keep]] = flat[keep]
    return out


def fit_length(codes: np.ndarray, length: int, pad_mode: str = "right") -> np.ndarray:
    """Pad (with PAD) or crop a code matrix to ``length`` columns, at the right end or centered."""
    n, L = codes.shape
    if L == length:
        return codes
    out = np.full((n, length), PAD, dtype=np.uint8)
    shift = (length - L) // 2 if pad_mode == "center" else 0
    src0, dst0 = max(0, -shift), max(0, shift)
    m = min(L - src0, length - dst0)
    out[:, dst0:dst0 + m] = codes[:, src0:src0 + m]
    return out


def codes_to_strings(codes: np.ndarray, strip_pad: bool = True) -> list[str]:
    """Inverse of :func:`to_codes` (ambiguity codes come back as ``N``)."""
    chars = _CODE_TO_CHAR[np.asarray(codes, dtype=np.uint8)]
    rows = [r.tobytes().decode("ascii") for r in chars]
    return [r.replace("-", "") for r in rows] if strip_pad else rows


def reverse_complement(sequences: str | Iterable[str], ambiguity: str = "N") -> list[str]:
    """Reverse complement of cleaned sequences (ambiguity codes become ``N``)."""
    seqs = _as_list(sequences)
    flat, lengths = _raw_codes(seqs, ambiguity, None)
    # Reversing the concatenation reverses every sequence and their order; undo the latter below.
    text = _CODE_TO_CHAR[_COMPLEMENT_CODES[flat][::-1]].tobytes().decode("ascii")
    ends = np.cumsum(lengths[::-1]).tolist()
    return [text[e - n:e] for e, n in zip(ends, lengths[::-1])][::-1]


# ------------------------------------------------------------------------------------------ representations
def one_hot(codes: np.ndarray, n_value: float = 0.0) -> np.ndarray:
    """``(N, L)`` codes -> ``(N, 4, L)`` float32; N is all-``n_value`` (0 or 0.25), PAD all-zero."""
    codes = np.asarray(codes, dtype=np.uint8)
    # A broadcast comparison then one cast is ~3x faster than a table gather plus transpose.
    out = (codes[:, None, :] == _BASES[None, :, None]).astype(np.float32)
    if n_value:
        out += (codes == N)[:, None, :] * np.float32(n_value)
    return out


def one_hot_to_strings(x: np.ndarray, lengths: Sequence[int] | None = None) -> list[str]:
    """Inverse of :func:`one_hot`: the hot base, else ``N``. With ``n_value=0`` an N column and a PAD column are
    both all-zero, so pass ``lengths`` to drop padding."""
    x = np.asarray(x)
    codes = x.argmax(axis=1).astype(np.uint8)
    codes[(x == 1).sum(axis=1) != 1] = N
    rows = codes_to_strings(codes)
    return rows if lengths is None else [r[:n] for r, n in zip(rows, lengths)]


@functools.lru_cache(maxsize=None)
def _kmer_table(k: int) -> np.ndarray:
    """Word index of every k-tuple of codes read as a base-6 number (codes 0-5); -1 where one is N/PAD."""
    digits = np.indices((6,) * k).reshape(k, -1).T  # most significant first
    words = (np.minimum(digits, 3) * 4 ** np.arange(k)[::-1]).sum(axis=1)
    words[(digits > 3).any(axis=1)] = -1
    return words.astype(np.int16)


def _kmer_words(codes: np.ndarray, k: int) -> np.ndarray:
    """``(N, L)`` codes -> ``(N, L-k+1)`` int16 word index in ``[0, 4**k)``; -1 where the window holds N/PAD.
    The window's codes form a base-6 number that one table lookup turns into the word (k <= 7)."""
    codes = np.asarray(codes, dtype=np.uint8)
    P = codes.shape[1] - k + 1
    if P < 1:
        raise EncodingError(f"sequences of length {codes.shape[1]} are shorter than k={k}")
    if not 1 <= k <= 7:
        raise EncodingError(f"k must be between 1 and 7, not {k}")
    key = np.zeros((codes.shape[0], P), dtype=np.uint8 if 6 ** k <= 256 else np.int32)
    for j in range(k):
        key *= 6
        key += codes[:, j:j + P]
    return _kmer_table(k)[key]


def kmer_index(codes: np.ndarray, k: int = 3) -> np.ndarray:
    """``(N, L)`` codes -> ``(N, L-k+1)`` int64 word index in ``[0, 4**k)``; -1 where the window holds N/PAD."""
    return _kmer_words(codes, k).astype(np.int64)


def kmer_onehot(codes: np.ndarray, k: int = 3, region: int = 0, layout: str = "image",
                dtype=np.uint8) -> np.ndarray:
    """The study's k-mer one-hot with region stacking, as 0/1 of ``dtype`` (uint8 by default).

    Position ``p`` holds the one-hot words of positions ``p, p+1, ..., p+region`` side by side (width
    ``4**k * (region+1)``; past the end zero). ``layout="image"`` gives ``(N, 1, P, W)`` (Conv2D input),
    ``layout="seq"`` gives ``(N, W, P)`` (Conv1D/LSTM input, channels first), with ``P = L-k+1``.
    """
    idx = _kmer_words(codes, k).astype(np.intp)
    n, P = idx.shape
    V, W = 4 ** k, 4 ** k * (region + 1)
    # The output is 64-192x larger than the input, so it is touched once: a zeroed buffer and one scatter of
    # the ones per region block through flat offsets. Windows holding N/PAD (-1) write into one spare element
    # past the end (cheaper than masking them out), which the returned view leaves off.
    image = layout == "image"
    size = n * P * W
    buf = np.zeros(size + 1, dtype=dtype)
    rows = np.arange(n)[:, None] * (P * W)
    if image:
        base, word_stride = rows + np.arange(P)[None, :] * W, 1   # out[i, p, word]
    else:
        base, word_stride = rows + np.arange(P)[None, :], P       # out[i, word, p]
    for j in range(min(region + 1, P)):
        w = idx[:, j:]
        buf[np.where(w >= 0, base[:, :P - j] + (j * V + w) * word_stride, size)] = 1
    out = buf[:size].reshape((n, P, W) if image else (n, W, P))
    return out[:, None] if image else out


_CODE_TO_TOKEN = np.array([2, 3, 4, 5, N_TOKEN, PAD_TOKEN], dtype=np.int64)
_TOKEN_TO_CODE = np.array([PAD, N, A, C, G, T], dtype=np.uint8)


def tokens(codes: np.ndarray) -> np.ndarray:
    """``(N, L)`` codes -> ``(N, L)`` int64 token ids over :data:`TOKENS`."""
    return _CODE_TO_TOKEN[np.asarray(codes, dtype=np.uint8)]


def tokens_to_strings(ids: np.ndarray) -> list[str]:
    return codes_to_strings(_TOKEN_TO_CODE[np.asarray(ids)])


# --------------------------------------------------------------------------------- reverse complement
def _kmer_rc_permutation(k: int) -> np.ndarray:
    words = np.arange(4 ** k)
    digits = (words[:, None] // 4 ** np.arange(k)[None, ::-1]) % 4  # most significant first
    rc_digits = 3 - digits[:, ::-1]
    return (rc_digits * 4 ** np.arange(k)[None, ::-1]).sum(axis=1)


def reverse_complement_encoded(x, enc: Encoding):
    """Reverse complement of an encoded batch (numpy or torch), for every representation.

    For equal-length unpadded input, ``reverse_complement_encoded(encode(s), enc) == encode(rc(s))``.
    """
    is_torch = not isinstance(x, np.ndarray)
    xp = x.detach().cpu().numpy() if is_torch else x
    if enc.kind == "onehot":
        out = xp[:, ::-1, ::-1]
    elif enc.kind == "tokens":
        complement = np.array([PAD_TOKEN, N_TOKEN, 5, 4, 3, 2], dtype=xp.dtype)
        out = complement[xp][:, ::-1]
    else:
        V = 4 ** enc.k
        seq = xp[:, 0] if enc.kind == "kmer_image" else xp.transpose(0, 2, 1)  # (N, P, W)
        words = seq[:, ::-1, :V][:, :, np.argsort(_kmer_rc_permutation(enc.k))]
        n, P, _ = words.shape
        out = np.zeros_like(seq)
        for j in range(min(enc.region + 1, P)):
            out[:, :P - j, j * V:(j + 1) * V] = words[:, j:]
        out = out[:, None] if enc.kind == "kmer_image" else out.transpose(0, 2, 1)
    out = np.ascontiguousarray(out)
    if is_torch:
        import torch
        return torch.from_numpy(out).to(x.device)
    return out


# ------------------------------------------------------------------------------------------------ encode
def encode(sequences: str | Iterable[str], enc: Encoding | dict | None = None, *,
           ids: Sequence[str] | None = None, return_tensor: bool = True):
    """Clean, pad/crop to ``enc.length`` and encode sequences into the representation ``enc`` names.

    Returns a torch tensor (``return_tensor=True``) or a numpy array.
    """
    enc = Encoding() if enc is None else (Encoding.from_dict(enc) if isinstance(enc, dict) else enc)
    codes = to_codes(sequences, enc.length, pad_mode=enc.pad_mode, ambiguity=enc.ambiguity, ids=ids)
    return encode_codes(codes, enc, return_tensor=return_tensor)


def encode_codes(codes: np.ndarray, enc: Encoding, return_tensor: bool = True):
    """Encode an already cleaned code matrix (see :func:`to_codes`)."""
    if enc.kind == "onehot":
        out = one_hot(codes, enc.n_value)
    elif enc.kind == "tokens":
        out = tokens(codes)
    else:
        out = kmer_onehot(codes, enc.k, enc.region, "image" if enc.kind == "kmer_image" else "seq")
    if return_tensor:
        import torch
        return torch.from_numpy(out)
    return out
