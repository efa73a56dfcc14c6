"""The real territory: loads schema ``territorio`` from the files in ``geoportal/datos``.

This module owns the tables ``territorio.departamento``, ``distrito_cartografico``
(245 DGEEC 2012 polygons), ``distrito`` (263 districts of the 2022 census, linked to a
polygon through the crosswalk), ``localidad`` (GeoNames places) and ``fuente`` (one row
per layer with its attribution, licence and limits, as stated in ``datos/FUENTES.md``).

:func:`load_territory` is idempotent: it upserts every row (``INSERT ... ON CONFLICT DO
UPDATE``) because ``nominal.hogar`` and ``oferta.punto_entrega`` reference these tables
and must survive a reload. Rows that are no longer in the files are deleted, children
first; that fails loudly (foreign key) if data still points at them, which is wanted.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import psycopg
import shapely

from geoportal.nombres import clave, nombre_de_lugar
from geoportal.settings import DATA_DIR

# The four pilot districts (2022 census code -> expected census name). The names are
# checked against the census file on load so a renumbered file cannot move a pilot.
PILOTOS: dict[str, str] = {
    "0218": "Santa Rosa del Aguaray",
    "0607": "San Juan Nepomuceno",
    "1116": "Villeta",
    "1602": "Mariscal José Félix Estigarribia",
}

# A 2022 district without a 2012 polygon of its own (created after 2012, or sharing the
# polygon it was split from) is published, alone, under the code "D" + its 2022 code: the
# one place of this rule (pipeline, publication, the institutional wing, the tests).
SIN_POLIGONO = "D"
POLIGONO_SQL = "coalesce(codigo_2012, 'D' || codigo)"  # over territorio.distrito


def poligono_publicado(codigo_2012: pd.Series, codigo: pd.Series) -> pd.Series:
    """The published area code of each 2022 district: its 2012 polygon, else ``D`` + code."""
    own = codigo_2012.notna() & (codigo_2012.astype(str) != "")
    return codigo_2012.where(own, SIN_POLIGONO + codigo.astype(str))


# FUENTES.md: polygon 0404 carries the wrong label in the DGEEC source.
_NOMBRE_CORREGIDO = {"0404": "CORONEL MARTINEZ"}

FUENTES: tuple[tuple[str, str, str, str], ...] = (
    (
        "distritos",
        "Fuente: DGEEC (INE Paraguay), cartografía 2012; vía nemesiscodex/openfonacide",
        "Sin licencia declarada en el repositorio; editor original DGEEC/INE Paraguay",
        (
            "245 distritos de la cartografía 2012 (no hay capa abierta 2022). 26 geometrías "
            "reparadas con make_valid, simplificadas con coverage_simplify a 0,001°. Los "
            "distritos creados después de 2012 no tienen polígono (ver crosswalk). El polígono "
            "0404, rotulado CORONEL BLANCO en la fuente, es Coronel Martínez (nombre corregido)."
        ),
    ),
    (
        "departamentos",
        "Fuente: DGEEC (INE Paraguay), cartografía 2012; vía nemesiscodex/openfonacide",
        "Sin licencia declarada en el repositorio; editor original DGEEC/INE Paraguay",
        (
            "17 departamentos más Asunción, obtenidos disolviendo los distritos 2012 por "
            "departamento; mismos límites que la capa de distritos."
        ),
    ),
    (
        "censo2022",
        "Fuente: INE. Censo Nacional de Población y Viviendas, 2022.",
        "Sin licencia declarada en las copias; editor INE Paraguay (datos.gov.py)",
        (
            "263 distritos. Población total, por sexo y edad mediana: cuadros INE (194 "
            "distritos) y visor Mapa Productivo del MIC que republica el CNPV 2022 (69 "
            "distritos); suma nacional 6.109.903. Población de 5 y más y de 15 y más: cuadros "
            "de educación del CNPV 2022. 18 distritos nuevos tienen código PROVISIONAL. La "
            "cabecera (lat/lon) es aproximada (visor MIC) y en unos 50 distritos cae fuera del "
            "polígono 2012 del distrito. Sin hogares ni viviendas por distrito."
        ),
    ),
    (
        "crosswalk_2022_2012",
        (
            "Elaboración propia sobre INE/DGEEC; cabeceras de distritos nuevos geocodificadas "
            "con Nominatim (OpenStreetMap)"
        ),
        "Cabeceras geocodificadas: ODbL (OpenStreetMap)",
        (
            "Vincula cada distrito 2022 con un polígono 2012: mismo distrito (245), nuevo "
            "contenido en el padre 2012 (15), padre incierto (Nueva Asunción, 1) y padre "
            "desconocido (San José del Rosario y María Antonia, sin polígono)."
        ),
    ),
    (
        "escuelas_mec",
        "Fuente: Ministerio de Educación y Ciencias (MEC), datos.mec.gov.py, 2014, CC BY 4.0",
        "CC BY 4.0",
        (
            "8.313 locales escolares con coordenadas (de 9.803 en 2014). Datos de 2014; sin "
            "sector ni niveles; nombre oficial 2026 cuando existe. La capacidad (alumnos) no "
            "está en la fuente: la modela el geoportal."
        ),
    ),
    (
        "salud_mspbs",
        "Fuente: MSPBS vía datos.gov.py; recopilado por josego85",
        "Repositorio GPL-3.0; licencia de los datos de origen no verificada",
        (
            "72 establecimientos (hospitales y algunos centros de salud), 2016. Lejos del "
            "registro completo del MSPBS (más de 1.000 establecimientos)."
        ),
    ),
    (
        "salud_mic",
        "Fuente: Ministerio de Industria y Comercio, Mapa Productivo; IPS y MSPBS",
        "Sin licencia declarada",
        (
            "212 servicios: 138 del IPS (propios, convenio, tercerizados) y 74 hospitales del "
            "MSPBS; 5 sin coordenadas. Sin código, nivel ni tipo de establecimiento."
        ),
    ),
    (
        "geonames",
        "Fuente: GeoNames (geonames.org), CC BY 4.0",
        "CC BY 4.0",
        (
            "171 localidades de 500 y más habitantes (cities500). La población de GeoNames es "
            "antigua o metropolitana: solo para nombres y etiquetas, nunca como cifra."
        ),
    ),
    (
        "sintetico",
        "Datos sintéticos generados por el geoportal (no son datos oficiales)",
        "Sin restricciones (generados)",
        (
            "Los hogares y las personas de demostración son sintéticos, al igual que la red de "
            "USF que completa los pocos establecimientos reales, y todas las oficinas del "
            "Registro Civil, de Identificaciones y los centros SNPP (no existen capas con "
            "coordenadas). Toda fila sintética lleva origen = 'sintetico'."
        ),
    ),
)


def pilot_codes() -> list[str]:
    """2022 census codes of the four pilot districts, sorted."""
    return sorted(PILOTOS)


# ------------------------------------------------------------------------ reading
def _read_departamentos(data_dir: Path, names: dict[str, str]) -> pd.DataFrame:
    gdf = gpd.read_file(data_dir / "departamentos.geojson")
    codigo = gdf["DPTO"].astype(str).str.zfill(2)
    # INE's spelling (with accents) from the census file, the polygon label as fallback.
    nombre = codigo.map(names).fillna(gdf["DPTO_DESC"].astype(str))
    return pd.DataFrame({"codigo": codigo, "nombre": nombre, "wkb": _multi_wkb(gdf.geometry)})


def _read_distritos_cartograficos(data_dir: Path) -> pd.DataFrame:
    gdf = gpd.read_file(data_dir / "distritos.geojson")
    codigo = gdf["codigo"].astype(str).str.zfill(4)
    nombre = gdf["DIST_DESC"].astype(str).where(~codigo.isin(_NOMBRE_CORREGIDO), codigo.map(_NOMBRE_CORREGIDO))
    return pd.DataFrame(
        {
            "codigo_2012": codigo,
            "dpto": gdf["DPTO"].astype(str).str.zfill(2),
            "nombre": nombre,
            "wkb": _multi_wkb(gdf.geometry),
        }
    )


def read_census(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """The 263 census districts joined with their 2012 polygon code (codes as strings)."""
    censo = pd.read_csv(data_dir / "censo2022_distritos.csv", dtype={"codigo": str, "dpto": str})
    cross = pd.read_csv(data_dir / "crosswalk_2022_2012.csv", dtype={"codigo_2022": str, "codigo_2012": str})
    df = censo.merge(
        cross[["codigo_2022", "codigo_2012", "relacion"]],
        left_on="codigo",
        right_on="codigo_2022",
        how="left",
        validate="one_to_one",
    )
    if df["relacion"].isna().any():
        missing = df.loc[df["relacion"].isna(), "codigo"].tolist()
        raise ValueError(f"distritos del censo sin fila en el crosswalk: {missing}")
    df["codigo_provisional"] = df["codigo_provisional"].astype(str).str.lower().eq("true")
    return df.drop(columns="codigo_2022")


def _multi_wkb(geoms: gpd.GeoSeries) -> list[bytes]:
    # Polygons are promoted to MultiPolygon by ST_Multi in the INSERT.
    return list(shapely.to_wkb(geoms.values, output_dimension=2))


def _none(values: pd.Series) -> list:
    """Python values with NaN/NA as None (psycopg sends NULL)."""
    return [None if pd.isna(v) else v for v in values.tolist()]


# ------------------------------------------------------------------------ loading
def load_territory(conn: psycopg.Connection, data_dir: Path = DATA_DIR) -> dict[str, int]:
    """Load schema ``territorio`` in one transaction; return the row count per table."""
    censo = read_census(data_dir)
    names = censo.drop_duplicates("dpto").set_index("dpto")["dpto_desc"].to_dict()
    dptos = _read_departamentos(data_dir, names)
    cartos = _read_distritos_cartograficos(data_dir)
    localidades = pd.read_csv(data_dir / "localidades_geonames.csv", dtype={"codigo_distrito_2012": str})

    for codigo, nombre in PILOTOS.items():
        found = censo.loc[censo["codigo"] == codigo, "distrito_nombre"].tolist()
        if found != [nombre]:
            raise ValueError(f"distrito piloto {codigo} ({nombre}) no coincide con el censo: {found}")

    loc_wkb = shapely.to_wkb(shapely.points(localidades["lon"].to_numpy(), localidades["lat"].to_numpy()))

    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO territorio.fuente (capa, atribucion, licencia, notas)
               VALUES (%s, %s, %s, %s)
               ON CONFLICT (capa) DO UPDATE SET atribucion = EXCLUDED.atribucion,
                   licencia = EXCLUDED.licencia, notas = EXCLUDED.notas""",
            FUENTES,
        )
        cur.executemany(
            """INSERT INTO territorio.departamento (codigo, nombre, geom)
               VALUES (%s, %s, ST_Multi(ST_GeomFromWKB(%s, 4326)))
               ON CONFLICT (codigo) DO UPDATE SET nombre = EXCLUDED.nombre, geom = EXCLUDED.geom""",
            list(dptos[["codigo", "nombre", "wkb"]].itertuples(index=False, name=None)),
        )
        cur.executemany(
            """INSERT INTO territorio.distrito_cartografico (codigo_2012, dpto, nombre, geom)
               VALUES (%s, %s, %s, ST_Multi(ST_GeomFromWKB(%s, 4326)))
               ON CONFLICT (codigo_2012) DO UPDATE SET dpto = EXCLUDED.dpto,
                   nombre = EXCLUDED.nombre, geom = EXCLUDED.geom""",
            list(cartos[["codigo_2012", "dpto", "nombre", "wkb"]].itertuples(index=False, name=None)),
        )
        distrito_rows = list(
            zip(
                censo["codigo"].tolist(),
                censo["codigo_provisional"].tolist(),
                censo["dpto"].tolist(),
                censo["distrito_nombre"].tolist(),
                _none(censo["codigo_2012"]),
                censo["relacion"].tolist(),
                censo["codigo"].isin(PILOTOS).tolist(),
                censo["pob_total"].astype(int).tolist(),
                censo["pob_hombres"].astype(int).tolist(),
                censo["pob_mujeres"].astype(int).tolist(),
                _none(censo["edad_mediana"].astype(float)),
                censo["pob_5ymas_total"].astype(int).tolist(),
                censo["pob_15ymas_total"].astype(int).tolist(),
                _none(censo["lat_cabecera"].astype(float)),
                _none(censo["lon_cabecera"].astype(float)),
                censo["fuente_pob_total"].tolist(),
            )
        )
        cur.executemany(
            """INSERT INTO territorio.distrito (codigo, codigo_provisional, dpto, nombre,
                   codigo_2012, relacion_2012, piloto, pob_total, pob_hombres, pob_mujeres,
                   edad_mediana, pob_5ymas, pob_15ymas, lat_cabecera, lon_cabecera,
                   fuente_poblacion)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (codigo) DO UPDATE SET
                   codigo_provisional = EXCLUDED.codigo_provisional, dpto = EXCLUDED.dpto,
                   nombre = EXCLUDED.nombre, codigo_2012 = EXCLUDED.codigo_2012,
                   relacion_2012 = EXCLUDED.relacion_2012, piloto = EXCLUDED.piloto,
                   pob_total = EXCLUDED.pob_total, pob_hombres = EXCLUDED.pob_hombres,
                   pob_mujeres = EXCLUDED.pob_mujeres, edad_mediana = EXCLUDED.edad_mediana,
                   pob_5ymas = EXCLUDED.pob_5ymas, pob_15ymas = EXCLUDED.pob_15ymas,
                   lat_cabecera = EXCLUDED.lat_cabecera, lon_cabecera = EXCLUDED.lon_cabecera,
                   fuente_poblacion = EXCLUDED.fuente_poblacion""",
            distrito_rows,
        )
        cur.executemany(
            """INSERT INTO territorio.localidad (geonameid, nombre, codigo_2012, geom)
               VALUES (%s, %s, %s, ST_GeomFromWKB(%s, 4326))
               ON CONFLICT (geonameid) DO UPDATE SET nombre = EXCLUDED.nombre,
                   codigo_2012 = EXCLUDED.codigo_2012, geom = EXCLUDED.geom""",
            list(
                zip(
                    localidades["geonameid"].astype(int).tolist(),
                    localidades["name"].tolist(),
                    _none(localidades["codigo_distrito_2012"]),
                    list(loc_wkb),
                )
            ),
        )
        _load_places(cur, data_dir)
        # Stale rows, children before parents (a referenced row makes this fail, on purpose).
        stale = (
            ("localidad", "geonameid", localidades["geonameid"].astype(int).tolist()),
            ("distrito", "codigo", censo["codigo"].tolist()),
            ("distrito_cartografico", "codigo_2012", cartos["codigo_2012"].tolist()),
            ("departamento", "codigo", dptos["codigo"].tolist()),
            ("fuente", "capa", [f[0] for f in FUENTES]),
        )
        for table, key, keep in stale:
            # Table and key names come from the tuple above, never from input.
            cur.execute(f"DELETE FROM territorio.{table} WHERE NOT ({key} = ANY(%s))", (keep,))
        cur.execute("REFRESH MATERIALIZED VIEW territorio.pais")  # the dissolved outline (migration 0009)
        counts = {}
        for table in ("departamento", "distrito_cartografico", "distrito", "localidad", "lugar", "fuente"):
            counts[table] = cur.execute(f"SELECT count(*) FROM territorio.{table}").fetchone()[0]
    return counts


def mec_localities(data_dir: Path = DATA_DIR) -> pd.DataFrame:
    """The MEC schools' localities: repaired name, its key, zone and school points.

    Placeholders ("LOCALIDAD A CONFIRMAR") are not places and are left out.
    """
    esc = pd.read_csv(
        data_dir / "escuelas_mec.csv",
        usecols=["barrio_localidad", "zona", "lat", "lon"],
        dtype={"barrio_localidad": str, "zona": str},
    ).dropna(subset=["lat", "lon"])
    esc["nombre"] = esc["barrio_localidad"].map(nombre_de_lugar)
    esc = esc.dropna(subset=["nombre"])
    esc["clave"] = esc["nombre"].map(clave)
    esc["zona"] = esc["zona"].str.lower().where(esc["zona"].str.lower().isin(["urbana", "rural"]))
    return esc[["nombre", "clave", "zona", "lon", "lat"]]


def _load_places(cur: psycopg.Cursor, data_dir: Path) -> None:
    """territorio.lugar: GeoNames places and one point per MEC locality and 2012 polygon.

    A MEC locality's point is its school nearest the mean of its schools (a real place,
    inside the polygon, never an average that may fall between two villages).
    """
    cur.execute("DELETE FROM territorio.lugar")
    cur.execute(
        "INSERT INTO territorio.lugar (lugar_id, nombre, clave, codigo_2012, fuente, geom)"
        " SELECT 'geonames:' || geonameid, nombre, '', codigo_2012, 'geonames', geom FROM territorio.localidad"
    )
    keys = cur.execute("SELECT lugar_id, nombre FROM territorio.lugar").fetchall()
    cur.executemany(
        "UPDATE territorio.lugar SET clave = %s WHERE lugar_id = %s", [(clave(nombre), lugar) for lugar, nombre in keys]
    )
    mec = mec_localities(data_dir)
    cur.execute(
        "CREATE TEMP TABLE escuela_lugar (nombre text, clave text, zona text, lon float8, lat float8) ON COMMIT DROP"
    )
    with cur.copy("COPY escuela_lugar FROM STDIN") as copy:
        for row in mec.itertuples(index=False):
            copy.write_row((row.nombre, row.clave, row.zona, row.lon, row.lat))
    cur.execute(
        """WITH e AS (
               SELECT s.*, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326) AS geom, d.codigo_2012
               FROM pg_temp.escuela_lugar s
               JOIN territorio.distrito_cartografico d
                 ON ST_Contains(d.geom, ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326))),
           m AS (
               SELECT codigo_2012, clave, ST_SetSRID(ST_MakePoint(avg(lon), avg(lat)), 4326) AS centro,
                      mode() WITHIN GROUP (ORDER BY nombre) AS nombre,
                      mode() WITHIN GROUP (ORDER BY zona) AS zona
               FROM e GROUP BY codigo_2012, clave)
           INSERT INTO territorio.lugar (lugar_id, nombre, clave, codigo_2012, fuente, zona, geom)
           SELECT DISTINCT ON (e.codigo_2012, e.clave)
                  'mec:' || e.codigo_2012 || ':' || e.clave, m.nombre, e.clave, e.codigo_2012, 'mec', m.zona, e.geom
           FROM e JOIN m USING (codigo_2012, clave)
           ORDER BY e.codigo_2012, e.clave, ST_Distance(e.geom, m.centro), e.lon, e.lat"""
    )
