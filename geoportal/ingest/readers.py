"""Read an input file into a frame of *strings*, whatever its format or encoding.

Validation needs the raw text (a decimal comma is a reason, not a parse error), so every
column is read as text; CSV in UTF-8, UTF-8 with BOM or Windows-1252, separated by ``,``
or ``;``; GeoJSON and GeoPackage through pyogrio, whose point geometry becomes
``lon``/``lat`` columns.

A file that cannot be read as a whole (a folder, an empty file, a spreadsheet or other
binary file, text in another encoding, a GeoPackage that is not one) raises ``FileError``
with a Spanish message. A CSV row that does not parse (a truncated last line, a separator
inside an unquoted value) is not a reason to reject the file: it is returned apart, as a
``MalformedRow``, and quarantined by the loader.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv


class FileError(ValueError):
    """The file as a whole cannot be read; nothing was loaded."""


@dataclass
class MalformedRow:
    fila: int  # data row number, 1-based (the header is not a row)
    texto: str
    detalle: str


@dataclass
class Reading:
    frame: pd.DataFrame
    malformed: list[MalformedRow] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.frame) + len(self.malformed)

    def row_numbers(self) -> np.ndarray:
        """1-based file row number of each frame row (malformed rows leave gaps)."""
        taken = np.array(sorted(m.fila for m in self.malformed), dtype=np.int64)
        numbers = np.arange(1, self.rows + 1, dtype=np.int64)
        return np.setdiff1d(numbers, taken, assume_unique=True) if taken.size else numbers


# Magic numbers of files a clerk may rename to .csv by mistake.
SIGNATURES = [
    (b"PK\x03\x04", "es un archivo comprimido (ZIP) o una planilla XLSX/ODS; ábralo y guárdelo como CSV"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "es una planilla de Excel (XLS); guárdela como CSV"),
    (b"SQLite format 3\x00", "es una base SQLite o un GeoPackage; si es un GeoPackage use la extensión .gpkg"),
    (b"%PDF", "es un documento PDF, no una tabla"),
    (b"\x1f\x8b", "está comprimido con gzip; descomprímalo primero"),
    (b"\xff\xfe", "está codificado en UTF-16; guárdelo como CSV UTF-8"),
    (b"\xfe\xff", "está codificado en UTF-16; guárdelo como CSV UTF-8"),
]
# Bytes that do not occur in text (C0 controls but tab, newline, carriage return, form feed).
_BINARY = np.zeros(256, dtype=bool)
_BINARY[[b for b in range(32) if b not in (9, 10, 12, 13)]] = True
SAMPLE = 1 << 16
# Arrow's CSV block (its default); a row must fit in one block (see ``_read_csv``).
BLOCK = 1 << 20
MAX_BLOCK = (1 << 31) - 1


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def check_readable(path: Path) -> None:
    """The path is a non-empty regular file this process can open."""
    if path.is_dir():
        raise FileError(f"{path} es una carpeta, no un archivo. Indique el archivo CSV, GeoJSON o GeoPackage.")
    if not path.exists():
        raise FileError(f"No existe el archivo {path}.")
    if not path.is_file():
        raise FileError(f"{path} no es un archivo común (¿un dispositivo o una tubería?).")
    try:
        with open(path, "rb") as fh:
            empty = not fh.read(1)
    except OSError as exc:
        raise FileError(f"No se pudo abrir {path}: {exc.strerror or 'error de lectura'}.") from None
    if empty:
        raise FileError(f"{path.name}: el archivo está vacío.")


def check_not_binary(path: Path) -> None:
    """Refuse files that are not text: spreadsheets, archives, UTF-16, binary noise.

    A single NUL byte in a name does not make a file binary (that row is quarantined);
    more than 1 % of such bytes in the first 64 KiB does.
    """
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE)
    for magic, what in SIGNATURES:
        if head.startswith(magic):
            raise FileError(f"{path.name}: no es un archivo CSV: {what}.")
    binary = int(_BINARY[np.frombuffer(head, dtype=np.uint8)].sum())
    if binary > max(2, len(head) // 100):
        raise FileError(
            f"{path.name}: no es un archivo de texto CSV (contiene datos binarios). Exporte la tabla como CSV en UTF-8."
        )


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) or Windows-1252; anything else is a FileError."""
    with open(path, "rb") as fh:
        if fh.read(3) == codecs.BOM_UTF8:
            return "utf-8-sig"
    failure = None
    for encoding in ("utf-8", "cp1252"):
        decoder = codecs.getincrementaldecoder(encoding)()
        lines = 0
        try:
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    decoder.decode(block)
                    lines += block.count(b"\n")
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError as exc:
            failure = (exc, lines + block[: max(exc.start, 0)].count(b"\n") + 1, block)
    exc, line, block = failure
    byte = f" (byte 0x{block[exc.start]:02x} en la línea {line})" if 0 <= exc.start < len(block) else ""
    raise FileError(f"{path.name}: el texto no está en UTF-8 ni en Windows-1252{byte}. Guárdelo como CSV UTF-8.")


def _header(path: Path, encoding: str) -> tuple[str, list[str]]:
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        header = fh.readline()
    if not header.strip():
        raise FileError(f"{path.name}: la primera línea está vacía; debe tener los nombres de las columnas.")
    sep = ";" if header.count(";") > header.count(",") else ","
    names = next(csv.reader([header.rstrip("\r\n")], delimiter=sep))
    return sep, names


def read_rows(path: Path | str) -> Reading:
    """All columns as stripped strings ('' when empty), lower-case column names."""
    path = Path(path)
    check_readable(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        reading = _read_csv(path)
    elif suffix in (".geojson", ".json", ".gpkg"):
        reading = Reading(_read_vector(path))
    else:
        raise FileError(f"Formato no soportado: '{suffix}'. Use CSV, GeoJSON o GeoPackage.")
    frame = reading.frame
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if frame.columns.duplicated().any():
        dup = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise FileError(f"Columnas repetidas en {path.name}: {', '.join(dup)}.")
    reading.frame = frame.reset_index(drop=True)
    return reading


def read_table(path: Path | str) -> pd.DataFrame:
    """The frame of ``read_rows`` (malformed rows left out)."""
    return read_rows(path).frame


def _malformed_detail(expected: int, actual: int) -> str:
    if actual < expected:
        return (
            f"fila mal formada: tiene {actual} de las {expected} columnas del encabezado "
            "(¿archivo cortado o comillas sin cerrar?)"
        )
    return (
        f"fila mal formada: tiene {actual} columnas y el encabezado {expected} "
        "(¿un separador dentro de un valor sin comillas?)"
    )


def _read_csv(path: Path) -> Reading:
    check_not_binary(path)
    encoding = detect_encoding(path)
    sep, names = _header(path, encoding)
    invalid: list = []

    def skip(row) -> str:
        invalid.append((row.number, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    def parse(threads: bool, block: int) -> pa.Table:
        invalid.clear()
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                encoding="utf8" if encoding.startswith("utf-8") else encoding, use_threads=threads, block_size=block
            ),
            parse_options=pacsv.ParseOptions(delimiter=sep, invalid_row_handler=skip),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    # Arrow parses in blocks and cannot parse a row longer than one block: a row of
    # several MB (an over-long text, quarantined by validation; quoted, with line breaks
    # or not) makes it read again with larger blocks, up to the whole file, instead of
    # rejecting the file.
    size, block = path.stat().st_size, BLOCK
    while True:
        try:
            table = parse(True, block)
            if invalid:  # rare: read again in one thread, which knows each bad row's number
                table = parse(False, block)
            break
        except pa.ArrowInvalid as exc:
            # "straddles": a row longer than the block; "out of sync": a quoted value whose
            # line breaks span blocks (a several-MB text typed with Enter in it)
            if ("straddl" in str(exc) or "out of sync" in str(exc)) and block < min(size + 1, MAX_BLOCK):
                block = min(block * 8, size + 1, MAX_BLOCK)
                continue
            raise FileError(
                f"{path.name}: CSV mal formado, no se pudo leer (una fila no se pudo separar de "
                "las demás; revise comillas y separadores)."
            ) from None
        except UnicodeDecodeError:
            raise FileError(
                f"{path.name}: CSV mal formado, no se pudo leer (el texto no es válido en su codificación)."
            ) from None
    names = [str(n) for n in table.column_names]
    table = pa.table(
        [_stripped(table.column(i)) for i in range(table.num_columns)],
        names=[f"c{i}" for i in range(table.num_columns)],
    )
    frame = table.to_pandas()
    frame.columns = names
    malformed, used = [], set()
    for number, text, expected, actual in invalid:
        fila = max(1, (number or 2) - 1)
        while fila in used:
            fila += 1
        used.add(fila)
        malformed.append(MalformedRow(fila, text, _malformed_detail(expected, actual)))
    if malformed and frame.empty:
        raise FileError(
            f"{path.name}: ninguna fila tiene las {len(names)} columnas del encabezado "
            f"(separador '{sep}'); revise el separador y las comillas."
        )
    reading = Reading(frame, malformed)
    if malformed and max(used) > reading.rows:  # row numbers past the end (quoted newlines): renumber
        for i, m in enumerate(sorted(malformed, key=lambda m: m.fila)):
            m.fila = reading.rows - len(malformed) + i + 1
    return reading


def utf8_bytes(chunk: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(UTF-8 bytes of all values, value offsets) of a string chunk, without copying."""
    width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets = np.frombuffer(chunk.buffers()[1], dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1]
    data = chunk.buffers()[2]
    if data is None or len(chunk) == 0:
        return np.zeros(0, np.uint8), offsets
    return np.frombuffer(data, dtype=np.uint8), offsets


_BLANK = np.zeros(256, dtype=bool)
_BLANK[[0x20, 0x09, 0x0A, 0x0D]] = True


def _needs_trim(column: pa.ChunkedArray) -> bool:
    """Does a value start or end with a blank (space, tab, CR, LF or NBSP, C2 A0)?
    Looks only at each value's first and last bytes."""
    for chunk in column.chunks:
        data, offsets = utf8_bytes(chunk)
        starts, ends = offsets[:-1], offsets[1:]
        filled = ends > starts
        first, last = starts[filled], ends[filled] - 1
        if _BLANK[data[first]].any() or _BLANK[data[last]].any():
            return True
        nbsp_first = data[first] == 0xC2
        if nbsp_first.any() and (data[np.minimum(first[nbsp_first] + 1, data.size - 1)] == 0xA0).any():
            return True
        nbsp_last = (data[last] == 0xA0) & (last > 0)
        if nbsp_last.any() and (data[last[nbsp_last] - 1] == 0xC2).any():
            return True
    return False


def _stripped(column: pa.ChunkedArray) -> pa.ChunkedArray:
    # Trimming copies millions of strings: only when some value needs it.
    if _needs_trim(column):
        column = pc.utf8_trim(column, characters=" \t\r\n\xa0")
    return column


def _read_vector(path: Path) -> pd.DataFrame:
    import pyogrio

    kind = "GeoPackage" if path.suffix.lower() == ".gpkg" else "GeoJSON"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gdf = pyogrio.read_dataframe(path)
    except Exception:  # noqa: BLE001 -- pyogrio raises several GDAL error types, all with English text
        raise FileError(f"{path.name}: no es un {kind} válido o está dañado; no se pudo abrir.") from None
    if getattr(gdf, "_geometry_column_name", None) is None or gdf._geometry_column_name not in gdf:
        frame = pd.DataFrame(gdf)
        for column in frame.columns:
            frame[column] = frame[column].astype("string").fillna("").astype(str).str.strip()
        return frame
    geometry = gdf.geometry
    frame = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    for column in frame.columns:
        frame[column] = frame[column].astype("string").fillna("").astype(str).str.strip()
    is_point = geometry.notna() & (geometry.geom_type == "Point")
    if gdf.crs is not None and gdf.crs.to_epsg() not in (4326, None):
        geometry = geometry.to_crs(4326)
    frame["lon"] = ""
    frame["lat"] = ""
    frame.loc[is_point, "lon"] = geometry[is_point].x.map(repr)
    frame.loc[is_point, "lat"] = geometry[is_point].y.map(repr)
    return frame
