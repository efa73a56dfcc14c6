"""Row validation: every row either becomes a clean, typed record or gets a reason.

Checks are vectorized over the whole frame. A row keeps the *first* reason it fails;
the reasons and their Spanish wording are listed in ``MOTIVOS`` (and docs/FORMATOS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from geoportal.ingest.readers import utf8_bytes

MOTIVOS = {
    "campo_faltante": "falta un campo obligatorio",
    "valor_invalido": "valor no válido",
    "coordenadas_faltantes": "faltan las coordenadas",
    "coordenadas_invalidas": "coordenadas no numéricas",
    "coma_decimal": "coordenada con coma decimal; use punto decimal (p. ej. -25.28)",
    "lat_lon_invertidas": "latitud y longitud parecen invertidas (intercambiadas caen en Paraguay)",
    "fuera_de_paraguay": "el punto cae fuera de Paraguay",
    "fuera_del_distrito": "el punto cae fuera del distrito declarado, más allá de la tolerancia",
    "distrito_desconocido": "código de distrito desconocido",
    "id_duplicado": "identificador repetido en el archivo",
    "fecha_invalida": "fecha no válida",
    "edad_fuera_de_rango": "edad fuera de rango (0 a 120 años)",
    "servicio_desconocido": "código de servicio desconocido o que no corresponde a la unidad",
    "persona_sin_hogar": "la persona no pertenece a ningún hogar cargado",
    "tipo_desconocido": "tipo de punto de entrega desconocido",
    "caracteres_invalidos": "caracteres inválidos (de control, p. ej. NUL)",
    "texto_demasiado_largo": "texto más largo que el máximo del campo",
    "fila_mal_formada": "fila mal formada (número de columnas distinto del encabezado)",
}

# Longest text accepted per field (characters; docs/FORMATOS.md). Real names are far
# shorter: the longest MEC school name has 149 characters, the longest locality 48.
LIMITES = {
    "hogar_id": 64,
    "persona_id": 64,
    "punto_id": 64,
    "localidad": 100,
    "referencia": 200,
    "nombres": 100,
    "apellidos": 100,
    "nombre": 200,
    "origen": 60,
    "servicios": 500,
    "unidad_id": 64,
    "fuente": 100,
}

# C0 controls (tab, newline and NUL included), DEL and the C1 controls that mis-decoded
# text leaves behind: never part of a name, and NUL cannot be stored by PostgreSQL.
CONTROL = r"[\x00-\x1f\x7f-\x9f]"

# Generous bounding box of Paraguay; the polygon test comes after it.
PY_LON = (-62.7, -54.2)
PY_LAT = (-27.7, -19.2)

TRUE_WORDS = {"si", "sí", "s", "1", "true", "verdadero", "x"}
FALSE_WORDS = {"no", "n", "0", "false", "falso", ""}


@dataclass
class Checked:
    """Outcome of validation: a reason per row (None = clean) and parsed columns."""

    motivo: np.ndarray  # object array of reason codes or None
    detalle: np.ndarray  # object array of Spanish details
    ok: np.ndarray  # bool: no reason so far

    @classmethod
    def empty(cls, n: int) -> Checked:
        return cls(np.full(n, None, dtype=object), np.full(n, "", dtype=object), np.ones(n, dtype=bool))

    def flag(self, mask, motivo: str, detalle=None) -> None:
        """Give ``motivo`` to rows in ``mask`` that have no reason yet."""
        mask = np.asarray(mask, dtype=bool) & self.ok
        if not mask.any():
            return
        self.ok &= ~mask
        self.motivo[mask] = motivo
        if detalle is None:
            self.detalle[mask] = MOTIVOS[motivo]
        elif isinstance(detalle, str):
            self.detalle[mask] = detalle
        else:
            self.detalle[mask] = np.asarray(detalle, dtype=object)[mask]


def require_columns(frame: pd.DataFrame, columns: list[str], kind: str, filename: str) -> None:
    from geoportal.ingest.readers import FileError

    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise FileError(
            f"{filename}: faltan columnas obligatorias para {kind}: {', '.join(missing)}. "
            f"Columnas encontradas: {', '.join(frame.columns) or '(ninguna)'}."
        )


def isin(values, allowed) -> np.ndarray:
    """Hash-based membership with Arrow (numpy's isin sorts object arrays: slow for millions)."""
    if isinstance(values, pd.Categorical):
        return isin(np.asarray(values.categories, dtype=object), allowed)[values.codes]
    array = values.array if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
    value_set = allowed if isinstance(allowed, pa.Array) else pa.array([str(a) for a in allowed], type=pa.string())
    return pc.is_in(pa.array(array, type=pa.string(), from_pandas=True), value_set=value_set).to_numpy(
        zero_copy_only=False
    )


def per_unique(values: pd.Series, function) -> pd.Categorical:
    """Apply ``function`` to each distinct value once and spread the results.

    Codes, zones, flags, dates and service lists repeat millions of times nationally; a
    Categorical keeps one copy of each result (and reaches COPY without conversion).
    """
    inverse, uniques = pd.factorize(values)
    results = np.empty(len(uniques), dtype=object)
    results[:] = [function(u) for u in uniques]
    return categorical(results, inverse)


def categorical(results: np.ndarray, inverse: np.ndarray) -> pd.Categorical:
    """``results[inverse]`` as a Categorical (results may repeat or be NaN)."""
    result_codes, categories = pd.factorize(results, use_na_sentinel=True)
    codes = np.where(inverse >= 0, result_codes[np.maximum(inverse, 0)], -1)
    return pd.Categorical.from_codes(codes, categories=categories)


def _arrow(values: pd.Series) -> pa.ChunkedArray:
    array = values.array
    if isinstance(getattr(array, "_pa_array", None), pa.ChunkedArray):  # Arrow-backed: no copy
        return array._pa_array
    return pa.chunked_array([pa.array(array, type=pa.string(), from_pandas=True)])


def _may_have_control(column: pa.ChunkedArray) -> bool:
    """One pass over the raw UTF-8 bytes, in blocks (the usual case: none found).

    C0 controls are bytes below 0x20, DEL is 0x7F and the C1 controls are 0xC2 followed by
    0x80-0x9F; reductions over 1 MiB blocks scan ~5 GB/s with no large temporary array.
    """
    block = 1 << 20
    scratch = np.empty(block + 1, dtype=bool)
    for chunk in column.chunks:
        data, offsets = utf8_bytes(chunk)
        data = data[offsets[0] : offsets[-1]] if data.size else data
        for start in range(0, data.size, block):
            part = data[start : start + block + 1]  # one byte of overlap for the C1 pairs
            if part.min() < 0x20:
                return True
            mask = scratch[: part.size]
            if np.equal(part, 0x7F, out=mask).any():
                return True
            if np.equal(part, 0xC2, out=mask).any():
                follow = part[np.flatnonzero(mask[:-1]) + 1]
                if ((follow >= 0x80) & (follow <= 0x9F)).any():
                    return True
    return False


def check_characters(frame: pd.DataFrame, checked: Checked) -> None:
    """Rows with a control character in any column."""
    for column in frame.columns:
        array = _arrow(frame[column])
        if not _may_have_control(array):
            continue
        hit = pc.match_substring_regex(array, CONTROL)
        checked.flag(
            hit.to_numpy(zero_copy_only=False),
            "caracteres_invalidos",
            f"el campo '{column}' contiene caracteres de control (p. ej. NUL o salto de línea)",
        )


def check_lengths(frame: pd.DataFrame, checked: Checked) -> None:
    """Rows whose text exceeds the limit of its field (``LIMITES``)."""
    for column, limit in LIMITES.items():
        if column not in frame:
            continue
        array = _arrow(frame[column])
        # A value has at most as many characters as bytes: count characters only if needed.
        if max((int(np.diff(utf8_bytes(c)[1]).max(initial=0)) for c in array.chunks), default=0) <= limit:
            continue
        length = pc.utf8_length(array)
        long = pc.greater(length, limit).to_numpy(zero_copy_only=False)
        if not long.any():
            continue
        lengths = length.to_numpy(zero_copy_only=False)
        detail = np.full(len(frame), "", dtype=object)
        detail[long] = [
            f"'{column}' tiene {n:,} caracteres; el máximo es {limit}".replace(",", ".") for n in lengths[long]
        ]
        checked.flag(long, "texto_demasiado_largo", detail)


def check_text(frame: pd.DataFrame, checked: Checked) -> None:
    check_characters(frame, checked)
    check_lengths(frame, checked)


def is_empty(values: pd.Series) -> np.ndarray:
    return (values == "").to_numpy(dtype=bool)


def check_required(frame: pd.DataFrame, columns: list[str], checked: Checked) -> None:
    for column in columns:
        checked.flag(is_empty(frame[column]), "campo_faltante", f"falta el campo obligatorio '{column}'")


def check_duplicates(ids: pd.Series, checked: Checked) -> None:
    """Later occurrences of an id are quarantined; the first one stays."""
    array = pa.array(ids.array, type=pa.string(), from_pandas=True)
    if pc.count_distinct(array).as_py() == len(array):  # the usual case, in one hash pass
        return
    dup = ids.duplicated(keep="first").to_numpy() & ~is_empty(ids)
    if not dup.any():
        return
    codes = pd.factorize(ids)[0]
    first = pd.Series(np.arange(1, len(ids) + 1)).groupby(codes).transform("first").to_numpy()
    detail = np.full(len(ids), "", dtype=object)
    detail[dup] = [f"identificador repetido; ya aparece en la fila {f}" for f in first[dup]]
    checked.flag(dup, "id_duplicado", detail)


def to_float(values: pd.Series) -> np.ndarray:
    """Text to float; NaN where it does not parse (fast Arrow cast when all rows parse)."""
    try:
        return pc.cast(pa.array(values.array, type=pa.string(), from_pandas=True), pa.float64()).to_numpy(
            zero_copy_only=False
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def parse_coordinates(frame: pd.DataFrame, checked: Checked) -> tuple[np.ndarray, np.ndarray]:
    blank = pd.Series([""] * len(frame), dtype="str")
    lon_txt = frame.get("lon", blank)
    lat_txt = frame.get("lat", blank)
    missing = is_empty(lon_txt) | is_empty(lat_txt)
    checked.flag(missing, "coordenadas_faltantes")
    lon, lat = to_float(lon_txt), to_float(lat_txt)
    bad = ~missing & (np.isnan(lon) | np.isnan(lat) | ~np.isfinite(lon) | ~np.isfinite(lat))
    comma = bad & (
        lon_txt.str.contains(",", regex=False).to_numpy(dtype=bool)
        | lat_txt.str.contains(",", regex=False).to_numpy(dtype=bool)
    )
    checked.flag(comma, "coma_decimal")
    checked.flag(bad, "coordenadas_invalidas")
    return lon, lat


def check_in_paraguay(lon, lat, country: shapely.Geometry, checked: Checked, candidates: np.ndarray) -> None:
    """Among ``candidates`` rows, flag swapped coordinates and points outside the country."""
    idx = np.flatnonzero(candidates & checked.ok)
    if idx.size == 0:
        return
    inside = shapely.contains_xy(country, lon[idx], lat[idx])
    swapped = ~inside & shapely.contains_xy(country, lat[idx], lon[idx])
    mask = np.zeros(len(lon), dtype=bool)
    mask[idx[swapped]] = True
    checked.flag(mask, "lat_lon_invertidas")
    mask[:] = False
    mask[idx[~inside & ~swapped]] = True
    checked.flag(mask, "fuera_de_paraguay")


def parse_dates(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """ISO ``AAAA-MM-DD`` or ``DD/MM/AAAA`` -> (datetime64 with NaT where neither parses,
    ISO text for the database). Each distinct text is parsed once."""
    inverse, uniques = pd.factorize(values)
    texts = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
    parsed = pd.to_datetime(texts, format="%Y-%m-%d", errors="coerce")
    rest = parsed.isna() & (texts != "")
    if rest.any():
        parsed[rest] = pd.to_datetime(texts[rest], format="%d/%m/%Y", errors="coerce")
    days = parsed.to_numpy(dtype="datetime64[ns]")
    iso = np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype(object)
    iso[np.isnat(days)] = None
    return days[inverse], categorical(iso, inverse)


def parse_flags(frame: pd.DataFrame, column: str, checked: Checked) -> np.ndarray:
    if column not in frame:
        return np.zeros(len(frame), dtype=bool)
    word = per_unique(
        frame[column],
        lambda w: "t" if str(w).lower() in TRUE_WORDS else ("f" if str(w).lower() in FALSE_WORDS else "?"),
    )
    truthy, falsy = word == "t", word == "f"
    checked.flag(~truthy & ~falsy, "valor_invalido", f"'{column}' debe ser si o no")
    return truthy


def parse_service_lists(values: pd.Series, allowed: frozenset[str], checked: Checked) -> np.ndarray:
    """Normalize 'A; b|C' to the Postgres array literal '{A,B,C}'; flag unknown codes.

    Each distinct string is checked once: a national file has millions of rows but only
    a few thousand distinct combinations.
    """
    inverse, uniques = pd.factorize(values)
    literals = np.empty(len(uniques), dtype=object)
    problems = np.full(len(uniques), None, dtype=object)
    for i, text in enumerate(uniques):
        codes = [c.strip().upper() for c in str(text).replace("|", ";").replace(",", ";").split(";")]
        codes = [c for c in codes if c]
        unknown = sorted(set(codes) - allowed)
        if unknown:
            problems[i] = f"servicio desconocido o que no corresponde: {', '.join(unknown)}"
        literals[i] = "{" + ",".join(dict.fromkeys(codes)) + "}"
    flagged = np.flatnonzero(problems != None)
    if flagged.size:
        bad = np.isin(inverse, flagged)
        detail = np.full(len(inverse), "", dtype=object)
        detail[bad] = problems[inverse[bad]]
        checked.flag(bad, "servicio_desconocido", detail)
    return categorical(literals, inverse)
