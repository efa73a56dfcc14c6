// Colours: class breaks from the catalog, colour-blind-safe fallback ramps, and the
// distinct look of reserved and no-data areas.

// Viridis-like (perceptually uniform, readable for the common colour-vision deficiencies).
export const RAMPA_COBERTURA = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
// Single-hue orange-brown for gaps (more is worse), from ColorBrewer's YlOrBr.
export const RAMPA_BRECHA = ["#fff7bc", "#fec44f", "#fe9929", "#d95f0e", "#993404"];

export const SIN_DATO = "#f4f2ee";
export const RESERVADO = "url(#rayado-reservado)";
// Areas the FIPS survey has not reached (no row published at all): dotted, unlike both.
export const SIN_RELEVAMIENTO = "url(#punteado-sin-relevamiento)";
export const BORDE = "#5b5b5b";

/** Class of `valor` given inner breaks `cortes` (mapclassify: v <= b1 is class 0), or -1. */
export function clase(valor, cortes) {
  if (valor === null || valor === undefined || Number.isNaN(Number(valor))) return -1;
  const v = Number(valor);
  const i = cortes.findIndex((b) => v <= b);
  return i === -1 ? cortes.length : i;
}

export function esReservado(p) {
  return p.reservado === true || p.reservado === 1 || p.reservado === "true" || p.reservado === "t";
}

/** Leaflet path style of an area feature with properties `p`. */
export function estiloArea(p, medida, leyenda) {
  const base = { weight: 0.6, color: "#ffffff", opacity: 0.9, fill: true, fillOpacity: 0.85 };
  if (esReservado(p)) return { ...base, fillColor: RESERVADO, fillOpacity: 1, className: "reservado" };
  const v = p[medida];
  if (v === null || v === undefined || !leyenda) return { ...base, fillColor: SIN_DATO, className: "sin-dato" };
  const i = Math.min(clase(v, leyenda.cortes), leyenda.colores.length - 1);
  return { ...base, fillColor: leyenda.colores[i], className: `clase-${i}` };
}

/** Fallback when the catalog has no stored breaks for a percentage: fixed 20-point steps. */
export function leyendaPorDefecto(medida) {
  if (medida?.unidad === "%") return { cortes: [20, 40, 60, 80], colores: RAMPA_COBERTURA, metodo: "fijo" };
  return null;
}
