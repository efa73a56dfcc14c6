// Geoportal viewer: wires the catalog, the map, the legend, the profile, the search and
// the service guide together, and keeps the view in the URL.

import * as api from "./api.js";
import { leyendaPorDefecto } from "./estilo.js";
import { conUnidad, escapar, fecha, nombreNivel, numero } from "./formato.js";
import { dibujarLeyenda } from "./leyenda.js";
import { guardarEstado, leerEstado } from "./estado.js";
import { L, PARAGUAY, capaPuntos, capaTematica, capasBase, crearMapa, resaltar } from "./mapa.js";
import { mostrarPerfil } from "./perfil.js";
import { conectarBusqueda } from "./busqueda.js";
import { colorDeTipo, conectarServicios } from "./servicios.js";

const $ = (id) => document.getElementById(id);
const FORMATOS = [["geojson", "GeoJSON"], ["csv", "CSV (Excel)"], ["gpkg", "GeoPackage"]];
const TIPOS_PUNTO = { usf: "Unidad de Salud de la Familia", hospital: "Hospital / centro con parto", escuela: "Local escolar (MEC)",
  registro_civil: "Registro Civil", identificaciones: "Identificaciones", ips: "IPS", snpp: "Formación laboral (SNPP)" };

const vista = { cat: null, capa: null, medida: null, tematica: null, territorio: null, resaltadas: [], urlTeselas: null };
window.geoportal = vista; // inspected by the browser tests and handy in the console

function nivelEnZoom(capa, z) {
  const n = capa.niveles.find((x) => z >= x.zmin && z <= x.zmax) ?? capa.niveles[capa.niveles.length - 1];
  return n?.nivel ?? null;
}

function leyendaDe(capa, medida, nivel) {
  if (capa.campoCategoria) return capa.leyendas[capa.campoCategoria]?.[nivel] ?? null;
  if (!medida) return null;
  const porMedida = capa.leyendas[medida.columna];
  return porMedida?.[nivel] ?? porMedida?.["*"] ?? leyendaPorDefecto(medida);
}

// Denominator of a measure, by the dictionary's naming: lN_pct -> lN_universo, svc_pct -> svc_aplica.
function denominador(columna) {
  const logro = columna.match(/^(l\d+)_/);
  if (logro) return `${logro[1]}_universo`;
  const base = columna.replace(/_(pct|cubiertos|sin_oferta|con_oferta)$/, "");
  return base !== columna ? `${base}_aplica` : null;
}

function popupPunto(p) {
  const filas = [["Tipo", TIPOS_PUNTO[p.tipo] ?? p.tipo], ["Institución", p.institucion],
    ["Origen", p.origen && (String(p.origen).startsWith("real") ? `dato real (${String(p.origen).slice(5)})` : "punto sintético")]]
    .filter(([, v]) => v).map(([k, v]) => `<tr><th scope="row">${k}</th><td>${escapar(v)}</td></tr>`).join("");
  return `<div class="popup"><h3>${escapar(p.nombre ?? p.codigo)}</h3><table class="cifras">${filas}</table></div>`;
}

function popupHtml(p, capa, nivel) {
  if (nivel === "punto") return popupPunto(p);
  const medidas = capa.medidas;
  const nombre = p.nombre ?? p.codigo;
  const filas = [];
  if (p.reservado === true || p.reservado === "true") {
    filas.push(`<p class="reservado-texto"><b>Reservado.</b> ${escapar(capa.reservadoTexto)}</p>`);
  } else {
    const principal = medidas.find((m) => m.columna === vista.medida?.columna);
    const orden = [principal, ...medidas.filter((m) => m !== principal)].filter(Boolean);
    for (const m of orden) {
      if (!(m.columna in p)) continue;
      const den = denominador(m.columna);
      const denTexto = den && p[den] != null && den !== m.columna
        ? ` <span class="nota">de ${numero(p[den])} ${escapar(medidas.find((x) => x.columna === den)?.unidad ?? "")} identificados</span>` : "";
      filas.push(`<tr${m === principal ? ' class="principal"' : ""}><th scope="row">${escapar(m.etiqueta)}</th><td>${conUnidad(p[m.columna], m.unidad)}${denTexto}</td></tr>`);
    }
    if ("relevamiento_pct" in p && !medidas.some((m) => m.columna === "relevamiento_pct")) {
      filas.push(`<tr><th scope="row">Cobertura del relevamiento</th><td>${numero(p.relevamiento_pct, "%")} de la población censal</td></tr>`);
    }
  }
  const tabla = filas.length && !filas[0].startsWith("<p") ? `<table class="cifras">${filas.join("")}</table>` : filas.join("");
  const perfil = ["departamento", "distrito"].includes(nivel) && p.codigo
    ? `<button type="button" class="abrir-perfil" data-codigo="${escapar(p.codigo)}">Ver perfil del ${nivel}</button>` : "";
  return `<div class="popup"><h3>${escapar(nombre)}</h3><p class="nota">${escapar(nombreNivel(nivel))}</p>${tabla}${perfil}</div>`;
}

async function ponerCapa(id, medidaCol) {
  const capa = vista.cat.capas.find((c) => c.id === id) ?? vista.cat.capas.find((c) => !c.base) ?? vista.cat.capas[0];
  vista.capa = capa;
  vista.medida = capa.medidas.find((m) => m.columna === medidaCol) ?? capa.medidas.find((m) => m.columna === capa.medidaDefecto) ?? capa.medidas[0];
  $("capa").value = capa.id;
  $("medida").innerHTML = capa.medidas.length
    ? capa.medidas.map((m) => `<option value="${escapar(m.columna)}">${escapar(m.etiqueta)}</option>`).join("")
    : '<option value="">Por tipo de punto</option>';
  $("medida").value = vista.medida?.columna ?? "";
  $("medida").disabled = capa.medidas.length < 2;
  $("descripcion-capa").textContent = capa.descripcion;
  const tj = await api.tilejson(capa);
  if (vista.capa !== capa) return; // a newer choice arrived meanwhile
  vista.urlTeselas = tj.tiles[0];
  if (vista.tematica) mapa.removeLayer(vista.tematica);
  const medida = vista.medida;
  vista.tematica = capa.geometria === "punto"
    ? capaPuntos(mapa, vista.urlTeselas, colorDePunto(capa), (p, ll) => abrirPopup(p, ll, "punto"))
    : capaTematica(mapa, vista.urlTeselas, medida?.columna, (z) => leyendaDe(capa, medida, nivelEnZoom(capa, z)),
      (p, ll) => abrirPopup(p, ll));
  vista.tematica.on("load", () => document.body.setAttribute("data-teselas", "cargadas"));
  actualizarNivel();
  actualizarAtribucion();
}

function colorDePunto(capa) {
  const l = leyendaDe(capa, null, "punto");
  const campo = capa.campoCategoria ?? "tipo";
  return (p) => {
    const i = l?.categorias?.indexOf(String(p[campo])) ?? -1;
    return i >= 0 ? l.colores[i] : colorDeTipo(p[campo]);
  };
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
    leyenda: leyendaDe(vista.capa, vista.medida, nivel), nivel, reservadoTexto: vista.capa.reservadoTexto,
    nombreCategoria: (c) => TIPOS_PUNTO[c] ?? c, areas: !puntos,
  });
  const t = vista.territorio;
  $("descarga-ambito").textContent = t ? ` (${t.nombre ?? t.codigo})` : " (todo el país)";
  $("descargas").innerHTML = FORMATOS.map(([f, n]) =>
    `<a class="boton" download href="${escapar(api.urlDescarga(vista.capa.id, f, nivel === "punto" ? null : nivel, t))}">${n}</a>`).join("");
}

function abrirPopup(p, latlng, nivel = vista.nivel) {
  if (servicios.alClicMapa(latlng)) return;
  L.popup({ maxWidth: 320, autoPanPadding: [20, 20] }).setLatLng(latlng).setContent(popupHtml(p, vista.capa, nivel)).openOn(mapa);
}

async function abrirPerfil(codigo, { historial = true } = {}) {
  let p;
  try {
    p = await api.perfil(codigo);
  } catch (e) {
    $("perfil").hidden = false;
    $("perfil").innerHTML = `<p role="alert">No se pudo abrir el perfil de ${escapar(codigo)}: ${escapar(e.message)}</p>`;
    return;
  }
  vista.territorio = { codigo: p.codigo ?? codigo, nivel: p.nivel, nombre: p.nombre };
  document.body.classList.add("con-perfil");
  mostrarPerfil($("perfil"), p, {
    dataVersion: vista.cat.dataVersion,
    alCerrar: cerrarPerfil,
    alVerEnMapa: verCeldas,
  });
  $("perfil").focus();
  if (p.bbox) mapa.fitBounds([[p.bbox[1], p.bbox[0]], [p.bbox[3], p.bbox[2]]]);
  actualizarNivel();
  guardar({ nuevo: historial });
}

function cerrarPerfil() {
  vista.territorio = null;
  $("perfil").hidden = true;
  document.body.classList.remove("con-perfil");
  actualizarNivel();
  guardar({ nuevo: true });
}

function verCeldas(celdas, brecha) {
  if (!vista.tematica?.setFeatureStyle) return;
  vista.resaltadas = resaltar(vista.tematica, celdas, vista.resaltadas);
  const b = brecha?.bbox ?? vista.perfilBbox;
  const zH3 = vista.capa.niveles.find((n) => n.nivel.startsWith("h3"))?.zmin;
  if (b) mapa.fitBounds([[b[1], b[0]], [b[3], b[2]]], { maxZoom: 13 });
  if (zH3 && mapa.getZoom() < zH3) mapa.setZoom(zH3);
  document.body.setAttribute("data-resaltadas", String(celdas.length));
}

function guardar({ nuevo = false } = {}) {
  if (!vista.capa) return;
  const c = mapa.getCenter();
  guardarEstado({ capa: vista.capa?.id, medida: vista.medida?.columna, z: mapa.getZoom(), lat: c.lat, lon: c.lng,
    t: vista.territorio?.codigo }, { nuevo });
}

async function aplicarEstado(e, { historial = false } = {}) {
  if (e.z !== undefined && e.lat !== undefined && e.lon !== undefined) mapa.setView([e.lat, e.lon], e.z, { animate: false });
  if (!vista.capa || e.capa !== vista.capa.id || e.medida !== vista.medida?.columna) await ponerCapa(e.capa, e.medida);
  if (e.t && e.t !== vista.territorio?.codigo) await abrirPerfil(e.t, { historial });
  else if (!e.t && vista.territorio) { vista.territorio = null; $("perfil").hidden = true; document.body.classList.remove("con-perfil"); actualizarNivel(); }
}

const mapa = crearMapa($("mapa"));
mapa.fitBounds(PARAGUAY);
const servicios = conectarServicios(mapa, {
  botonMio: $("cerca-mio"), botonClic: $("cerca-clic"), selectTipo: $("tipo-servicio"), estadoEl: $("servicios-estado"), listaEl: $("servicios"),
});
mapa.on("click", (e) => servicios.alClicMapa(e.latlng));
mapa.on("zoomend", actualizarNivel);
mapa.on("moveend", () => guardar());
mapa.on("popupopen", (e) => {
  const boton = e.popup.getElement().querySelector(".abrir-perfil");
  if (boton) boton.addEventListener("click", () => { mapa.closePopup(); abrirPerfil(boton.dataset.codigo); });
});
window.addEventListener("popstate", () => aplicarEstado(leerEstado()));

$("plegar").addEventListener("click", () => {
  const abierto = $("plegar").getAttribute("aria-expanded") === "true";
  $("plegar").setAttribute("aria-expanded", String(!abierto));
  $("plegar").textContent = abierto ? "Mostrar panel" : "Ocultar panel";
  $("panel-contenido").hidden = abierto;
  setTimeout(() => mapa.invalidateSize(), 50);
});

$("tipo-servicio").innerHTML += Object.entries(TIPOS_PUNTO).map(([k, v]) => `<option value="${k}">${escapar(v)}</option>`).join("");

conectarBusqueda($("buscar"), $("resultados"), (r) => {
  if (r.bbox) mapa.fitBounds([[r.bbox[1], r.bbox[0]], [r.bbox[3], r.bbox[2]]]);
  else if (r.lat != null && r.lon != null) mapa.setView([r.lat, r.lon], r.nivel === "localidad" ? 12 : 9);
  else if (r.geometry?.coordinates) mapa.setView([r.geometry.coordinates[1], r.geometry.coordinates[0]], 10);
  if (["departamento", "distrito"].includes(r.nivel)) abrirPerfil(r.codigo);
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
  if (cat.fecha) $("data-fecha").textContent = fecha(cat.fecha);
  const etiqueta = cat.capas.find((c) => c.etiquetaSintetica)?.etiquetaSintetica;
  $("aviso-sintetico").hidden = !etiqueta;
  if (etiqueta) $("aviso-sintetico").title = etiqueta;
  const tematicas = cat.capas.filter((c) => !c.base);
  $("capa").innerHTML = tematicas.map((c) => `<option value="${escapar(c.id)}">${escapar(c.titulo)}</option>`).join("");
  mapa.attributionControl.addAttribution(CREDITO);
  const base = cat.capas.find((c) => c.base);
  if (base) capasBase(mapa, (await api.tilejson(base)).tiles[0]);
  $("capa").addEventListener("change", async () => { await ponerCapa($("capa").value); guardar({ nuevo: true }); });
  $("medida").addEventListener("change", async () => { await ponerCapa(vista.capa.id, $("medida").value); guardar({ nuevo: true }); });
  const inicial = leerEstado();
  const porDefecto = tematicas.find((c) => c.id === "logros") ?? tematicas[0];
  await aplicarEstado({ ...inicial, capa: inicial.capa ?? porDefecto?.id });
  guardar();
  document.body.setAttribute("data-listo", "si");
}

iniciar();
