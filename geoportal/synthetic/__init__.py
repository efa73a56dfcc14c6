"""Synthetic FIPS: households (``hogares.csv``) and persons (``personas.csv``) for testing.

This package owns the generator of **synthetic** Fichas de Información de Protección Social
(FIPS). Nothing it writes describes a real household or person: every row carries
``origen = sintetico``. Only the district totals and the places come from real data
(``geoportal/datos``, see ``FUENTES.md``); everything else is the documented model below.
The files follow ``docs/FORMATOS.md`` exactly (UTF-8, no quoting needed: no value holds a
comma or a quote) and are loaded with ``geoportal ingestar``.

Public API: :func:`generate`. Same ``semilla``, ``ambito``, ``puntos``, ``hoy`` and
``cobertura`` give byte-identical files. Districts are processed in batches of about 400 000 persons (census
order); batch ``k`` draws from ``Generator(PCG64(semilla).jumped(k))``, so the output does
not depend on how many batches run at once (two compute threads and one writer thread;
numpy, shapely, scipy and Arrow release the GIL). Everything is vectorized over persons and
households (Python loops only over districts, polygons, seeds' districts and catalog
services): the whole country (6.1 M persons) takes about 10-15 s and 0.5 GB.

Modules: ``lugares`` (real inputs, seats, settlement seeds, household places),
``demografia`` (persons, ages, births, fertility), ``hogares`` (households, heads,
members, indigenous communities), ``servicios`` (statuses, district effects),
``relevamiento`` (survey coverage), ``nombres_personas``, ``escritura`` (Arrow columns),
``generador`` (batches and threads), ``parametros`` (shared constants).

Full population, surveyed sample
    The generator builds the FULL synthetic population of each district, calibrated to
    the census (below), and writes only its surveyed part (:mod:`.relevamiento`: a share
    per district from ``geoportal/catalogo/cobertura_relevamiento.csv``, clustered by
    localidad). ``generate(..., cobertura=1.0)`` (the default of the function; the CLI
    default is the shipped file) writes the whole census. The surveyed households are
    exactly households of the full population (same id, place, members).

Modelling assumptions (all synthetic unless said otherwise)
-----------------------------------------------------------
Population (real totals, modelled detail)
    * Persons per 2022 census district = ``pob_total`` of ``censo2022_distritos.csv``
      exactly; men and women = ``pob_hombres`` / ``pob_mujeres`` exactly; the 0-4, 5-14 and
      15+ groups by sex equal the census ``pob_*`` columns exactly (0-4 = total - 5+,
      5-14 = 5+ - 15+), all as completed years at each household's interview date
      (``fecha_relevamiento``; the FIPS describes a person at the interview, as the
      coverage engine reads it), for the full population (``cobertura=1.0``).
    * Single years inside those bands follow a declining pyramid: weight
      ``exp(-lambda*(edad-15)) * S(edad)`` for 15-100 years, with a Gompertz survival
      ``S`` (hazard ``6e-5*exp(0.088*edad)``, x1.3 men, x0.7 women), and a milder
      ``exp(-lambda_c*edad)`` inside 0-4 and 5-14. ``lambda`` is solved per district so the
      interpolated median age is ``edad_mediana + 0.5`` (the census gives completed
      years); the generated medians match the census within a year. Ages are capped at 100.
    * ``hoy`` defaults to 2026-01-01 (fixed, so runs are reproducible): interviews fall in
      the 330 days before it. The birth date is a uniform day among those giving the
      drawn age at the interview, so nobody is born after the interview and the persons
      aged 0 at the interview are one census birth cohort (not 1.5 as when babies born
      after the interview were pushed before it).
    * Pregnancy: an age-specific fertility schedule for Paraguay (UN World Population
      Prospects 2022, 2020-2025, rounded; women 15-49; x1.4 indigenous), scaled per
      district so that pregnant women at the interview = 0.70 x the district's persons
      aged 0 (a pregnancy lasts ~0.75 year; some early ones not declared).
      Disability: 1.5 % (0-4) rising to 32 % (75+), about 7 % overall.
    * Indigenous status follows the locality: households of an indigenous community's
      locality ("COM INDIG ..." in the MEC register, urban or rural) are indigenous with
      probability 0.92; the rest of the district's target lives in rural non-community
      places. Targets: department shares of persons (Boquerón 40 %, Presidente Hayes 30 %,
      Alto Paraguay 20 %, Canindeyú 7 %, Amambay 5 %, Concepción, San Pedro, Caaguazú 2 %,
      Alto Paraná 1.5 %, Guairá, Caazapá 1 %, Itapúa 0.5 %, the rest 0.2 %) approximate
      the 2022 census indigenous total (about 140 000, 2.3 %); they are not district
      figures.

Households
    * Urban share per district from the population density of its 2012 polygon (logistic
      in log10 persons/km²; 100 % in Asunción; 30 % where there is no polygon): about 60 %
      of persons nationally, close to the census.
    * Number of households = population / mean size, mean size
      ``3.0 + 0.5*(1 - urban share) + 1.8*indigenous share``: about 1.9 M households of 3.2
      persons nationally (3.0 urban, 3.6 rural). Sizes: 1 + a Gamma(7)-Poisson number of
      extra members (weights x1.25 rural, x1.5 indigenous), drawn as one multinomial per
      district so the total is exact; about 15 % live alone, under 1 % have 10+.
    * Each household first gets its zone, settlement seed and indigenous status, and is
      numbered by district and seed (as a listing by locality would be). Then one head,
      aged 18+ at the interview, is drawn among the district's adults
      (weighted sampling without replacement; weights rising with age to 30, men x1.7:
      about 59 % male heads). The other members fill the remaining places of the same
      district by matching noisy age keys: children go to households whose head is about
      27 years older, partners to heads of similar age, some elderly to younger heads. So
      every person belongs to exactly one household of its own district and every
      household has someone 18+.

Locations
    * District 2022 -> 2012 polygon via ``crosswalk_2022_2012.csv``; without ``codigo_2012``
      the department polygon. New districts share their parent's polygon: the seeds of a
      shared polygon are split by nearest district seat (a Voronoi split), so each new
      district clusters around its own seat.
    * Settlement seeds: the district seat (census ``lat/lon_cabecera``, or the crosswalk's
      geocoded seat for new districts; when it falls outside the polygon, a GeoNames place
      with the district's name, else the urban school or place nearest to it), the real
      MEC schools and GeoNames places inside the polygon, and dispersed rural seeds
      (*parajes*: one per 60 km², uniform over the district's part of the polygon, fixed
      per district). Urban households go to the seat (1 km scale), urban schools (weight
      falling with distance to the seat, 15 km) and GeoNames towns (by population, falling
      with distance, 30 km; 0.5 km scale) - never to rural schools, parajes or hamlets;
      rural households to rural schools and small places (2 km scale) or, 12 % of them
      (35 % in the Chaco), to parajes (1.5 km scale), so remote estancias far from any
      school exist; community households to their community (0.8 km scale).
    * Offsets: uniform direction, exponential distance capped at 4 scales; points outside
      the polygon are redrawn with shrinking distance, finally placed on the seed. Every
      household lies strictly inside its polygon after rounding to 6 decimals (~0.1 m).
    * ``localidad`` = the real name of the seed's place (school ``barrio_localidad`` in
      title case, GeoNames name, or the district name for the seat), repaired with
      :mod:`geoportal.nombres` ("Ð" read as "Ñ"). A placeholder ("LOCALIDAD A CONFIRMAR")
      is never a localidad: such a seed, and each paraje, takes the name of the nearest
      real place of its district that is not an indigenous community. ``zona`` = the
      household's drawn zone.
    * ``fecha_relevamiento``: uniform over the 330 days before ``hoy``.

Service statuses (``servicios``)
    * Only codes of ``Catalogo.codigos_fips(unidad)`` whose ``aplica`` rule holds for the
      person (households: for their head) are drawn, so every listed code applies.
    * Place-based services: probability ``p_far + (p_near - p_far) / (1 + (d/R)^2)``, with
      ``d`` the great-circle distance (:mod:`geoportal.geodesia`) from the household to the
      nearest point of the service's ``punto_tipo`` in ``puntos`` and ``R`` the catalog
      radius for the household's zone; times a rural factor (< 1) and an indigenous factor.
      No point of that type: ``p_far``. Other services use urban / rural probabilities
      (pensions, Tekoporã, water, electricity, sanitation, housing, roads), with indigenous
      and Chaco factors; age modifiers: late birth registration at age 0, fewer cédulas
      under 10, less pre-school at 4. Codes not listed in the tables below get generic
      defaults, so an edited catalog still works. Levels aim at published orders of
      magnitude (birth registration ~90 %, cédula ~80 %, vaccines 70-85 % near a USF and
      ~45 % far away, basic school ~95 %, pension 65+ ~50 %, Tekoporã ~9 % of households),
      not at official figures.
    * District level: a documented random effect on the logit scale per district and
      service (a shared development component, sd 0.45, reversed for pro-poor
      programmes, plus sd 0.35 per service), so districts differ as on a real map
      (:mod:`.servicios`). No open district indicator of these services was found.
    * Statuses in one household are correlated: with probability 0.5 (persons) / 0.6
      (households) a draw uses the household's deprivation uniform instead of a fresh
      one (a mixture of uniforms is uniform, so the marginals stay exact); pro-poor
      programmes (Tekoporã, Abrazo, disability pension) use it reversed.

Names
    Drawn with Zipf-like weights from short lists of common Paraguayan Spanish and Guaraní
    names (with ñ, accents, ĩ and g̃); 55 % have two given names; most members carry the
    head's first surname. They are synthetic and match no real person on purpose.
"""

from __future__ import annotations

from geoportal.synthetic.generador import generate
from geoportal.synthetic.parametros import (
    COLUMNAS_HOGARES,
    COLUMNAS_PERSONAS,
    EDAD_MAXIMA,
    FECHA_REFERENCIA,
    PILOTOS,
)

__all__ = [
    "COLUMNAS_HOGARES",
    "COLUMNAS_PERSONAS",
    "EDAD_MAXIMA",
    "FECHA_REFERENCIA",
    "PILOTOS",
    "generate",
]
