// Territory profile panel: the 10 Logros against their metas, ranked gaps with
// "ver en el mapa", survey coverage and its warning, change since the previous version.
// Only figures present in the /api/territorios answer are shown.

import { escapar, fecha, nombreNivel, numero } from "./formato.js";

const lista = (v) => (Array.isArray(v) ? v : v && typeof v === "object" ? Object.values(v) : []);
const primero = (...v) => v.find((x) => x !== undefined);

function barra(logro) {
  const pct = primero(logro.pct, logro.cobertura_pct, logro.cobertura, logro.valor);
  const meta = primero(logro.meta, logro.meta_pct);
  const universo = primero(logro.universo, logro.identificados, logro.denominador);
  const unidad = logro.unidad ?? "personas";
  const reservado = logro.reservado === true || pct === null || pct === undefined;
  const ancho = reservado ? 0 : Math.max(0, Math.min(100, Number(pct)));
  const marca = meta === null || meta === undefined ? "" :
    `<span class="meta" style="left:${Math.max(0, Math.min(100, Number(meta)))}%" title="Meta ${numero(meta, "%")}"></span>`;
  const titulo = logro.etiqueta ?? logro.nombre ?? `Logro ${logro.logro}`;
  const valor = reservado ? "reservado" : numero(pct, "%");
  const detalle = universo === null || universo === undefined ? "" : ` de ${numero(universo)} ${escapar(unidad)} identificados`;
  return `<li class="logro" data-logro="${escapar(logro.logro)}">
    <div class="logro-titulo"><b>Logro ${escapar(logro.logro)}</b> ${escapar(titulo.replace(/^Logro \d+:\s*/, ""))}</div>
    <div class="barra${reservado ? " barra-reservado" : ""}" role="img"
         aria-label="Logro ${escapar(logro.logro)}: ${valor}${meta != null ? `, meta ${numero(meta, "%")}` : ""}">
      <span class="relleno" style="width:${ancho}%"></span>${marca}
    </div>
    <div class="logro-cifras"><span class="valor">${valor}</span>${detalle}${meta != null ? ` · meta ${numero(meta, "%")}` : ""}${
      logro.avance != null ? ` · avance ${numero(logro.avance, "%")}` : ""}</div>
  </li>`;
}

function brecha(b, i) {
  const celdas = lista(primero(b.celdas, b.h3, b.donde, []));
  const total = primero(b.unidades, b.total, b.brecha);
  const sin = primero(b.sin_oferta, b.inversion);
  const con = primero(b.con_oferta, b.derivacion);
  const unidad = b.unidad ?? "";
  return `<li class="brecha">
    <div><b>${i + 1}. ${escapar(b.etiqueta ?? b.servicio_nombre ?? b.servicio)}</b>${total != null ? `: ${numero(total)} ${escapar(unidad)}` : ""}</div>
    <div class="nota">${sin != null ? `sin oferta al alcance (inversión): ${numero(sin)}` : ""}${
      sin != null && con != null ? " · " : ""}${con != null ? `con oferta al alcance (derivación): ${numero(con)}` : ""}</div>
    ${celdas.length ? `<button type="button" class="ver-en-mapa no-imprimir" data-brecha="${i}">Ver en el mapa (${celdas.length} hexágonos)</button>` : ""}
  </li>`;
}

function relevamiento(p) {
  const r = p.relevamiento ?? p.cobertura_relevamiento ?? {};
  const pct = primero(r.pct, r.relevamiento_pct, p.relevamiento_pct);
  const aviso = primero(r.advertencia, r.aviso, p.advertencia);
  const personas = primero(r.personas, p.personas);
  const censo = primero(r.pob_censo, p.pob_censo);
  if (pct == null && !aviso) return "";
  return `<section class="relevamiento${aviso ? " con-aviso" : ""}">
    <h3>Cobertura del relevamiento FIPS</h3>
    <p>${pct != null ? `${numero(pct, "%")} de la población censal 2022` : ""}${
      personas != null && censo != null ? ` (${numero(personas)} personas relevadas de ${numero(censo)})` : ""}.</p>
    ${aviso ? `<p class="aviso-relevamiento" role="alert">${escapar(aviso)}</p>` : ""}
  </section>`;
}

function cambio(p) {
  const c = p.cambio ?? p.cambios ?? p.cambio_desde_anterior;
  if (!c) return `<section><h3>Cambio desde la versión anterior</h3><p class="nota">No hay una versión anterior publicada.</p></section>`;
  const filas = lista(c.logros ?? c.cambios ?? c.medidas ?? c).filter((x) => x && typeof x === "object");
  const anterior = c.version_anterior ?? c.data_version_anterior;
  return `<section><h3>Cambio desde la versión anterior</h3>
    ${anterior ? `<p class="nota">Respecto de la versión ${escapar(anterior)}.</p>` : ""}
    ${filas.length ? `<ul class="cambios">${filas.map((f) => {
      const d = primero(f.diferencia, f.cambio, f.delta);
      return `<li>${escapar(f.etiqueta ?? `Logro ${f.logro}`)}: ${d == null ? "sin dato" : `${d > 0 ? "+" : ""}${numero(d, f.unidad ?? "%")}`}</li>`;
    }).join("")}</ul>` : `<p class="nota">${escapar(c.nota ?? c.mensaje ?? "Sin cambios publicados.")}</p>`}
  </section>`;
}

/** Render profile `p` into `elemento`; `alVerEnMapa(celdas)` highlights the cells of a gap. */
export function mostrarPerfil(elemento, p, { alVerEnMapa, alCerrar, dataVersion }) {
  const logros = lista(p.logros).sort((a, b) => Number(a.logro) - Number(b.logro));
  const brechas = lista(p.brechas);
  elemento.innerHTML = `
    <div class="perfil-cabecera">
      <h2 id="perfil-titulo">${escapar(p.nombre ?? p.codigo)}</h2>
      <p class="nota">${escapar(nombreNivel(p.nivel))} · código ${escapar(p.codigo)}${
        p.departamento ? ` · ${escapar(p.departamento.nombre ?? p.departamento)}` : ""}</p>
      <div class="botones no-imprimir">
        <button type="button" id="imprimir">Imprimir ficha</button>
        <button type="button" id="cerrar-perfil" aria-label="Cerrar el perfil">Cerrar</button>
      </div>
    </div>
    ${p.reservado ? '<p class="aviso-relevamiento">Territorio reservado: no se publican cifras.</p>' : ""}
    ${relevamiento(p)}
    <section><h3>Los 10 Logros frente a sus metas</h3>
      <p class="nota">Cobertura concurrente del paquete núcleo sobre las unidades identificadas por la FIPS. La marca vertical es la meta.</p>
      <ol class="logros">${logros.map(barra).join("")}</ol></section>
    <section><h3>Brechas priorizadas</h3>
      ${brechas.length ? `<ol class="brechas">${brechas.map(brecha).join("")}</ol>` : '<p class="nota">Sin brechas publicadas.</p>'}
    </section>
    ${cambio(p)}
    <p class="nota pie-ficha">Versión de datos ${escapar(p.data_version ?? dataVersion ?? "")}${
      p.calculado_en ? ` del ${escapar(fecha(p.calculado_en))}` : ""}. Hogares y personas: datos sintéticos. Cifras protegidas por control de divulgación estadística (redondeo base 5; áreas chicas reservadas).</p>`;
  elemento.hidden = false;
  elemento.querySelector("#imprimir").addEventListener("click", () => window.print());
  elemento.querySelector("#cerrar-perfil").addEventListener("click", alCerrar);
  for (const boton of elemento.querySelectorAll(".ver-en-mapa")) {
    boton.addEventListener("click", () => {
      const b = brechas[Number(boton.dataset.brecha)];
      alVerEnMapa(lista(primero(b.celdas, b.h3, b.donde, [])).map((c) => String(c.codigo ?? c.h3 ?? c)), b);
    });
  }
}
