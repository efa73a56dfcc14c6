// "Planificación" (issue 24): a panel block for logged-in Mesas and the Gabinete. Runs the
// investment planner for a district of the role (POST /api/planificador), draws the proposed
// sites and the res-8 cells each would reach, lets the user drop a candidate point on the map
// and see its effect (the what-if, POST /api/planificador/efecto), and adds sites to a plan
// (POST /api/planes/{id}/acciones), whose expected effect (GET /api/planes/{id}/efecto) and
// printable sheet (/planes/{id}/hoja) follow. Every figure is protected by the server (hidden
// under the threshold, rounded); the nominal demand never reaches the browser.

import { escapar } from "./formato.js";
import { L } from "./mapa.js";

export const ROLES_PLAN = new Set(["gabinete", "mesa_departamental", "mesa_distrital"]);
const COLORES = ["#e6007e", "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"];
const cifra = (n) => (n === null || n === undefined ? "reservado" : Number(n).toLocaleString("es-PY"));
const pct = (v) => (v === null || v === undefined ? "—" : `${Number(v).toLocaleString("es-PY", { maximumFractionDigits: 1 })} %`);

const ESTILO = `.planificacion label { display: block; margin-top: .3rem; }
.plan-tabla { border-collapse: collapse; font-size: .85rem; margin: .3rem 0; width: 100%; }
.plan-tabla caption { text-align: left; font-weight: 600; }
.plan-tabla th, .plan-tabla td { border-bottom: 1px solid #ddd; padding: .1rem .3rem; text-align: left; }
.plan-tabla td.num { text-align: right; white-space: nowrap; }
.plan-sitios li { margin: .3rem 0; }
.plan-sitios .muestra { display: inline-block; width: .8rem; height: .8rem; border-radius: 50%; vertical-align: middle; }`;

function pedidor(csrf) {
  return async function json(url, metodo = "GET", cuerpo = undefined) {
    const headers = { Accept: "application/json" };
    if (cuerpo !== undefined) Object.assign(headers, { "Content-Type": "application/json", "X-CSRF-Token": csrf });
    const r = await fetch(url, { method: metodo, credentials: "same-origin", headers, body: cuerpo === undefined ? undefined : JSON.stringify(cuerpo) });
    let datos = null;
    try { datos = await r.json(); } catch { /* no JSON body */ }
    if (!r.ok) {
      const d = datos?.detail;
      throw new Error(typeof d === "string" ? d : r.status >= 500 ? `El servicio tuvo un error (${r.status}).` : `Pedido no válido (${r.status}).`);
    }
    return datos;
  };
}

/** Services that gain reach and Logros (current → expected, meta) of an effect. */
function efectoHtml(e, { todos = false } = {}) {
  const servicios = (e.servicios ?? []).filter((s) => s.pasan_a_con_oferta || s.meta_campana);
  const filasS = servicios.map((s) => `<tr><td>${escapar(s.nombre)}</td><td class="num">${cifra(s.pasan_a_con_oferta)}</td></tr>`).join("");
  const logros = (e.logros ?? []).filter((n) => todos || n.esperado_pct !== n.actual_pct);
  const filasL = logros.map((n) => `<tr><td>Logro ${n.logro}</td><td class="num">${pct(n.actual_pct)}</td><td class="num">${pct(n.esperado_pct)}</td>
    <td class="num">${pct(n.meta_pct)}</td></tr>`).join("");
  return `${servicios.length ? `<table class="plan-tabla servicios-efecto"><caption>Pasan a tener oferta al alcance (personas u hogares × servicio)</caption>
      <tr><th>Servicio</th><th>Unidades</th></tr>${filasS}</table>` : '<p class="nota">Ninguna persona u hogar sin oferta pasa a tenerla al alcance.</p>'}
    ${logros.length ? `<table class="plan-tabla logros-efecto"><caption>Logros</caption><tr><th></th><th>Actual</th><th>Esperado</th><th>Meta</th></tr>${filasL}</table>`
      : '<p class="nota">Los Logros no cambian: un punto nuevo no registra coberturas, convierte casos de inversión en casos de derivación.</p>'}`;
}

/** Builds the block after ``despues`` (the account block) when ``sesion`` is a Mesa or the Gabinete. */
export async function conectarPlanificacion(mapa, despues, sesion) {
  if (!sesion || !ROLES_PLAN.has(sesion.rol)) return null;
  let csrf;
  let ambito;
  try {
    csrf = (await pedidor("")("/api/sesion")).csrf;
    ambito = await pedidor(csrf)("/api/planificador/ambito");
  } catch { return null; }
  const json = pedidor(csrf);
  const hoja = document.createElement("style");
  hoja.textContent = ESTILO;
  document.head.append(hoja);
  const bloque = document.createElement("div");
  bloque.id = "planificacion";
  bloque.className = "bloque planificacion";
  bloque.setAttribute("aria-label", "Planificación de inversiones");
  despues.after(bloque);
  const opciones = (xs, sel, codigo = false) => xs.map((x) => `<option value="${escapar(x.codigo)}"${x.codigo === sel ? " selected" : ""}>${
    escapar(x.nombre)}${codigo ? ` (${escapar(x.codigo)})` : ""}</option>`).join("");
  bloque.innerHTML = `<h2>Planificación</h2>
    <p class="nota">Dónde abrir los próximos puntos de entrega y su efecto esperado (cifras protegidas).</p>
    <label for="plan-distrito">Distrito</label><select id="plan-distrito">${opciones(ambito.distritos, null, true)}</select>
    <label for="plan-tipo">Tipo de punto</label><select id="plan-tipo">${opciones(ambito.tipos, "usf")}</select>
    <label for="plan-k">Cantidad de sitios</label><input id="plan-k" type="number" min="1" max="10" value="2">
    <label for="plan-capacidad">Capacidad de cada punto nuevo</label><input id="plan-capacidad" type="number" min="1" max="1000000">
    <p class="botones"><button id="plan-calcular" type="button">Calcular sitios</button>
      <button id="plan-candidato" type="button" aria-pressed="false">Probar un punto en el mapa</button></p>
    <p id="plan-estado" class="nota" role="status" aria-live="polite"></p>
    <div id="plan-resumen"></div><ol id="plan-sitios" class="plan-sitios"></ol>
    <div id="plan-candidato-efecto" aria-live="polite"></div>
    <h3>Agregar a un plan</h3>
    <label for="plan-elegido">Plan</label><select id="plan-elegido"></select>
    <div id="plan-nuevo" hidden><label for="plan-titulo">Título del plan nuevo</label><input id="plan-titulo" maxlength="200">
      <label for="plan-desde">Desde</label><input id="plan-desde" type="date"><label for="plan-hasta">Hasta</label><input id="plan-hasta" type="date"></div>
    <div id="plan-efecto" aria-live="polite"></div>`;
  const $ = (id) => bloque.querySelector(`#${id}`);
  const anio = new Date().getFullYear() + 1;
  $("plan-desde").value = `${anio}-01-01`;
  $("plan-hasta").value = `${anio}-12-31`;
  const capacidadDe = () => {
    const t = ambito.tipos.find((x) => x.codigo === $("plan-tipo").value);
    $("plan-capacidad").value = String(t?.capacidad ?? 100); // the catalog's, else the plan pages' default
  };
  capacidadDe();
  $("plan-tipo").addEventListener("change", capacidadDe);
  const capacidad = () => Math.max(1, Math.round(Number($("plan-capacidad").value) || 100));
  const capa = L.layerGroup().addTo(mapa);
  const estado = { propuesta: null, candidato: null, eligiendo: false, plan: null, planes: [], mapa };
  window.geoportal && (window.geoportal.planificacion = estado);
  const avisar = (t) => { $("plan-estado").textContent = t; };

  async function cargarPlanes(elegir = null) {
    const distrito = $("plan-distrito").value;
    try { estado.planes = (await json("/api/planes")).planes.filter((p) => p.distrito === distrito); } catch { estado.planes = []; }
    $("plan-elegido").innerHTML = estado.planes.map((p) => `<option value="${p.plan_id}">${escapar(p.titulo)} (n.º ${p.plan_id})</option>`).join("")
      + '<option value="nuevo">Plan nuevo…</option>';
    if (elegir) $("plan-elegido").value = String(elegir);
    $("plan-nuevo").hidden = $("plan-elegido").value !== "nuevo";
  }

  async function planDestino() {
    const v = $("plan-elegido").value;
    if (v !== "nuevo") return estado.planes.find((p) => String(p.plan_id) === v);
    const titulo = $("plan-titulo").value.trim() || `Plan de ${$("plan-distrito").selectedOptions[0].textContent}`;
    const cuerpo = { titulo, distrito: $("plan-distrito").value, periodo_desde: $("plan-desde").value, periodo_hasta: $("plan-hasta").value };
    const { plan_id: id } = await json("/api/planes", "POST", cuerpo);
    await cargarPlanes(id);
    return estado.planes.find((p) => p.plan_id === id);
  }

  async function mostrarEfectoPlan(plan) {
    const e = await json(`/api/planes/${plan.plan_id}/efecto`);
    estado.plan = { id: plan.plan_id, efecto: e };
    const costo = e.costo_total ? ` · costo supuesto ${Number(e.costo_total).toLocaleString("es-PY")} Gs` : "";
    $("plan-efecto").innerHTML = `<h3>Efecto esperado del plan</h3>
      <p class="nota"><b>${escapar(e.plan.titulo)}</b>: ${e.puntos_nuevos} punto(s) nuevo(s), ${e.plan.acciones.length} acción(es)${costo}.</p>
      ${efectoHtml(e, { todos: true })}
      <p class="botones"><a id="plan-abrir" href="/planes/${plan.plan_id}">Abrir el plan</a>
        <a id="plan-hoja" href="/planes/${plan.plan_id}/hoja" target="_blank" rel="noopener">Hoja imprimible</a></p>`;
    document.body.dataset.planEfecto = String(plan.plan_id);
  }

  async function agregarSitio(lon, lat, descripcion) {
    const tipo = ambito.tipos.find((t) => t.codigo === $("plan-tipo").value);
    avisar("Agregando el sitio al plan…");
    try {
      const plan = await planDestino();
      await json(`/api/planes/${plan.plan_id}/acciones`, "POST", {
        tipo: "punto_nuevo", punto_tipo: tipo.codigo, lon, lat, capacidad: capacidad(), institucion: tipo.institucion,
        desde: plan.periodo_desde, hasta: plan.periodo_hasta, descripcion,
      });
      avisar(`Sitio agregado al plan «${plan.titulo}». Calculando su efecto esperado…`);
      await mostrarEfectoPlan(plan);
      avisar(`Sitio agregado al plan «${plan.titulo}».`);
    } catch (e) { avisar(`No se pudo agregar: ${e.message}`); }
  }

  async function probar(lon, lat, titulo) {
    $("plan-candidato-efecto").innerHTML = '<p class="nota">Calculando el efecto del punto…</p>';
    try {
      const e = await json("/api/planificador/efecto", "POST", { distrito: $("plan-distrito").value, tipo: $("plan-tipo").value, puntos: [{ lon, lat, capacidad: capacidad() }] });
      estado.candidato = { lon, lat, efecto: e };
      $("plan-candidato-efecto").innerHTML = `<h3>Efecto ${escapar(titulo)}</h3>
        <p class="nota">${cifra(e.pasan_a_con_oferta)} (personas u hogares × servicio) pasan a tener oferta al alcance.</p>${efectoHtml(e)}
        <p class="botones"><button id="plan-agregar-candidato" type="button">Agregar este punto al plan</button></p>`;
      $("plan-agregar-candidato").onclick = () => agregarSitio(lon, lat, "Punto elegido en el mapa");
      document.body.dataset.planCandidato = String(Date.now());
    } catch (e) {
      $("plan-candidato-efecto").innerHTML = `<p class="nota" role="alert">${escapar(e.message)}</p>`;
    }
  }

  function dibujar(p) {
    capa.clearLayers();
    L.geoJSON(p.celdas, {
      interactive: false,
      style: (f) => ({ color: COLORES[(f.properties.sitio - 1) % COLORES.length], weight: 1, fillOpacity: 0.25, className: "celda-plan" }),
    }).addTo(capa);
    p.sitios.forEach((s, n) => {
      L.circleMarker([s.lat, s.lon], { radius: 9, color: "#fff", weight: 2, fillColor: COLORES[n % COLORES.length], fillOpacity: 1, className: "sitio-plan" })
        .bindTooltip(`Sitio ${n + 1}: ${s.nombre}`).addTo(capa);
    });
    const limites = L.geoJSON(p.celdas).getBounds();
    if (limites.isValid()) mapa.fitBounds(limites.pad(0.2), { maxZoom: 13 });
  }

  $("plan-calcular").addEventListener("click", async () => {
    avisar("Resolviendo el problema de cobertura máxima…");
    $("plan-calcular").disabled = true;
    try {
      const k = Math.max(1, Math.min(10, Number($("plan-k").value) || 1));
      const p = await json("/api/planificador", "POST", { codigo: $("plan-distrito").value, tipo: $("plan-tipo").value, k });
      estado.propuesta = p;
      $("plan-resumen").innerHTML = `<p class="nota">Óptimo: <b>${cifra(p.optimo)}</b> (personas u hogares × servicio sin oferta que
        quedarían al alcance); heurística codiciosa ${cifra(p.codicioso)}; de ${cifra(p.demanda_sin_oferta)} sin oferta.
        ${p.tamano.celdas_demanda} celdas de demanda × ${p.tamano.candidatos} candidatos, ${p.segundos.toLocaleString("es-PY")} s.</p>`;
      $("plan-sitios").innerHTML = p.sitios.map((s, n) => `<li><span class="muestra" style="background:${COLORES[n % COLORES.length]}"></span>
        <b>${escapar(s.nombre)}</b> <span class="nota">(${escapar(s.zona)}; ${cifra(s.unidades)} al alcance, ${s.celdas_al_alcance.length} celdas)</span>
        <span class="botones"><button type="button" class="enlace ver-efecto" data-n="${n}">Ver efecto</button>
        <button type="button" class="agregar-sitio" data-n="${n}">Agregar al plan</button></span></li>`).join("");
      dibujar(p);
      avisar(p.sitios.length ? `${p.sitios.length} sitio(s) propuesto(s); las celdas que alcanzaría cada uno, en el mapa.` : "Sin demanda al alcance de ningún candidato.");
      document.body.dataset.planSitios = String(p.sitios.length);
    } catch (e) { avisar(`No se pudo planificar: ${e.message}`); }
    $("plan-calcular").disabled = false;
  });
  $("plan-sitios").addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-n]");
    if (!b) return;
    const s = estado.propuesta.sitios[Number(b.dataset.n)];
    if (b.classList.contains("agregar-sitio")) agregarSitio(s.lon, s.lat, `Sitio propuesto por el planificador (${s.nombre.slice(0, 40)})`);
    else probar(s.lon, s.lat, `del sitio ${Number(b.dataset.n) + 1}`);
  });
  $("plan-distrito").addEventListener("change", () => cargarPlanes());
  $("plan-elegido").addEventListener("change", () => { $("plan-nuevo").hidden = $("plan-elegido").value !== "nuevo"; });

  // Choosing a candidate: the click is taken before Leaflet (and the area popups) see it.
  const elegir = (si) => {
    estado.eligiendo = si;
    $("plan-candidato").setAttribute("aria-pressed", String(si));
    mapa.getContainer().classList.toggle("eligiendo", si);
    if (si) avisar("Haga clic en el mapa, dentro del distrito, para probar un punto nuevo.");
  };
  $("plan-candidato").addEventListener("click", () => elegir(!estado.eligiendo));
  mapa.getContainer().addEventListener("click", (ev) => {
    if (!estado.eligiendo || ev.target.closest(".leaflet-control")) return;
    ev.stopImmediatePropagation();
    ev.stopPropagation();
    elegir(false);
    const { lat, lng } = mapa.mouseEventToLatLng(ev);
    if (estado.marca) capa.removeLayer(estado.marca);
    estado.marca = L.circleMarker([lat, lng], { radius: 8, color: "#000", weight: 2, fillColor: "#fff", fillOpacity: 1, className: "candidato-plan" })
      .bindTooltip("Punto candidato").addTo(capa);
    avisar("");
    probar(Number(lng.toFixed(6)), Number(lat.toFixed(6)), "del punto elegido");
  }, true);
  estado.aPixel = (lat, lon) => mapa.latLngToContainerPoint([lat, lon]);
  await cargarPlanes();
  document.body.dataset.planificacion = "si";
  return estado;
}
