// The Leaflet map: the project's own territory as base map, one thematic vector-tile
// layer at a time (its level follows the zoom on the server), highlights and points.

import L from "./leaflet-global.js";
import "leaflet.vectorgrid/src/Leaflet.VectorGrid.js";
import "leaflet.vectorgrid/src/Leaflet.VectorGrid.Protobuf.js";
import { BORDE, SIN_DATO, estiloArea } from "./estilo.js";
import { escapar } from "./formato.js";

export const PARAGUAY = L.latLngBounds([-27.61, -62.65], [-19.29, -54.26]);

// Every data layer inside a tile gets the same style function, whatever its name.
const todasLasCapas = (estilo) => new Proxy({}, { get: () => estilo });

export function crearMapa(elemento) {
  const mapa = L.map(elemento, {
    minZoom: 5, maxZoom: 14, zoomSnap: 1, maxBounds: PARAGUAY.pad(0.6), attributionControl: true,
    preferCanvas: false, keyboard: true,
  });
  mapa.attributionControl.setPrefix('<a href="https://leafletjs.com" title="Biblioteca de mapas">Leaflet</a>');
  for (const [nombre, z] of [["base", 200], ["sinrelev", 300], ["tematica", 400], ["limites", 450], ["resalte", 500], ["puntos", 600]]) {
    mapa.createPane(nombre).style.zIndex = String(z);
  }
  mapa.getPane("base").style.pointerEvents = "none";
  mapa.getPane("limites").style.pointerEvents = "none";
  mapa.getPane("resalte").style.pointerEvents = "none";
  return mapa;
}

function capaTeselas(url, opciones) {
  return L.vectorGrid.protobuf(url, { maxNativeZoom: 14, keepBuffer: 2, ...opciones });
}

/** Base map: territory fill below everything and boundaries above the thematic layer. */
export function capasBase(mapa, urlTeselas) {
  const relleno = capaTeselas(urlTeselas, {
    pane: "base",
    vectorTileLayerStyles: todasLasCapas(() => ({ fill: true, fillColor: SIN_DATO, fillOpacity: 1, stroke: false })),
  });
  const limites = capaTeselas(urlTeselas, {
    pane: "limites",
    vectorTileLayerStyles: todasLasCapas((p, z) => ({
      fill: false, color: BORDE, opacity: 0.9, weight: z >= 9 ? 1.4 : 0.8,
    })),
  });
  relleno.addTo(mapa);
  limites.addTo(mapa);
  return { relleno, limites };
}

/**
 * Areas without survey, drawn from the territory tiles: `estiloDe(p)` is their style or
 * null (any other area, which the thematic layer draws). Clicking one calls `alElegir`.
 */
export function capaSinRelevamiento(mapa, urlTeselas, estiloDe, alElegir) {
  const dibujados = new Set();
  const capa = capaTeselas(urlTeselas, {
    pane: "sinrelev",
    interactive: true,
    vectorTileLayerStyles: todasLasCapas((p) => {
      const estilo = estiloDe(p);
      if (!estilo) return [];
      dibujados.add(p.codigo);
      return estilo;
    }),
  });
  capa.dibujados = dibujados;
  capa.on("click", (e) => {
    L.DomEvent.stop(e);
    alElegir(e.layer.properties, e.latlng);
  });
  capa.addTo(mapa);
  return capa;
}

/** The chosen territory outlined (territory tiles: the area itself, or a department's districts). */
export function capaContorno(mapa, urlTeselas, codigo) {
  const propio = (p) => p.codigo === codigo || (codigo.length === 2 && String(p.codigo).startsWith(codigo) && String(p.codigo).length === 4);
  return capaTeselas(urlTeselas, {
    pane: "resalte",
    vectorTileLayerStyles: todasLasCapas((p, z) => (propio(p)
      ? { fill: false, color: "#e6007e", opacity: 1, weight: z >= 9 ? 4 : 3, className: "contorno-territorio" } : [])),
  }).addTo(mapa);
}

/** The name of the area under the pointer, in a tooltip that follows it. */
export function nombresAlPasar(mapa, capa, nombreDe = (p) => p.nombre ?? p.codigo) {
  const globo = L.tooltip({ direction: "top", offset: [0, -8], className: "nombre-al-pasar" });
  capa.on("mouseover mousemove", (e) => {
    const nombre = e.layer?.properties && nombreDe(e.layer.properties);
    if (!nombre || !e.latlng) return;
    globo.setLatLng(e.latlng).setContent(escapar(nombre));
    if (!mapa.hasLayer(globo)) mapa.openTooltip(globo);
  });
  capa.on("mouseout", () => mapa.closeTooltip(globo));
  capa.on("remove", () => mapa.closeTooltip(globo));
}

/**
 * Thematic layer of measure `medida`; `leyendaDe(z)` gives the legend of the level shown at z.
 * Clicking a feature calls `alElegir(properties, latlng)`.
 */
export function capaTematica(mapa, urlTeselas, medida, leyendaDe, alElegir, valorDe = null) {
  const dibujados = new Set(); // codes of the features drawn (read by the browser tests)
  const capa = capaTeselas(urlTeselas, {
    pane: "tematica",
    interactive: true,
    vectorTileLayerStyles: todasLasCapas((p, z) => {
      dibujados.add(p.codigo);
      if (valorDe) p[medida] = valorDe(p); // a measure derived from published columns (rates)
      return estiloArea(p, medida, leyendaDe(z));
    }),
  });
  capa.dibujados = dibujados;
  capa.on("click", (e) => {
    L.DomEvent.stop(e);
    alElegir(e.layer.properties, e.latlng);
  });
  capa.on("mouseover", (e) => {
    const p = e.layer.properties;
    if (p?.nombre || p?.codigo) e.layer._path?.setAttribute("aria-label", p.nombre ?? p.codigo);
  });
  capa.addTo(mapa);
  return capa;
}

// VectorGrid draws a point as a CircleMarker that knows only its pixel in the tile, so
// Leaflet's click handling (which asks a small circle for getLatLng) threw "reading 'lat'".
// Such a marker answers from its tile's coordinates instead.
const latLngDe = L.CircleMarker.prototype.getLatLng;
L.CircleMarker.prototype.getLatLng = function () {
  const propio = latLngDe.call(this);
  const tesela = this._renderer?._tileCoord;
  if (propio || !this._point || !tesela) return propio;
  const tamano = this._renderer._size ?? L.point(256, 256);
  return L.CRS.EPSG3857.pointToLatLng(L.point(tesela.x * tamano.x, tesela.y * tamano.y).add(this._point), tesela.z);
};

/** Delivery points as circle markers (vector tiles of a point layer), from the national zoom on. */
export function capaPuntos(mapa, urlTeselas, colorDe, alElegir) {
  const dibujados = new Set(); // ids of the points drawn (read by the browser tests)
  const capa = capaTeselas(urlTeselas, {
    pane: "puntos",
    interactive: true,
    vectorTileLayerStyles: todasLasCapas((p, z) => {
      dibujados.add(p.punto_id ?? p.codigo ?? p.nombre);
      return {
        radius: z >= 11 ? 5 : z >= 8 ? 3 : 2, fill: true, fillColor: colorDe(p), fillOpacity: 0.95,
        color: "#ffffff", weight: z >= 8 ? 1 : 0.5,
      };
    }),
  });
  capa.dibujados = dibujados;
  // A point's click event carries no latlng in VectorGrid: take it from the mouse event.
  capa.on("click", (e) => {
    L.DomEvent.stop(e);
    const donde = e.latlng ?? (e.originalEvent ? mapa.mouseEventToLatLng(e.originalEvent) : null)
      ?? e.layer?._latlng ?? mapa.getCenter();
    alElegir(e.layer.properties, donde);
  });
  capa.addTo(mapa);
  return capa;
}

/**
 * What the map is doing, said on the map: "Cargando el mapa…" while tiles arrive, and a
 * message with "Reintentar" when some could not be loaded (a 503, a lost connection).
 */
export function controlEstado() {
  const control = L.control({ position: "topright" });
  let caja;
  let capa = null;
  let fallidas = 0;
  let texto, boton;
  const pintar = () => {
    if (!caja) return;
    const cargando = capa?.isLoading?.();
    caja.classList.toggle("error", Boolean(fallidas));
    caja.classList.toggle("cargando", !fallidas && Boolean(cargando));
    caja.classList.toggle("vacio", !fallidas && !cargando);
    texto.textContent = fallidas ? `No se pudieron cargar ${fallidas === 1 ? "una parte" : `${fallidas} partes`} del mapa.`
      : cargando ? "Cargando el mapa…" : "";
    boton.hidden = !fallidas;
  };
  control.onAdd = () => {
    caja = L.DomUtil.create("div", "estado-mapa vacio");
    caja.setAttribute("role", "status");
    caja.innerHTML = '<span></span> <button type="button" class="reintentar" hidden>Reintentar</button>';
    [texto, boton] = caja.children;
    boton.onclick = () => { fallidas = 0; pintar(); capa?.redraw(); };
    L.DomEvent.disableClickPropagation(caja);
    return caja;
  };
  // VectorGrid draws a failed tile as an empty one: the browser's resource timing says which failed.
  if (typeof PerformanceObserver !== "undefined") {
    try {
      new PerformanceObserver((lista) => {
        const malas = lista.getEntries().filter((e) => e.name.includes("/tiles/") && e.responseStatus >= 400).length;
        if (malas) { fallidas += malas; pintar(); }
      }).observe({ type: "resource" });
    } catch { /* an older browser: loading is still shown */ }
  }
  control.seguir = (nueva) => {
    capa = nueva;
    fallidas = 0;
    nueva.on("loading", pintar);
    nueva.on("load", pintar);
    pintar();
  };
  return control;
}

export { L };
