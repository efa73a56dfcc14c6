// Logged-in users (Mesas, Gabinete, institutions): who is in, and the alerts of the
// territories their role covers (/api/alertas: Logros below their meta, coverage that
// fell since the previous state). Anonymous visitors see only a link to log in.
// The alerts are protected figures, the same the profile shows to that role.

import { escapar, nombreNivel } from "./formato.js";

const ROLES = { gabinete: "Gabinete Social", mesa_departamental: "Mesa departamental", mesa_distrital: "Mesa distrital",
  institucion: "Institución", admin: "Administración" };
const TIPOS = { bajo_meta: "Bajo la meta", empeora: "Empeoró" };
const RANGO = { pais: 0, departamento: 1, distrito: 2 };
const LISTA_MAX = 200; // beyond it the panel points to the API
const MOSTRAR = 4; // shown at once; the rest behind "ver más alertas"

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
  bloque.innerHTML = `<h2>Mi territorio</h2><p class="nota">${quien}${sesion.territorio ? ` · ${escapar(sesion.territorio)}` : ""}</p>
    <p class="botones">${propio} <a href="/cuenta">Mi cuenta</a></p><div id="alertas" aria-live="polite"></div>`;
  const caja = bloque.querySelector("#alertas");
  if (sesion.rol === "admin") return sesion;
  let alertas;
  try {
    const r = await fetch("/api/alertas", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(String(r.status));
    alertas = (await r.json()).alertas;
  } catch (e) {
    caja.innerHTML = `<p class="nota" role="alert">No se pudieron leer las alertas (${escapar(e.message)}).</p>`;
    return sesion;
  }
  document.body.dataset.alertas = String(alertas.length);
  if (!alertas.length) {
    caja.innerHTML = '<p class="nota">Sin alertas: los Logros de su territorio están en su meta y ninguno empeoró.</p>';
    return sesion;
  }
  // The broadest territory first (a national role reads the country, then its
  // departments, then districts), the worst first within each level.
  const orden = alertas.slice().sort((a, b) => (RANGO[a.nivel] ?? 9) - (RANGO[b.nivel] ?? 9) || a.diferencia - b.diferencia);
  const porNivel = Object.entries(orden.reduce((n, a) => ({ ...n, [a.nivel]: (n[a.nivel] ?? 0) + 1 }), {}))
    .map(([nivel, n]) => `${escapar(nombreNivel(nivel))}: ${n.toLocaleString("es-PY")}`).join(" · ");
  const primeras = orden.slice(0, MOSTRAR).map(item).join("");
  const resto = orden.slice(MOSTRAR, LISTA_MAX).map(item).join("");
  const fuera = orden.length > LISTA_MAX
    ? `<p class="nota">y ${(orden.length - LISTA_MAX).toLocaleString("es-PY")} más: la lista completa en <a href="/api/alertas">/api/alertas</a>.</p>` : "";
  caja.innerHTML = `<h3>Alertas <span class="contador">${alertas.length.toLocaleString("es-PY")}</span></h3>
    <p class="nota">${porNivel}. Cifras protegidas al día (incluyen las contrarreferencias recientes); el mapa y el perfil muestran la última publicación.</p>
    <ul class="alertas">${primeras}</ul>
    ${resto ? `<details><summary>Ver más alertas</summary><ul class="alertas">${resto}</ul>${fuera}</details>` : ""}`;
  caja.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-codigo]");
    if (b) alAbrir(b.dataset.codigo);
  });
  return sesion;
}
