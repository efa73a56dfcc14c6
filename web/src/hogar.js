// A Mesa's gap list links a household to the map as /#hogar=<lat>,<lon>: the centre of the
// household's H3 resolution-8 cell (about 0.7 km²), never the dwelling's own point. A
// fragment never reaches a server, so no public route or log sees it; it is dropped once
// shown (the map view then lives in the URL as any view does).

import { L } from "./mapa.js";

const RADIO_M = 460; // edge of an H3 resolution-8 cell: the circle covers the cell

// ``fragmento``: the page's hash as it was at load (the viewer rewrites its URL before this runs).
export function mostrarHogar(mapa, fragmento) {
  const m = /^#hogar=(-?\d{1,2}(?:\.\d+)?),(-?\d{1,2}(?:\.\d+)?)$/.exec(fragmento);
  if (!m) return null;
  const lat = Number(m[1]);
  const lon = Number(m[2]);
  if (window.location.hash) window.history.replaceState(window.history.state, "", window.location.pathname + window.location.search);
  if (!(lat > -28 && lat < -19 && lon > -63 && lon < -54)) return null; // outside Paraguay: ignored
  const zona = L.circle([lat, lon], { radius: RADIO_M, color: "#8b0000", weight: 3, fill: false, interactive: false });
  zona.addTo(mapa).bindTooltip("Zona del hogar (celda de unos 0,7 km²)", { permanent: true, direction: "top", className: "zona-hogar" });
  mapa.setView([lat, lon], 15, { animate: false });
  document.body.dataset.hogar = "si"; // the browser tests wait for this
  return zona;
}
