"""Read an input file into a frame of *strings*, whatever its format or encoding.

Validation needs the raw text (a decimal comma is a reason, not a parse error), so every
column is read as text; CSV in UTF-8, UTF-8 with BOM or Windows-1252, separated by ``,``
or ``;``; GeoJSON and GeoPackage through pyogrio, whose point geometry becomes
``lon``/``lat`` columns.
"""

from __future__ import annotations

import codecs
import hashlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


class FileError(ValueError):
    """The file as a whole cannot be read; nothing was loaded."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def detect_encoding(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            for block in iter(lambda: fh.read(1 << 22), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8"


def _separator(path: Path, encoding: str) -> str:
    with open(path, encoding=encoding, errors="replace") as fh:
        header = fh.readline()
    return ";" if header.count(";") > header.count(",") else ","


def read_table(path: Path | str) -> pd.DataFrame:
    """All columns as stripped strings ('' when empty), lower-case column names."""
    path = Path(path)
    if not path.exists():
        raise FileError(f"No existe el archivo {path}")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        frame = _read_csv(path)
    elif suffix in (".geojson", ".json", ".gpkg"):
        frame = _read_vector(path)
    else:
        raise FileError(f"Formato no soportado: '{suffix}'. Use CSV, GeoJSON o GeoPackage.")
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    if frame.columns.duplicated().any():
        dup = sorted(set(frame.columns[frame.columns.duplicated()]))
        raise FileError(f"Columnas repetidas en {path.name}: {', '.join(dup)}")
    return frame.reset_index(drop=True)


def _read_csv(path: Path) -> pd.DataFrame:
    encoding = detect_encoding(path)
    try:
        frame = pd.read_csv(
            path, sep=_separator(path, encoding), dtype=str, encoding=encoding,
            keep_default_na=False, engine="pyarrow",
        )
    except (pd.errors.ParserError, pa.ArrowInvalid) as exc:
        raise FileError(f"{path.name}: CSV mal formado ({exc}). No se cargó ninguna fila.") from None
    except pd.errors.EmptyDataError:
        raise FileError(f"{path.name}: el archivo está vacío.") from None
    for column in frame.columns:
        values = frame[column].fillna("")
        # Trimming copies millions of strings: only when some value needs it.
        array = pa.array(values.array, type=pa.string(), from_pandas=True)
        if any(pc.any(test(array, pattern=blank)).as_py()
               for test in (pc.starts_with, pc.ends_with) for blank in (" ", "\t", "\r", "\xa0")):
            values = values.str.strip()
        frame[column] = values
    return frame


def _read_vector(path: Path) -> pd.DataFrame:
    import pyogrio

    try:
        gdf = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises several GDAL error types
        raise FileError(f"{path.name}: no se pudo leer como GeoJSON/GeoPackage ({exc}).") from None
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
