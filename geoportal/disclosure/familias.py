"""Count families: which published columns count the same units, and which count a subset of which.

Several published columns count the same units by the catalogue's rules: ``hogares``,
``l9_universo`` and every household service's ``aplica`` are all the households;
``l1_protegidos`` and ``cpn_cubiertos`` are the pregnant women with prenatal care (the
only núcleo service of Logro 1); ``l2_ampliado`` equals ``l2_protegidos`` because no
ampliado service applies at birth. Rounded with independent offsets, such columns are
several readings of one number and their intervals intersect to it. So the offset
belongs to what a count counts — its **family** — not to the column, and every column
of a family publishes the same value.

What a count counts (``Conjunto``) is read off the catalogue, never off the data:

* the unit (persona, hogar, entorno);
* its scope: for persons the category's or service's rule (age interval and flags); for
  households, optionally "urban";
* the services that must be covered, each as the literal "applies ⇒ covered" (within a
  scope inside the service's rule that is just "covered"; a service whose rule does not
  meet the scope drops out);
* for a gap, "not covered, and without / with supply in reach" of one service;
* for the population-weighted distance, "household farther than d km from the nearest
  point of type t" (``lejos``): persons beyond 20 km are among those beyond 10 km, who
  are among those beyond 5 km, who are among all persons.

Two columns with the same ``Conjunto`` are one family. ``A`` is a subset of ``B`` when
both count the same unit, A's scope lies inside B's, A requires every service B requires
(or the service cannot apply inside A's scope), B's gap literal, if any, is A's, and B's
distance literal, if any, is A's of the same type at least as far. Row
consistency clips each family to every superset (``perturbation.perturb``), which also
keeps the attacker's containment inequalities from narrowing anything.

Structural zeros: a service with no delivery point whose gap is an investment has no
gap "with supply in reach" (no network to connect to), one whose gap is a referral has
none "without supply"; a supply entorno (``origen_estatus: oferta``) is covered exactly
when the supply is in reach, so it has no gap with supply either. Those families are
always empty and publish 0.

Example::

    >>> fam = count_families(default_catalog())
    >>> fam.family["hogares"] == fam.family["agua_aplica"] == fam.family["l9_universo"]
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

from geoportal.aggregate import LEJOS_KM, lejos_column
from geoportal.catalog import Catalogo, Regla

INF = 10**6
FLAGS = ("sexo", "embarazada", "discapacidad", "indigena", "urbana")


@dataclass(frozen=True, order=True)
class Ambito:
    """Scope of a count: an age interval (inclusive; ±INF when open) and fixed flags."""

    edad_min: int = -INF
    edad_max: int = INF
    sexo: str | None = None
    embarazada: bool | None = None
    discapacidad: bool | None = None
    indigena: bool | None = None
    urbana: bool | None = None

    @classmethod
    def of(cls, regla: Regla) -> Ambito:
        return cls(
            -INF if regla.edad_min is None else regla.edad_min,
            INF if regla.edad_max is None else regla.edad_max,
            regla.sexo,
            regla.embarazada,
            regla.discapacidad,
            regla.indigena,
        )

    def within(self, other: Ambito) -> bool:
        """Every unit of this scope is in ``other``."""
        return (
            other.edad_min <= self.edad_min
            and self.edad_max <= other.edad_max
            and all(getattr(other, f) is None or getattr(other, f) == getattr(self, f) for f in FLAGS)
        )

    def meets(self, other: Ambito) -> bool:
        """Some unit could be in both scopes."""
        return max(self.edad_min, other.edad_min) <= min(self.edad_max, other.edad_max) and all(
            getattr(self, f) is None or getattr(other, f) is None or getattr(self, f) == getattr(other, f)
            for f in FLAGS
        )

    def text(self) -> str:
        parts = []
        if (self.edad_min, self.edad_max) != (-INF, INF):
            lo = "" if self.edad_min == -INF else str(self.edad_min)
            hi = "" if self.edad_max == INF else str(self.edad_max)
            parts.append(f"edad {lo}-{hi}")
        parts += [f"{f}={getattr(self, f)}" for f in FLAGS if getattr(self, f) is not None]
        return " ".join(parts) or "todas"


EVERYONE = Ambito()


@dataclass(frozen=True, order=True)
class Conjunto:
    """The set of units a count counts (see the module docstring)."""

    unidad: str
    ambito: Ambito = EVERYONE
    cubiertos: frozenset[str] = frozenset()
    brecha: tuple[str, str] | None = None  # ("sin" | "con", service code)
    lejos: tuple[str, int] | None = None  # (point type, km): household farther than km from its nearest point

    @property
    def key(self) -> str:
        """Stable text of the family: it salts the family's secret offset."""
        parts = [self.unidad, self.ambito.text()]
        if self.cubiertos:
            parts.append("cubiertos " + ",".join(sorted(self.cubiertos)))
        if self.brecha:
            parts.append(f"brecha {self.brecha[0]} oferta {self.brecha[1]}")
        if self.lejos:
            parts.append(f"a más de {self.lejos[1]} km de {self.lejos[0]}")
        return " | ".join(parts)


@dataclass
class Familias:
    """Families of the count columns of a catalogue (``count_families``)."""

    family: dict[str, str]  # column -> family key
    sets: dict[str, Conjunto | None]  # family key -> what it counts (None: an internal count of its own)
    supersets: dict[str, list[str]]  # family key -> its strict supersets among the families
    order: list[str]  # families, every superset before its subsets
    zeros: set[str]  # structurally empty families
    gaps: list[tuple[str, str, str, str]] = field(default_factory=list)  # (aplica, cubiertos, sin, con) per service
    # Linear relations true of every area, sum(coef * count) >= 0, beyond containment:
    # age intervals (a count >= the counts that tile part of its ages) and Fréchet bounds.
    relations: list[tuple[tuple[str, int], ...]] = field(default_factory=list)

    def members(self, key: str) -> list[str]:
        return [c for c, f in self.family.items() if f == key]


def _scope(catalog: Catalogo, unidad: str, regla: Regla) -> Ambito:
    # Household and entorno services apply to every unit (coverage.household_status).
    return Ambito.of(regla) if unidad == "persona" else EVERYONE


def _required(catalog: Catalogo, scope: Ambito, unidad: str, codes) -> frozenset[str]:
    """The services whose "applies ⇒ covered" constrains units of ``scope``."""
    return frozenset(c for c in codes if scope.meets(_scope(catalog, unidad, catalog.servicio(c).aplica)))


def column_sets(catalog: Catalogo, counts: list[str]) -> dict[str, Conjunto | None]:
    """What each count column counts (None for internal counts with no catalogue meaning)."""
    out: dict[str, Conjunto | None] = {c: None for c in counts}
    out["hogares"] = Conjunto("hogar")
    out["hogares_urbanos"] = Conjunto("hogar", Ambito(urbana=True))
    out["personas"] = Conjunto("persona")
    out["entornos"] = Conjunto("entorno")
    for cat in catalog.categorias:
        scope = _scope(catalog, cat.universo, cat.regla)
        n = cat.logro
        for column, packages in (
            (f"l{n}_universo", ()),
            (f"l{n}_protegidos", ("nucleo",)),
            (f"l{n}_ampliado", ("nucleo", "ampliado")),
        ):
            codes = [s.codigo for s in catalog.servicios if s.paquete in packages and cat.codigo in s.categorias]
            out[column] = Conjunto(cat.universo, scope, _required(catalog, scope, cat.universo, codes))
    for s in catalog.servicios:
        c, scope = s.codigo.lower(), _scope(catalog, s.unidad, s.aplica)
        out[f"{c}_aplica"] = Conjunto(s.unidad, scope)
        out[f"{c}_cubiertos"] = Conjunto(s.unidad, scope, frozenset({s.codigo}))
        out[f"{c}_sin_oferta"] = Conjunto(s.unidad, scope, brecha=("sin", s.codigo))
        out[f"{c}_con_oferta"] = Conjunto(s.unidad, scope, brecha=("con", s.codigo))
    for tipo in catalog.tipos_punto:
        for km in LEJOS_KM:
            out[lejos_column(tipo, km)] = Conjunto("persona", lejos=(tipo, km))
    return {c: out[c] for c in counts}


def structurally_empty(catalog: Catalogo, conjunto: Conjunto | None) -> bool:
    if conjunto is None or conjunto.brecha is None:
        return False
    kind, code = conjunto.brecha
    s = catalog.servicio(code)
    if not s.punto_tipo:  # coverage.Access.within_reach: referral gaps are "in reach"
        return (kind == "con") == (s.brecha_sin_punto == "inversion")
    return kind == "con" and s.origen_estatus == "oferta"  # covered exactly when in reach


def subset(a: Conjunto, b: Conjunto, catalog: Catalogo) -> bool:
    """Every unit counted by ``a`` is counted by ``b``."""
    if a.unidad != b.unidad or not a.ambito.within(b.ambito):
        return False
    if b.brecha is not None and b.brecha != a.brecha:
        return False
    if a.brecha is not None and a.brecha[1] in b.cubiertos:
        return False  # a requires that service uncovered
    if b.lejos is not None and (a.lejos is None or a.lejos[0] != b.lejos[0] or a.lejos[1] < b.lejos[1]):
        return False
    vacuous = {
        c
        for c in b.cubiertos - a.cubiertos
        if not a.ambito.meets(_scope(catalog, a.unidad, catalog.servicio(c).aplica))
    }
    return b.cubiertos - vacuous <= a.cubiertos


def count_families(catalog: Catalogo, counts: list[str] | None = None) -> Familias:
    """Families, containment and structural zeros of the count columns (see module docstring)."""
    from geoportal.aggregate import measure_names

    counts = counts if counts is not None else measure_names(catalog)[0]
    by_column = column_sets(catalog, counts)
    family = {c: (s.key if s is not None else "columna " + c) for c, s in by_column.items()}
    sets: dict[str, Conjunto | None] = {}
    for c, s in by_column.items():
        sets.setdefault(family[c], s)
    known = [k for k, s in sets.items() if s is not None]
    supersets = {k: [] for k in sets}
    for a in known:
        for b in known:
            if a != b and subset(sets[a], sets[b], catalog):
                supersets[a].append(b)
    # A superset of k has strictly fewer supersets than k: sorting by that count is topological.
    order = sorted(sets, key=lambda k: (len(supersets[k]), k))
    zeros = {k for k, s in sets.items() if structurally_empty(catalog, s)}
    gaps = []
    for s in catalog.servicios:
        c = s.codigo.lower()
        names = [f"{c}_aplica", f"{c}_cubiertos", f"{c}_sin_oferta", f"{c}_con_oferta"]
        if all(n in family for n in names):
            gaps.append(tuple(family[n] for n in names))
    relations = age_relations(sets) + frechet_relations(sets, catalog)
    return Familias(family, sets, supersets, order, zeros, gaps, relations)


def _pure_age(s: Conjunto | None) -> bool:
    return (
        s is not None
        and s.unidad == "persona"
        and not s.cubiertos
        and s.brecha is None
        and s.lejos is None
        and all(getattr(s.ambito, f) is None for f in FLAGS)
    )


def age_relations(sets: dict[str, Conjunto | None]) -> list[tuple[tuple[str, int], ...]]:
    """Sum of a run of adjacent age counts >= sum of a run lying inside its ages.

    Persons of ages [5, 13] and [14, 17] published apart and [5, ∞) together: every
    chain of counts of adjacent, disjoint age intervals covers an interval; a chain
    covering the ages of another counts at least as many persons. (Pairs of single
    counts are containments, clipped directly.)
    """
    ages = {k: (s.ambito.edad_min, s.ambito.edad_max) for k, s in sets.items() if _pure_age(s)}
    starts: dict[int, list[str]] = {}
    for k, (lo, _) in ages.items():
        starts.setdefault(lo, []).append(k)
    chains: list[tuple[tuple[str, ...], int, int]] = []

    def extend(chain: tuple[str, ...], lo: int, hi: int) -> None:
        chains.append((chain, lo, hi))
        for k in sorted(starts.get(hi + 1, [])) if hi < INF else []:
            extend(chain + (k,), lo, ages[k][1])

    for k in sorted(ages):
        extend((k,), *ages[k])
    out = set()
    for big, lo1, hi1 in chains:
        for small, lo2, hi2 in chains:
            # The big run is minimal: its first and last counts reach into the small run's ages.
            minimal = ages[big[0]][1] >= lo2 and ages[big[-1]][0] <= hi2
            if lo1 <= lo2 and hi2 <= hi1 and minimal and len(big) + len(small) > 2 and not set(big) & set(small):
                out.add(tuple(sorted([(k, 1) for k in big] + [(k, -1) for k in small])))
    return sorted(out)


def frechet_relations(sets: dict[str, Conjunto | None], catalog: Catalogo) -> list[tuple[tuple[str, int], ...]]:
    """protected + (k - 1) universe >= sum of the k covered counts, where all k share its scope.

    (Bonferroni: the units lacking at least one of k services are at most the sum of those
    lacking each.) Only when every required service applies to the whole scope, so its
    published covered count is a count inside the universe.
    """
    by_set = {s: k for k, s in sets.items() if s is not None}
    out = []
    for k, s in sets.items():
        if s is None or s.brecha is not None or s.lejos is not None or len(s.cubiertos) < 2:
            continue
        universe = by_set.get(Conjunto(s.unidad, s.ambito))
        covered = [by_set.get(Conjunto(s.unidad, s.ambito, frozenset({c}))) for c in sorted(s.cubiertos)]
        if universe is None or None in covered:
            continue
        out.append(tuple([(k, 1), (universe, len(covered) - 1)] + [(c, -1) for c in covered]))
    return out
