"""Arrow columns of the output files (ids, dictionary labels, dates) and the CSV writer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa


def _id_bytes(prefijo: np.ndarray, numero: np.ndarray, digitos: int, sep: bytes = b"") -> np.ndarray:
    """Fixed-width ASCII ids ``prefijo[i] + sep + zero-padded numero[i]`` as an (n, w) uint8 array."""
    pre = np.asarray(prefijo, dtype=np.uint8)
    width = pre.shape[1] + len(sep) + digitos
    out = np.empty((len(numero), width), dtype=np.uint8)
    out[:, : pre.shape[1]] = pre
    if sep:
        out[:, pre.shape[1] : pre.shape[1] + len(sep)] = np.frombuffer(sep, np.uint8)
    num = np.asarray(numero, dtype=np.int64)
    if len(num) and (num.max() >= 10**digitos or num.min() < 0):
        raise ValueError("numeración fuera de rango para los identificadores")
    for k in range(digitos):
        out[:, width - 1 - k] = 48 + (num // 10**k) % 10
    return out


def _id_array(ids: np.ndarray) -> pa.Array:
    """(n, w) ASCII bytes -> Arrow string array, sharing the bytes (no copy, no cast)."""
    n, width = ids.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    return pa.Array.from_buffers(
        pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(ids))]
    )


def _dict_column(indices: np.ndarray, labels: Sequence[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(indices, dtype=np.int32), pa.int32()),
        pa.array(list(labels), pa.string()),
    )


def _bits_column(bits: np.ndarray, codes: Sequence[str]) -> pa.DictionaryArray:
    """Bit sets of service codes -> ``;``-joined labels (only the combinations present)."""
    present, index = np.unique(bits, return_inverse=True)
    labels = [";".join(c for j, c in enumerate(codes) if int(b) >> j & 1) for b in present]
    return _dict_column(index, labels)


def _date_column(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), pa.int32()).view(pa.date32())


def _write(writers: dict, hogares: pa.Table, personas: pa.Table) -> None:
    # Dictionary columns are written as their values (Arrow decodes them per batch).
    writers["h"].write_table(hogares)
    writers["p"].write_table(personas)
