// Colours: class breaks from the catalog, colour-blind-safe fallback ramps, and the
// distinct look of reserved and no-data areas.

// Viridis-like (perceptually uniform, readable for the common colour-vision deficiencies).
export const RAMPA_COBERTURA = ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"];
// Single-hue orange-brown for gaps (more is worse), from ColorBrewer's YlOrBr.
export const RAMPA_BRECHA = ["#fff7bc", "#fec44f", "#fe9929", "#d95f0e", "#993404"];

export const SIN_DATO = "#f4f2ee";
export const RESERVADO = "url(#rayado-reservado)";
export const BORDE = "#5b5b5b";

/** Index of the class of `valor` in edges `cortes` (n+1 edges, n classes), or -1. */
export function clase(valor, cortes) {
  if (valor === null || valor === undefined || Number.isNaN(Number(valor))) return -1;
  const v = Number(valor);
  const n = cortes.length - 1;
  for (let i = 0; i < n; i += 1) {
    if (v <= cortes[i + 1]) return i;
  }
  return n - 1;
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
  const i = clase(v, leyenda.cortes);
  return { ...base, fillColor: leyenda.colores[Math.max(0, i)], className: `clase-${i}` };
}

export const RESALTE = { weight: 3, color: "#e6007e", opacity: 1, fill: true, fillColor: "#e6007e", fillOpacity: 0.35, className: "resaltado" };

/** Fallback legend when the catalog gives no stored breaks: equal steps over 0–100 for percentages. */
export function leyendaPorDefecto(medida) {
  if (medida?.unidad === "%") return { cortes: [0, 20, 40, 60, 80, 100], colores: RAMPA_COBERTURA, fijos: true };
  return null;
}
