// Logged-in users (Mesas, Gabinete, institutions): who is in, and the alerts of the
// territories their role covers (/api/alertas: Logros below their meta, coverage that
// fell since the previous state). Anonymous visitors see only a link to log in.
// The alerts are protected figures, the same the profile shows to that role.

import { escapar, nombreNivel } from "./formato.js";

const ROLES = { gabinete: "Gabinete Social", mesa_departamental: "Mesa departamental", mesa_distrital: "Mesa distrital",
  institucion: "Institución", admin: "Administración" };
const TIPOS = { bajo_meta: "Bajo la meta", empeora: "Empeoró", se_aleja: "Se aleja de la meta" };
const RANGO = { pais: 0, departamento: 1, distrito: 2 };
const MOSTRAR = 3; // the worst shown in the panel; the rest on the dashboard (/gabinete)

async function pedirSesion() {
  const r = await fetch("/api/sesion/estado", { credentials: "same-origin", headers: { Accept: "application/json" } });
  return r.ok ? (await r.json()).sesion : null;
}

function item(a) {
  const dif = `${a.diferencia > 0 ? "+" : ""}${a.diferencia.toLocaleString("es-PY")}`;
  const contra = a.tipo === "bajo_meta" ? `meta ${a.referencia.toLocaleString("es-PY")} %` : `antes ${a.referencia.toLocaleString("es-PY")} %`;
  const lugar = `${escapar(a.nombre ?? a.codigo)} <span class="nota">(${escapar(nombreNivel(a.nivel))})</span>`;
  const abrir = ["departamento", "distrito"].includes(a.nivel)
    ? `<button type="button" class="enlace" data-codigo="${escapar(a.codigo)}">${lugar}</button>` : lugar;
  return `<li class="alerta alerta-${escapar(a.tipo)}"><span class="alerta-tipo">${TIPOS[a.tipo] ?? escapar(a.tipo)}</span>
    ${abrir}<br>${escapar(a.etiqueta)}: <b>${a.valor.toLocaleString("es-PY")} %</b> (${contra}; ${dif} puntos)</li>`;
}

/** Fills the account block; ``alAbrir(codigo)`` opens a territory's profile. */
export async function conectarCuenta(bloque, alAbrir) {
  let sesion = null;
  try { sesion = await pedirSesion(); } catch { /* offline: nothing to show */ }
  if (!sesion) {
    bloque.innerHTML = `<p class="nota">Equipos de las Mesas y del Gabinete: <a href="/ingresar?siguiente=/">ingresar</a>
      para ver las alertas de su territorio.</p>`;
    return null;
  }
  const quien = `${escapar(sesion.nombre || sesion.usuario)} · ${escapar(ROLES[sesion.rol] ?? sesion.rol)}`;
  const propio = sesion.rol === "mesa_distrital" ? '<a href="/mesa">Lista nominal y derivaciones</a>'
    : sesion.rol === "institucion" ? '<a href="/institucion">Derivaciones recibidas</a>' : "";
  bloque.innerHTML = `<h2>Mi territorio</h2><p class="nota">${quien}${sesion.territorio ? ` · <span id="territorio-nombre">${escapar(sesion.territorio)}</span>` : ""}</p>
    <p class="botones">${propio} <a href="/cuenta">Mi cuenta</a></p><div id="alertas" aria-live="polite"></div>`;
  const caja = bloque.querySelector("#alertas");
  if (sesion.rol === "admin") return sesion;
  let alertas;
  let muestra = 20;
  try {
    const r = await fetch("/api/alertas", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(String(r.status));
    const cuerpo = await r.json();
    alertas = cuerpo.alertas;
    muestra = cuerpo.muestra_minima ?? 20;
    const nombre = bloque.querySelector("#territorio-nombre");
    if (nombre && cuerpo.territorio_nombre) nombre.textContent = cuerpo.territorio_nombre; // Villeta, not 1116
  } catch (e) {
    caja.innerHTML = `<p class="nota" role="alert">No se pudieron leer las alertas (${escapar(e.message)}).</p>`;
    return sesion;
  }
  document.body.dataset.alertas = String(alertas.length);
  if (!alertas.length) {
    caja.innerHTML = '<p class="nota">Sin alertas: los Logros de su territorio están en su meta y ninguno empeoró.</p>';
    return sesion;
  }
  // A summary, not the flood: counts per Logro, the few worst alerts over populations
  // large enough to mean something, and the dashboard (/gabinete) for the rest. Alerts
  // over small populations (a 0 % of 3 persons) are counted apart, never ranked first.
  const firmes = alertas.filter((a) => !a.pequena);
  const pequenas = alertas.length - firmes.length;
  const orden = firmes.slice().sort((a, b) => (RANGO[a.nivel] ?? 9) - (RANGO[b.nivel] ?? 9) || a.diferencia - b.diferencia);
  const cuenta = firmes.reduce((n, a) => n.set(a.logro ?? 99, (n.get(a.logro ?? 99) ?? 0) + 1), new Map());
  const porLogro = [...cuenta.entries()].sort(([a], [b]) => a - b)
    .map(([k, n]) => `<li>${k === 99 ? "Otros" : `Logro ${k}`} <span class="contador">${n.toLocaleString("es-PY")}</span></li>`).join("");
  const perdida = ["gabinete", "mesa_departamental", "mesa_distrital"].includes(sesion.rol)
    ? ' <a href="/perdida">Pérdida de información</a>' : "";
  caja.innerHTML = `<h3>Alertas <span class="contador">${alertas.length.toLocaleString("es-PY")}</span></h3>
    <ul class="alertas-resumen" style="display:flex;flex-wrap:wrap;gap:.3rem .9rem;list-style:none;padding:0;margin:.3rem 0">${porLogro}</ul>
    ${pequenas ? `<p class="nota">${pequenas.toLocaleString("es-PY")} de muestras pequeñas (menos de ${escapar(String(muestra))} personas u hogares) no se listan.</p>` : ""}
    <p class="botones"><a href="/gabinete">Ver el tablero de alertas</a>${perdida}</p>
    <ul class="alertas">${orden.slice(0, MOSTRAR).map(item).join("")}</ul>
    <p class="nota">Cifras protegidas al día (incluyen las contrarreferencias recientes); el mapa y el perfil muestran la última publicación.</p>`;
  caja.style.maxHeight = "50vh";
  caja.style.overflowY = "auto";
  caja.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-codigo]");
    if (b) alAbrir(b.dataset.codigo);
  });
  return sesion;
}
