// The view lives in the URL (?capa=&medida=&z=&lat=&lon=&t=) so it can be shared;
// layer, indicator and territory changes add a history entry, map moves replace it.

const CLAVES = ["capa", "medida", "z", "lat", "lon", "t"];

export function leerEstado() {
  const p = new URLSearchParams(window.location.search);
  const e = {};
  for (const k of CLAVES) if (p.has(k)) e[k] = p.get(k);
  for (const k of ["z", "lat", "lon"]) if (e[k] !== undefined) e[k] = Number(e[k]);
  if ([e.z, e.lat, e.lon].some((v) => v !== undefined && !Number.isFinite(v))) {
    delete e.z; delete e.lat; delete e.lon;
  }
  return e;
}

function url(estado) {
  const p = new URLSearchParams();
  for (const k of CLAVES) {
    if (estado[k] === undefined || estado[k] === null || estado[k] === "") continue;
    p.set(k, k === "lat" || k === "lon" ? Number(estado[k]).toFixed(4) : String(estado[k]));
  }
  return `${window.location.pathname}?${p}`;
}

export function guardarEstado(estado, { nuevo = false } = {}) {
  const destino = url(estado);
  if (destino === `${window.location.pathname}${window.location.search}`) return;
  if (nuevo) window.history.pushState(estado, "", destino);
  else window.history.replaceState(estado, "", destino);
}
