// Geoportal viewer: wires the catalog, the map, the legend, the profile, the search and
// the service guide together, and keeps the view in the URL.

import * as api from "./api.js";
import { leyendaPorDefecto } from "./estilo.js";
import { conUnidad, escapar, fecha, identificados, nombreNivel, numero } from "./formato.js";
import { dibujarLeyenda } from "./leyenda.js";
import { guardarEstado, leerEstado } from "./estado.js";
import { L, PARAGUAY, capaContorno, capaPuntos, capaSinRelevamiento, capaTematica, capasBase, controlEstado, crearMapa,
  nombresAlPasar } from "./mapa.js";
import { RAMPA_BRECHA, SIN_RELEVAMIENTO } from "./estilo.js";
import { mostrarPerfil } from "./perfil.js";
import { controlLeyenda } from "./leyenda.js";
import { conectarBusqueda } from "./busqueda.js";
import { conectarCuenta } from "./alertas.js";
import { colorDeTipo, conectarServicios } from "./servicios.js";
import { conectarSuperficies } from "./superficies.js";
import { conectarAreas } from "./areas.js";
import { mostrarHogar } from "./hogar.js";
import { conectarPlanificacion } from "./planificacion.js";

const $ = (id) => document.getElementById(id);
const FORMATOS = [["geojson", "GeoJSON"], ["csv", "CSV (Excel)"], ["gpkg", "GeoPackage"]];
const TIPOS_PUNTO = { usf: "Unidad de Salud de la Familia", hospital: "Hospital / centro con parto", escuela: "Local escolar (MEC)",
  registro_civil: "Registro Civil", identificaciones: "Identificaciones", ips: "IPS", snpp: "Formación laboral (SNPP)" };

const vista = { cat: null, capa: null, medida: null, tematica: null, territorio: null, resalte: null, urlTeselas: null, calculadoEn: null,
  urlBase: null, sinRelevamiento: new Map(), capaSinRelevamiento: null, contorno: null };
window.geoportal = vista; // inspected by the browser tests and handy in the console

/** Logro number → the population it measures ("mujeres embarazadas"), from the dictionary's universes. */
function poblaciones(diccionario) {
  const out = {};
  for (const m of diccionario) {
    if (m.logro != null && /^l[0-9]+_universo$/.test(m.columna)) {
      out[m.logro] = String(m.etiqueta).replace(/^Logro [0-9]+:\s*/, "").replace(/\s+identificad[oa]s$/, "");
    }
  }
  return out;
}

/** What a menu option says: the Logro's population first (the ten Logro options differ at a glance). */
function etiquetaMedida(m) {
  const pob = m.logro != null ? vista.poblaciones?.[m.logro] : null;
  if (!pob) return m.etiqueta;
  const resto = String(m.etiqueta).replace(/^Logro [0-9]+:\s*/, "").replace(/\(nucleo\)/g, "(paquete núcleo)");
  return `Logro ${m.logro} · ${pob.charAt(0).toUpperCase()}${pob.slice(1)}: ${resto}`;
}

/** A measure whose stored classes are empty at every level is constant everywhere (always 0): left out of the menu. */
function siempreConstante(capa, m) {
  const porNivel = capa.leyendas[m.tasa?.num ?? m.columna];
  if (!porNivel || capa.campoCategoria) return false;
  const ls = Object.values(porNivel);
  return ls.length > 0 && ls.every((l) => l.metodo !== "fijo" && !(l.cortes?.length));
}

// Gap rates (layer brechas_tasa): computed here from two published, protected columns
// of the same area (gap ÷ units the service applies to × 100); never from nominal data.
const CORTES_TASA = [0, 10, 25, 50];
const NOTA_TASA = "Tasa calculada en el visor: brecha publicada ÷ unidades publicadas a las que aplica el servicio × 100, en el mismo área (cifras protegidas, redondeadas a 5).";

function medidasDeTasa(capa) {
  const aplica = new Map(capa.medidas.filter((m) => m.columna.endsWith("_aplica")).map((m) => [m.columna.replace(/_aplica$/, ""), m]));
  return capa.medidas.filter((m) => /_(sin|con)_oferta$/.test(m.columna)).flatMap((m) => {
    const servicio = m.columna.replace(/_(sin|con)_oferta$/, "");
    const den = aplica.get(servicio);
    if (!den) return [];
    const nombre = String(m.etiqueta).split(":")[0];
    const cual = m.columna.endsWith("_sin_oferta") ? "sin oferta al alcance (inversión)" : "con oferta al alcance (derivación)";
    return [{ ...m, columna: `tasa__${m.columna}`, etiqueta: `${nombre}: brecha ${cual} por cada 100 ${den.unidad || "unidades"} a las que aplica`,
      unidad: "por 100", tasa: { num: m.columna, den: den.columna } }];
  });
}

const valorTasa = (t) => (p) => {
  const num = Number(p[t.num]);
  const den = Number(p[t.den]);
  return p[t.num] == null || p[t.den] == null || !(den > 0) ? null : Math.round((1000 * num) / den) / 10;
};

function nivelEnZoom(capa, z) {
  const n = capa.niveles.find((x) => z >= x.zmin && z <= x.zmax) ?? capa.niveles[capa.niveles.length - 1];
  return n?.nivel ?? null;
}

function leyendaDe(capa, medida, nivel) {
  if (capa.campoCategoria) return capa.leyendas[capa.campoCategoria]?.[nivel] ?? null;
  if (!medida) return null;
  if (medida.tasa) return { cortes: CORTES_TASA, colores: RAMPA_BRECHA, metodo: "fijo", nota: NOTA_TASA };
  const porMedida = capa.leyendas[medida.columna];
  return porMedida?.[nivel] ?? porMedida?.["*"] ?? leyendaPorDefecto(medida);
}

function popupPunto(p) {
  const filas = [["Tipo", TIPOS_PUNTO[p.tipo] ?? p.tipo], ["Institución", p.institucion],
    ["Origen", p.origen && (String(p.origen).startsWith("real") ? `dato real (${String(p.origen).slice(5)})` : "punto sintético")]]
    .filter(([, v]) => v).map(([k, v]) => `<tr><th scope="row">${k}</th><td>${escapar(v)}</td></tr>`).join("");
  return `<div class="popup"><h3>${escapar(p.nombre ?? p.codigo)}</h3><table class="cifras">${filas}</table></div>`;
}

// An area the survey has not reached: what is public about it (census population, 0 %).
function popupSinRelevamiento(t) {
  const nivel = t.nivel;
  return `<div class="popup popup-sin-relevamiento"><h3>${escapar(t.nombre)}</h3><p class="nota">${escapar(nombreNivel(nivel))}</p>
    <p class="cifra-principal"><b>Sin relevamiento FIPS</b></p>
    <table class="cifras"><tr><th scope="row">Población (Censo 2022)</th><td>${numero(t.poblacion_censo_2022)} personas</td></tr>
    <tr><th scope="row">Relevamiento FIPS</th><td>0 % de la población censal</td></tr></table>
    <button type="button" class="abrir-perfil" data-codigo="${escapar(t.codigo)}">Ver perfil del ${escapar(nivel)}</button></div>`;
}

// Unsurveyed areas: dotted, or the 0 % class of the survey-coverage layer.
function estiloSinRelevamiento(p) {
  if (!vista.sinRelevamiento.has(p.codigo)) return null;
  const base = { fill: true, fillOpacity: 1, weight: 0.6, color: "#ffffff", opacity: 0.9, className: "sin-relevamiento" };
  const cero = colorCeroPorCiento();
  return { ...base, fillColor: cero ?? SIN_RELEVAMIENTO };
}

/** On the survey-coverage layer an unsurveyed area is 0 %: the colour of that class. */
function colorCeroPorCiento() {
  if (vista.capa?.id !== "relevamiento" || !vista.medida) return null;
  const l = leyendaDe(vista.capa, vista.medida, nivelEnZoom(vista.capa, mapa.getZoom()));
  return l?.colores?.[0] ?? null;
}

/** A hexagon is named by its size, not its H3 id (the id goes in a details fold). */
const esHexagono = (p) => /^[0-9a-f]{15}$/.test(String(p.codigo ?? ""));
const nombrePublico = (p) => (esHexagono(p) ? nombreNivel(vista.nivel) : p.nombre ?? p.codigo);

function popupHtml(p, capa, nivel) {
  if (nivel === "punto") return popupPunto(p);
  const nombre = escapar(esHexagono(p) ? "Hexágono" : nombrePublico(p));
  const idH3 = esHexagono(p) ? `<details class="nota"><summary>Identificador</summary>celda H3 ${escapar(p.codigo)}</details>` : "";
  const perfil = ["departamento", "distrito"].includes(nivel) && p.codigo
    ? `<button type="button" class="abrir-perfil" data-codigo="${escapar(p.codigo)}">Ver perfil del ${nivel}</button>` : "";
  const cabeza = `<h3>${nombre}</h3><p class="nota">${escapar(nombreNivel(nivel))}</p>`;
  if (p.reservado === true || p.reservado === "true") {
    return `<div class="popup">${cabeza}<p class="reservado-texto"><b>Reservado.</b> ${escapar(capa.reservadoTexto.replace(/^Reservado:\s*/i, ""))}</p>${perfil}</div>`;
  }
  const principal = capa.medidas.find((m) => m.columna === vista.medida?.columna);
  const otras = capa.medidas.filter((m) => m !== principal && m.columna in p);
  const fila = (m) => `<tr><th scope="row">${escapar(m.etiqueta)}</th><td>${conUnidad(p[m.columna], m.unidad)}</td></tr>`;
  return `<div class="popup">${cabeza}
    ${principal ? `<p class="cifra-principal"><span>${escapar(principal.etiqueta)}</span> <b>${conUnidad(p[principal.columna], principal.unidad)}</b></p>` : ""}
    <div class="popup-extra"></div>
    ${otras.length ? `<details><summary>Otros indicadores de la capa (${otras.length})</summary><table class="cifras">${otras.map(fila).join("")}</table></details>` : ""}
    ${idH3}${perfil}</div>`;
}

async function ponerCapa(id, medidaCol) {
  const capa = vista.cat.capas.find((c) => c.id === id) ?? vista.cat.capas.find((c) => !c.base) ?? vista.cat.capas[0];
  if (capa.id === "brechas_tasa" && !capa.derivada) {
    capa.medidas = medidasDeTasa(capa);
    capa.medidaDefecto = `tasa__${capa.medidaDefecto}`;
    capa.derivada = true;
  }
  vista.capa = capa;
  vista.medida = capa.medidas.find((m) => m.columna === medidaCol) ?? capa.medidas.find((m) => m.columna === capa.medidaDefecto) ?? capa.medidas[0];
  $("capa").value = capa.id;
  const enMenu = capa.medidas.filter((m) => m === vista.medida || !siempreConstante(capa, m));
  $("medida").innerHTML = capa.medidas.length
    ? enMenu.map((m) => `<option value="${escapar(m.columna)}">${escapar(etiquetaMedida(m))}</option>`).join("")
    : '<option value="">Por tipo de punto</option>';
  $("medida").value = vista.medida?.columna ?? "";
  $("medida").disabled = enMenu.length < 2;
  $("descripcion-capa").textContent = capa.descripcion;
  const url = await api.urlTeselas(capa);
  if (vista.capa !== capa) return; // a newer choice arrived meanwhile
  vista.urlTeselas = url;
  if (vista.tematica) mapa.removeLayer(vista.tematica);
  const medida = vista.medida;
  vista.tematica = capa.geometria === "punto"
    ? capaPuntos(mapa, vista.urlTeselas, colorDePunto(capa), (p, ll) => abrirPopup(p, ll, "punto"))
    : capaTematica(mapa, vista.urlTeselas, medida?.columna, (z) => leyendaDe(capa, medida, nivelEnZoom(capa, z)),
      (p, ll) => abrirPopup(p, ll), medida?.tasa ? valorTasa(medida.tasa) : null);
  vista.tematica.on("load", () => document.body.setAttribute("data-teselas", "cargadas"));
  if (capa.geometria !== "punto") nombresAlPasar(mapa, vista.tematica, nombrePublico);
  ponerSinRelevamiento();
  estadoMapa.seguir(vista.tematica);
  // First vector features on screen (bench/visor.py reads this mark).
  vista.tematica.on("tileload", () => {
    if (vista.tematica.dibujados?.size && !performance.getEntriesByName("primer-mapa").length) performance.mark("primer-mapa");
  });
  actualizarNivel();
  actualizarAtribucion();
}

function ponerSinRelevamiento() {
  if (!vista.urlBase || !vista.sinRelevamiento.size) return;
  if (vista.capaSinRelevamiento) mapa.removeLayer(vista.capaSinRelevamiento);
  vista.capaSinRelevamiento = capaSinRelevamiento(mapa, vista.urlBase, estiloSinRelevamiento,
    (p, ll) => abrirPopupSinRelevamiento(p, ll));
  nombresAlPasar(mapa, vista.capaSinRelevamiento, (p) => vista.sinRelevamiento.get(p.codigo)?.nombre ?? p.nombre);
}

function abrirPopupSinRelevamiento(p, latlng) {
  if (servicios.alClicMapa(latlng)) return;
  const t = vista.sinRelevamiento.get(p.codigo);
  if (!t) return;
  const tamano = mapa.getSize();
  L.popup({ maxWidth: Math.min(340, tamano.x - 110), maxHeight: Math.max(140, tamano.y - 110), autoPanPadding: [20, 20] })
    .setLatLng(latlng).setContent(popupSinRelevamiento(t)).openOn(mapa);
}

// One colour per point type everywhere (map, legend, "servicios cerca de mí"): the guide's.
function colorDePunto(capa) {
  const campo = capa.campoCategoria ?? "tipo";
  return (p) => colorDeTipo(p[campo]);
}

function leyendaDePuntos(l) {
  return l?.categorias?.length ? { ...l, colores: l.categorias.map(colorDeTipo) } : l;
}

// The map shows the short credit; every source with its licence is listed in the footer.
const CREDITO = 'Datos: INE, MEC, MSPBS, GeoNames, H3 · <a href="#pie">fuentes</a>';
function actualizarAtribucion() {
  const textos = [...new Set([...(vista.cat.atribucion ?? []), ...(vista.capa.atribucion ?? [])])];
  $("atribucion-fuentes").innerHTML = textos.map((t) => `<li>${escapar(t)}</li>`).join("");
}

function actualizarNivel() {
  if (!vista.capa) return;
  const nivel = vista.capa.geometria === "punto" ? "punto" : nivelEnZoom(vista.capa, mapa.getZoom());
  vista.nivel = nivel;
  $("nivel-actual").textContent = nombreNivel(nivel);
  const puntos = vista.capa.geometria === "punto";
  dibujarLeyenda($("leyenda"), {
    medida: vista.medida ?? { etiqueta: puntos ? "Puntos de entrega por tipo" : vista.capa.titulo, unidad: "" },
    leyenda: puntos ? leyendaDePuntos(leyendaDe(vista.capa, vista.medida, nivel)) : leyendaDe(vista.capa, vista.medida, nivel),
    nivel, reservadoTexto: vista.capa.reservadoTexto,
    nombreCategoria: (c) => TIPOS_PUNTO[c] ?? c, areas: !puntos,
    sinRelevamiento: vista.sinRelevamiento.size ? { color: colorCeroPorCiento() } : null,
  });
  leyendaEnMapa.mostrar($("leyenda"));
  actualizarTitulo();
  const t = vista.territorio;
  $("descarga-ambito").textContent = t ? ` (${t.nombre ?? t.codigo})` : " (todo el país)";
  $("descargas").innerHTML = FORMATOS.map(([f, n]) =>
    `<a class="boton" download href="${escapar(api.urlDescarga(vista.capa.id, f, nivel === "punto" ? null : nivel, t))}">${n}</a>`).join("");
}

// Numerator and denominator of the selected measure, as /api/indicadores publishes them.
function denominadorHtml(d, medida) {
  if (!medida) return "";
  const entrada = medida.logro ? d.logros?.find((l) => l.logro === medida.logro)
    : medida.servicio ? d.servicios?.find((x) => x.servicio === medida.servicio) : null;
  if (!entrada || entrada.denominador == null) return "";
  const cubiertos = medida.logro ? "en protección concurrente" : "con el servicio";
  return `<p class="denominador">${entrada.numerador != null ? `${numero(entrada.numerador)} ${cubiertos} ` : ""}de <b>${numero(entrada.denominador)}</b> ${
    escapar(identificados(entrada.unidad))}${medida.logro ? ` (${escapar(entrada.nombre ?? `Logro ${medida.logro}`)})` : ""}</p>`;
}

async function abrirPopup(p, latlng, nivel = vista.nivel) {
  if (servicios.alClicMapa(latlng)) return;
  // A popup never taller or wider than the map (a phone's map is ~400 px high).
  const tamano = mapa.getSize();
  const popup = L.popup({ maxWidth: Math.min(340, tamano.x - 110), maxHeight: Math.max(140, tamano.y - 110),
    autoPanPadding: [20, 20] }).setLatLng(latlng)
    .setContent(popupHtml(p, vista.capa, nivel)).openOn(mapa);
  if (nivel === "punto" || !p.codigo || p.reservado === true) return;
  const medida = vista.medida;
  const extra = [];
  try {
    extra.push(denominadorHtml(await api.indicadores(nivel, p.codigo), medida));
    if (["departamento", "distrito"].includes(nivel)) {
      const r = (await api.perfil(p.codigo)).relevamiento;
      if (r?.relevamiento_pct != null) extra.push(`<p class="nota">Relevamiento FIPS: ${numero(r.relevamiento_pct, "%")} de la población censal 2022.</p>`);
      if (r?.aviso) extra.push(`<p class="aviso-relevamiento">${escapar(r.aviso)}</p>`);
    }
  } catch { /* the figures from the tile are still shown */ }
  // setContent, not the DOM: Leaflet re-renders a popup from its content on update.
  if (popup.isOpen()) popup.setContent(popupHtml(p, vista.capa, nivel).replace('<div class="popup-extra"></div>', `<div class="popup-extra">${extra.join("")}</div>`));
}

// The chosen territory outlined on the map (from the territory tiles: works for every area).
function contornear(codigo) {
  if (vista.contorno) mapa.removeLayer(vista.contorno);
  vista.contorno = codigo && vista.urlBase ? capaContorno(mapa, vista.urlBase, codigo) : null;
  if (codigo) document.body.setAttribute("data-contorno", codigo);
  else document.body.removeAttribute("data-contorno");
}

/** `mover`: fit the map to the territory (search, alerts, ?t= without a view). */
async function abrirPerfil(codigo, { historial = true, mover = false } = {}) {
  let p;
  try {
    p = await api.perfil(codigo);
  } catch (e) {
    // The same place and layout as a profile, with a way out and a way to try again.
    document.body.classList.add("con-perfil");
    $("perfil").hidden = false;
    $("perfil").innerHTML = `<div class="error-perfil" role="alert"><h2>No se pudo abrir el perfil</h2>
      <p>${escapar(e.message)}</p><div class="botones">
      <button type="button" class="reintentar-perfil">Reintentar</button>
      <button type="button" class="cerrar-error-perfil">Cerrar</button></div></div>`;
    $("perfil").querySelector(".reintentar-perfil").onclick = () => abrirPerfil(codigo, { historial, mover });
    $("perfil").querySelector(".cerrar-error-perfil").onclick = cerrarPerfil;
    setTimeout(() => mapa.invalidateSize(), 50);
    return;
  }
  vista.territorio = { codigo: p.codigo ?? codigo, nivel: p.nivel, nombre: p.nombre };
  contornear(vista.territorio.codigo);
  document.body.classList.add("con-perfil");
  mostrarPerfil($("perfil"), p, { calculadoEn: vista.calculadoEn, alCerrar: cerrarPerfil, alVerEnMapa: verCeldas });
  if (!performance.getEntriesByName("perfil-abierto").length) performance.mark("perfil-abierto"); // bench/visor.py
  // The profile opens at its top (on a phone it lies below the map and the panel).
  $("perfil").scrollTop = 0;
  $("perfil").focus({ preventScroll: true });
  if (window.matchMedia("(max-width: 760px)").matches) $("perfil").scrollIntoView({ block: "start" });
  // The history entry first: the move below then updates this entry's view, never the previous one's.
  guardar({ nuevo: historial });
  await new Promise((r) => setTimeout(r, 50));
  if (vista.territorio?.codigo !== (p.codigo ?? codigo)) return; // Back or another choice came meanwhile
  mapa.invalidateSize();
  if (mover && p.bbox) mapa.fitBounds([[p.bbox[1], p.bbox[0]], [p.bbox[3], p.bbox[2]]], { animate: false, padding: [10, 10] });
  actualizarNivel();
  guardar();
  actualizarTitulo();
}

/** The map says what it shows: measure, level and territory, over the map. */
function actualizarTitulo() {
  if (!vista.capa || !tituloMapa.caja) return;
  const m = vista.medida;
  const que = m ? etiquetaMedida(m) : vista.capa.titulo;
  const donde = vista.territorio?.nombre ?? "Paraguay";
  tituloMapa.caja.innerHTML = `${escapar(que)} <span class="lugar">· ${escapar(donde)}</span><span class="nota">${
    escapar(vista.capa.titulo)} · por ${escapar(nombreNivel(vista.nivel).toLowerCase())}</span>`;
}

function cerrarPerfil() {
  vista.territorio = null;
  contornear(null);
  $("perfil").hidden = true;
  document.body.classList.remove("con-perfil");
  quitarResalte();
  setTimeout(() => mapa.invalidateSize(), 50);
  actualizarNivel();
  guardar({ nuevo: true });
}

function quitarResalte() {
  if (vista.resalte) mapa.removeLayer(vista.resalte);
  vista.resalte = null;
  document.body.removeAttribute("data-resaltadas");
}

// "Ver en el mapa": outline the H3 cells of a gap (geometries from the OGC API) and zoom to them.
async function verCeldas(celdas) {
  quitarResalte();
  const features = (await Promise.all(celdas.map((c) => api.celda(c).catch(() => null)))).filter(Boolean);
  if (!features.length) return;
  vista.resalte = L.geoJSON({ type: "FeatureCollection", features }, {
    pane: "resalte", interactive: false,
    style: { color: "#e6007e", weight: 3, opacity: 1, fill: true, fillColor: "#e6007e", fillOpacity: 0.15, className: "resaltado" },
  }).addTo(mapa);
  mapa.fitBounds(vista.resalte.getBounds().pad(0.3), { maxZoom: 12 });
  document.body.setAttribute("data-resaltadas", String(features.length));
}

function guardar({ nuevo = false } = {}) {
  if (!vista.capa || vista.aplicando) return; // restoring an entry (Back/Forward) never rewrites it
  const c = mapa.getCenter();
  guardarEstado({ capa: vista.capa?.id, medida: vista.medida?.columna, z: mapa.getZoom(), lat: c.lat, lon: c.lng,
    t: vista.territorio?.codigo }, { nuevo });
}

async function aplicarEstado(e, { historial = false } = {}) {
  if (e.z !== undefined && e.lat !== undefined && e.lon !== undefined) mapa.setView([e.lat, e.lon], e.z, { animate: false });
  if (!vista.capa || e.capa !== vista.capa.id || e.medida !== vista.medida?.columna) await ponerCapa(e.capa, e.medida);
  // A shared or login link with only ?t=CODE: the map goes to the territory.
  const sinVista = e.z === undefined || e.lat === undefined || e.lon === undefined;
  if (e.t && e.t !== vista.territorio?.codigo) await abrirPerfil(e.t, { historial, mover: sinVista && !historial });
  else if (!e.t && vista.territorio) {
    vista.territorio = null; contornear(null); $("perfil").hidden = true; document.body.classList.remove("con-perfil"); actualizarNivel();
  }
  // The entry's view once more: opening the profile resizes the map (a phone scrolls to it).
  if (!e.t || e.t === vista.territorio?.codigo) {
    if (e.z !== undefined && e.lat !== undefined && e.lon !== undefined && historial === false && vista.aplicando) {
      mapa.invalidateSize();
      mapa.setView([e.lat, e.lon], e.z, { animate: false });
    }
  }
  actualizarTitulo();
}

const FRAGMENTO = window.location.hash; // read before the view is written into the URL
const mapa = crearMapa($("mapa"));
vista.mapa = mapa;
// On a phone the panel's legend is far below the map: a compact copy sits on the map.
const leyendaEnMapa = controlLeyenda().addTo(mapa);
const estadoMapa = controlEstado().addTo(mapa);
const tituloMapa = L.control({ position: "topright" });
tituloMapa.onAdd = () => { tituloMapa.caja = L.DomUtil.create("h2", "titulo-mapa"); tituloMapa.caja.id = "titulo-mapa"; return tituloMapa.caja; };
tituloMapa.addTo(mapa);
mapa.on("popupopen", () => { leyendaEnMapa.plegar(true); $("mapa").classList.add("con-popup"); }); // read without the legend or title over it
mapa.on("popupclose", () => { leyendaEnMapa.plegar(false); $("mapa").classList.remove("con-popup"); });
mapa.fitBounds(PARAGUAY);
const servicios = conectarServicios(mapa, {
  botonMio: $("cerca-mio"), botonClic: $("cerca-clic"), selectTipo: $("tipo-servicio"), estadoEl: $("servicios-estado"), listaEl: $("servicios"),
});
mapa.on("click", (e) => servicios.alClicMapa(e.latlng));
mapa.on("zoomend", actualizarNivel);
mapa.on("moveend", () => guardar());
// Delegated: a popup's content is re-rendered when its denominators arrive.
mapa.getContainer().addEventListener("click", (e) => {
  const boton = e.target.closest?.(".abrir-perfil");
  if (boton) { mapa.closePopup(); abrirPerfil(boton.dataset.codigo); }
});
window.addEventListener("popstate", async () => {
  vista.aplicando = true;
  try { await aplicarEstado(leerEstado()); } finally { vista.aplicando = false; }
  document.body.dataset.historia = String(Date.now()); // the browser tests wait for this
});

// "Copiar enlace": the URL restores this exact view (layer, indicator, map, territory).
$("copiar-enlace").addEventListener("click", async () => {
  let ok = false;
  try { await navigator.clipboard.writeText(window.location.href); ok = true; } catch { /* no clipboard permission */ }
  if (!ok) {
    const campo = document.createElement("textarea");
    campo.value = window.location.href;
    document.body.append(campo);
    campo.select();
    try { ok = document.execCommand("copy"); } catch { ok = false; }
    campo.remove();
  }
  $("enlace-estado").textContent = ok ? "Enlace copiado: péguelo para compartir esta vista." : `Copie este enlace: ${window.location.href}`;
});

$("plegar").addEventListener("click", () => {
  const abierto = $("plegar").getAttribute("aria-expanded") === "true";
  $("plegar").setAttribute("aria-expanded", String(!abierto));
  $("plegar").textContent = abierto ? "Mostrar panel" : "Ocultar panel";
  $("panel-contenido").hidden = abierto;
  setTimeout(() => mapa.invalidateSize(), 50);
});

$("tipo-servicio").innerHTML += Object.entries(TIPOS_PUNTO).map(([k, v]) => `<option value="${k}">${escapar(v)}</option>`).join("");

conectarBusqueda($("buscar"), $("resultados"), (r) => {
  // A department or district: its profile moves the map (once, after the history entry exists).
  if (r.bbox && !["localidad", "departamento", "distrito"].includes(r.nivel)) mapa.fitBounds([[r.bbox[1], r.bbox[0]], [r.bbox[3], r.bbox[2]]]);
  if (r.nivel === "localidad" && r.centroide) mapa.setView([r.centroide[1], r.centroide[0]], 12);
  if (["departamento", "distrito"].includes(r.nivel)) abrirPerfil(r.codigo, { mover: true });
});

async function iniciar() {
  try {
    vista.cat = await api.catalogo();
  } catch (e) {
    $("leyenda").innerHTML = `<p role="alert">No se pudo leer el catálogo de capas: ${escapar(e.message)}</p>`;
    return;
  }
  const cat = vista.cat;
  if (cat.dataVersion) $("data-version").textContent = cat.dataVersion;
  api.listo().then((l) => { vista.calculadoEn = l.calculado_en; $("data-fecha").textContent = fecha(l.calculado_en); }).catch(() => {});
  const etiqueta = cat.capas.find((c) => c.etiquetaSintetica)?.etiquetaSintetica;
  $("aviso-sintetico").hidden = !etiqueta;
  if (etiqueta) $("aviso-sintetico").title = etiqueta;
  // Gaps as a rate first, the counts next (issue 22: raw counts made the empty Chaco the worst).
  const tematicas = cat.capas.filter((c) => !c.base).sort((a, b) => (a.id === "brechas_tasa" && b.id === "brechas" ? -1
    : a.id === "brechas" && b.id === "brechas_tasa" ? 1 : 0));
  $("capa").innerHTML = tematicas.map((c) => `<option value="${escapar(c.id)}">${escapar(c.titulo)}</option>`).join("");
  mapa.attributionControl.addAttribution(CREDITO);
  const base = cat.capas.find((c) => c.base);
  if (base) {
    vista.urlBase = await api.urlTeselas(base);
    vista.base = capasBase(mapa, vista.urlBase);
  }
  await Promise.all([
    api.sinRelevamiento().then((r) => { vista.sinRelevamiento = new Map(r.territorios.map((t) => [t.codigo, t])); }).catch(() => {}),
    api.diccionario().then((d) => { vista.poblaciones = poblaciones(d); }).catch(() => {}),
  ]);
  $("capa").addEventListener("change", async () => { await ponerCapa($("capa").value); guardar({ nuevo: true }); });
  $("medida").addEventListener("change", async () => { await ponerCapa(vista.capa.id, $("medida").value); guardar({ nuevo: true }); });
  const inicial = leerEstado();
  const porDefecto = tematicas.find((c) => c.id === "logros") ?? tematicas[0];
  await aplicarEstado({ ...inicial, capa: inicial.capa ?? porDefecto?.id });
  guardar();
  conectarSuperficies(mapa, $("superficies")); // raster surfaces (their own block of the panel)
  conectarAreas($("areas-form"), $("areas"), (codigo) => abrirPerfil(codigo, { mover: true }));
  mostrarHogar(mapa, FRAGMENTO); // a Mesa's link to a household (#hogar=…), never in the query string
  document.body.setAttribute("data-listo", "si");
  conectarCuenta($("cuenta"), (codigo) => abrirPerfil(codigo, { mover: true })).then((sesion) => {
    document.body.setAttribute("data-cuenta", "si");
    conectarPlanificacion(mapa, $("cuenta"), sesion); // Mesas and the Gabinete: the planning panel
  });
  setInterval(vigilarVersion, 60_000);
  // A tab brought back to the front (often after hours) checks at once.
  document.addEventListener("visibilitychange", () => { if (!document.hidden) vigilarVersion(); });
}

// Tiles are requested with ?v=<data_version>; after a new publication the server redirects the
// old version's tiles to the current one, and the viewer reloads its catalog (the TileJSON
// URLs) and redraws, so that no tile of the old version stays on screen beside a new one.
async function vigilarVersion() {
  let actual;
  try { actual = (await api.listo()).data_version; } catch { return; }
  if (!actual || actual === vista.cat.dataVersion) return;
  let cat;
  try { cat = await api.catalogo({ fresco: true }); } catch { return; }
  vista.cat = cat;
  const base = cat.capas.find((c) => c.base);
  if (base && vista.base) {
    const url = await api.urlTeselas(base);
    vista.urlBase = url; // the outline and the no-survey layer read the base tiles too
    vista.base.relleno.setUrl(url);
    vista.base.limites.setUrl(url);
  }
  await ponerCapa(vista.capa.id, vista.medida?.columna);
  $("data-version").textContent = cat.dataVersion ?? actual;
}

iniciar();
