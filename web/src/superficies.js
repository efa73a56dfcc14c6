// "Distancia / tiempo a servicios": the accessibility surfaces (raster tiles served by
// titiler at /raster/{data_version}/{superficie}/...), their legend in km or minutes from
// capas/superficies.yaml, an opacity slider and the value under the cursor.

import { conUnidad, escapar } from "./formato.js";
import { L } from "./mapa.js";

const ESPERA_PREPARANDO_MS = 15_000;

async function json(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  if (!r.ok) {
    const e = new Error(r.status === 503 ? "preparando" : `error ${r.status}`);
    e.status = r.status;
    throw e;
  }
  return r.json();
}

function leyendaHtml(capa) {
  const u = capa.unidad;
  const filas = capa.leyenda.map((c) => {
    const texto = c.hasta === null ? `más de ${conUnidad(c.desde, u)}` : `${conUnidad(c.desde, u)} a ${conUnidad(c.hasta, u)}`;
    return `<li><span class="muestra" style="background:${escapar(c.color)}"></span><span>${escapar(texto)}</span></li>`;
  }).join("");
  return `<p class="leyenda-titulo">${escapar(capa.titulo)} (${escapar(u)})</p><ul class="leyenda-clases">${filas}</ul>`;
}

/** Builds the panel block inside ``contenedor`` and the raster layer on ``mapa``. */
export async function conectarSuperficies(mapa, contenedor) {
  if (!contenedor) return null;
  let info;
  try {
    info = await json("/raster/superficies");
  } catch {
    contenedor.hidden = true;
    return null;
  }
  if (!info.data_version || !info.capas.length) { contenedor.hidden = true; return null; }
  const grupo = info.capas[0].grupo;
  contenedor.innerHTML = `<h2>${escapar(grupo)}</h2>
    <label for="superficie-tipo">Tipo de punto de entrega</label>
    <select id="superficie-tipo"><option value="">Ninguna superficie</option>
      ${info.tipos.map((t) => `<option value="${escapar(t.codigo)}">${escapar(t.nombre)}</option>`).join("")}</select>
    <label for="superficie-medida">Medida</label>
    <select id="superficie-medida">${info.capas.map((c) => `<option value="${escapar(c.medida)}">${escapar(c.titulo)} (${escapar(c.unidad)})</option>`).join("")}</select>
    <label for="superficie-opacidad">Opacidad <output id="superficie-opacidad-valor">70 %</output></label>
    <input id="superficie-opacidad" type="range" min="0" max="100" step="5" value="70">
    <div id="superficie-leyenda" class="leyenda"></div>
    <p id="superficie-valor" class="nota" role="status" aria-live="polite"></p>
    <p id="superficie-limites" class="nota"></p>
    <p class="nota"><a id="superficie-descarga" href="#" download>Descargar la superficie (GeoTIFF COG, para QGIS)</a></p>`;
  const $ = (id) => contenedor.querySelector(`#${id}`);
  mapa.createPane("superficie").style.zIndex = "420"; // over the thematic areas, under boundaries
  mapa.getPane("superficie").style.pointerEvents = "none";
  const estado = { capa: null, sup: null, tiles: null, pedido: 0 };
  window.geoportal && (window.geoportal.superficie = estado);

  const opacidad = () => Number($("superficie-opacidad").value) / 100;
  const base = () => `/raster/${encodeURIComponent(info.data_version)}/${estado.sup}`;

  function poner() {
    if (estado.tiles) { mapa.removeLayer(estado.tiles); estado.tiles = null; }
    const tipo = $("superficie-tipo").value;
    estado.capa = info.capas.find((c) => c.medida === $("superficie-medida").value) ?? info.capas[0];
    estado.sup = tipo ? `${tipo}_${estado.capa.medida}` : null;
    $("superficie-leyenda").innerHTML = tipo ? leyendaHtml(estado.capa) : "";
    $("superficie-limites").textContent = tipo ? estado.capa.limites : "";
    $("superficie-valor").textContent = "";
    $("superficie-descarga").parentElement.hidden = !tipo;
    if (!tipo) { contenedor.removeAttribute("data-superficie"); return; }
    $("superficie-descarga").href = `/descargas/superficies/${estado.sup}.tif`;
    estado.tiles = L.tileLayer(`${base()}/tiles/WebMercatorQuad/{z}/{x}/{y}.png`, {
      pane: "superficie", opacity: opacidad(), maxNativeZoom: 14, attribution: estado.capa.atribucion.map(escapar).join(" · "),
    });
    // A surface not built yet answers 503 "preparando": say so and try again shortly.
    estado.tiles.on("tileerror", () => {
      $("superficie-valor").textContent = "La superficie se está preparando; se mostrará en unos segundos.";
      clearTimeout(estado.reintento);
      estado.reintento = setTimeout(() => estado.tiles?.redraw(), ESPERA_PREPARANDO_MS);
    });
    estado.tiles.on("load", () => contenedor.setAttribute("data-superficie", estado.sup));
    estado.tiles.addTo(mapa);
  }

  let temporizador;
  mapa.on("mousemove", (e) => {
    if (!estado.sup) return;
    clearTimeout(temporizador);
    temporizador = setTimeout(() => valorEn(e.latlng), 150);
  });
  mapa.on("click", (e) => estado.sup && valorEn(e.latlng));

  async function valorEn(latlng) {
    const pedido = ++estado.pedido;
    const sup = estado.sup, capa = estado.capa;
    try {
      const r = await json(`${base()}/punto?lon=${latlng.lng.toFixed(5)}&lat=${latlng.lat.toFixed(5)}`);
      if (pedido !== estado.pedido || sup !== estado.sup) return;
      $("superficie-valor").textContent = r.valor === null ? "Bajo el cursor: fuera de Paraguay (sin dato)."
        : `Bajo el cursor: ${conUnidad(Math.round(r.valor * 10) / 10, capa.unidad)}`;
    } catch (e) {
      if (pedido === estado.pedido) {
        $("superficie-valor").textContent = e.status === 503 ? "La superficie se está preparando." : "Sin valor en ese lugar.";
      }
    }
  }

  // A whole number of pixels tall: the blocks below (the profile on a phone) keep the
  // integer positions their scrolling relies on.
  function redondear() {
    contenedor.style.minHeight = "";
    contenedor.style.minHeight = `${Math.ceil(contenedor.getBoundingClientRect().height)}px`;
  }
  new ResizeObserver(() => {
    const h = contenedor.getBoundingClientRect().height;
    if (h !== Math.round(h)) redondear();
  }).observe(contenedor);
  $("superficie-tipo").addEventListener("change", poner);
  $("superficie-medida").addEventListener("change", poner);
  // after poner: the new content first
  for (const id of ["superficie-tipo", "superficie-medida"]) $(id).addEventListener("change", redondear);
  $("superficie-opacidad").addEventListener("input", () => {
    $("superficie-opacidad-valor").textContent = `${$("superficie-opacidad").value} %`;
    estado.tiles?.setOpacity(opacidad());
  });
  poner();
  redondear();
  return estado;
}
