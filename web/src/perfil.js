// Territory profile panel (/api/territorios/{codigo}): the 10 Logros against their metas,
// ranked gaps with "ver en el mapa", survey coverage and its warning, change since the
// previous version. Only figures present in the answer are shown.

import { distancia, escapar, fecha, identificados, nombreNivel, numero, nombrePaquete, versionDatos } from "./formato.js";

function barra(l) {
  const reservado = l.porcentaje === null || l.porcentaje === undefined;
  const ancho = reservado ? 0 : Math.max(0, Math.min(100, Number(l.porcentaje)));
  const tieneMeta = l.meta !== null && l.meta !== undefined;
  const valor = reservado ? "sin dato publicado" : numero(l.porcentaje, "%");
  const marca = tieneMeta ? `<span class="meta" style="left:${Math.max(0, Math.min(100, Number(l.meta)))}%"></span>` : "";
  const de = l.denominador !== null && l.denominador !== undefined
    ? ` (${numero(l.numerador)} de ${numero(l.denominador)} ${escapar(identificados(l.unidad))})` : "";
  return `<li class="logro" data-logro="${escapar(l.logro)}">
    <div class="logro-titulo"><b>Logro ${escapar(l.logro)}</b> · ${escapar(l.nombre ?? "")}</div>
    <div class="barra${reservado ? " barra-reservado" : ""}" role="img"
         aria-label="Logro ${escapar(l.logro)}: ${valor}${tieneMeta ? `, meta ${numero(l.meta, "%")}` : ""}">
      <span class="relleno" style="width:${ancho}%"></span>${marca}
    </div>
    <div class="logro-cifras"><span class="valor">${valor}</span>${de}${tieneMeta ? ` · meta ${numero(l.meta, "%")}` : ""}${
      l.avance !== null && l.avance !== undefined ? ` · avance ${numero(l.avance, "%")} de la meta` : ""}</div>
  </li>`;
}

function brecha(b, i) {
  const celdas = b.donde_h3_7 ?? [];
  const unidad = escapar(b.unidad ?? "");
  return `<li class="brecha" data-servicio="${escapar(b.servicio)}">
    <div><b>${escapar(b.nombre ?? b.servicio)}</b>${b.brecha != null ? `: <span class="cifra-brecha">${numero(b.brecha)}</span> ${unidad} sin el servicio` : ""}
      ${b.paquete ? `<span class="nota">(${escapar(nombrePaquete(b.paquete))})</span>` : ""}</div>
    <div class="nota">${b.sin_oferta != null ? `sin oferta al alcance (inversión): ${numero(b.sin_oferta)}` : ""}${
      b.sin_oferta != null && b.con_oferta != null ? " · " : ""}${b.con_oferta != null ? `con oferta al alcance (derivación): ${numero(b.con_oferta)}` : ""}${
      b.caso_principal ? ` · caso principal: ${escapar(b.caso_principal)}` : ""}</div>
    ${celdas.length ? `<details class="nota donde"><summary>Dónde: ${celdas.length === 1 ? "1 hexágono" : `${celdas.length} hexágonos`} con la mayor brecha</summary>
      <p>${celdas.map((c) => `${numero(c.brecha)} ${unidad} en la celda H3 ${escapar(c.celda)}`).join("; ")}</p></details>
      <button type="button" class="ver-en-mapa no-imprimir" data-brecha="${i}">Ver en el mapa (${celdas.length === 1 ? "1 hexágono" : `${celdas.length} hexágonos`})</button>` : ""}
  </li>`;
}

function relevamiento(p) {
  const r = p.relevamiento ?? {};
  const pct = r.relevamiento_pct;
  return `<section class="relevamiento${r.aviso ? " con-aviso" : ""}">
    <h3>Cobertura del relevamiento FIPS</h3>
    <p>${pct != null ? `Personas relevadas: <b>${numero(pct, "%")}</b> de la población censal 2022.` : "Sin dato publicado."}</p>
    ${r.aviso ? `<p class="aviso-relevamiento" role="alert">${escapar(r.aviso)}</p>` : ""}
  </section>`;
}

function cambio(p) {
  const c = p.cambio_desde_version_anterior;
  if (!c) return "";
  const filas = (c.logros ?? c.cambios ?? []).map((f) => {
    const d = f.diferencia ?? f.cambio;
    return `<li>Logro ${escapar(f.logro)}: ${d == null ? "sin dato" : `${d > 0 ? "+" : ""}${numero(d, "%")}`}</li>`;
  });
  return `<section class="cambio"><h3>Cambio desde la versión anterior</h3>
    ${c.version_anterior ? `<p class="nota">Versión anterior: ${escapar(c.version_anterior)}.</p>` : ""}
    ${c.disponible && filas.length ? `<ul>${filas.join("")}</ul>` : `<p class="nota">${escapar(c.motivo ?? "Sin datos de cambio.")}</p>`}
  </section>`;
}

/** Each Logro's published share over the public releases against its meta: small SVG lines. */
function evolucion(p, logros) {
  const ev = p.evolucion ?? {};
  const con = logros.filter((l) => (ev[String(l.logro)] ?? []).length);
  if (!con.length) return "";
  const [an, al] = [160, 40];
  const y = (v) => (al - 3 - (al - 6) * Math.max(0, Math.min(100, Number(v))) / 100).toFixed(1);
  const fila = (l) => {
    const s = ev[String(l.logro)];
    const x = (k) => (s.length > 1 ? 3 + (an - 6) * k / (s.length - 1) : an / 2).toFixed(1);
    const linea = s.map((q, k) => `${x(k)},${y(q.valor)}`).join(" ");
    const meta = l.meta != null ? `<line class="meta-serie" x1="0" x2="${an}" y1="${y(l.meta)}" y2="${y(l.meta)}" stroke="#000" stroke-dasharray="3 2"/>` : "";
    const puntos = s.map((q, k) => `<circle cx="${x(k)}" cy="${y(q.valor)}" r="2"><title>${escapar(fecha(q.fecha))}: ${numero(q.valor, "%")}</title></circle>`).join("");
    return `<li data-logro="${escapar(l.logro)}" style="display:grid;grid-template-columns:4.5rem ${an}px auto;align-items:center;gap:.4rem;margin:.15rem 0">
      <span>Logro ${escapar(l.logro)}</span>
      <svg class="serie" width="${an}" height="${al}" viewBox="0 0 ${an} ${al}" role="img"
        aria-label="Logro ${escapar(l.logro)}: ${s.map((q) => numero(q.valor, "%")).join(", ")}${l.meta != null ? `; meta ${numero(l.meta, "%")}` : ""}">
        <rect width="${an}" height="${al}" fill="#f4f4f4"/>${meta}<polyline points="${linea}" fill="none" stroke="#0072b2" stroke-width="2"/>${puntos}</svg>
      <span class="nota">${numero(s[s.length - 1].valor, "%")}<br>${s.length === 1 ? "1 publicación" : `${s.length} publicaciones`}</span></li>`;
  };
  return `<section class="evolucion"><h3>Evolución de los Logros</h3>
    <p class="nota">Porcentaje publicado en cada publicación (cifras protegidas); la línea punteada es la meta.</p>
    <ul class="series" style="list-style:none;padding:0">${con.map(fila).join("")}</ul></section>`;
}

/** Persons beyond 5 / 10 / 20 km (straight line) of the nearest point of each type: published counts. */
function lejania(p) {
  const tipos = p.lejania ?? [];
  if (!tipos.length) return "";
  const kms = [...new Set(tipos.flatMap((t) => t.umbrales.map((u) => u.km)))].sort((a, b) => a - b);
  const celda = (u) => (u == null || u.personas == null ? "<td>reservado</td>"
    : `<td>${numero(u.personas)}${u.porcentaje == null ? "" : ` <span class="nota">(${numero(u.porcentaje, "%")})</span>`}</td>`);
  const filas = tipos.map((t) => `<tr><th scope="row">${escapar(t.tipo_nombre ?? t.tipo)}</th>${
    kms.map((km) => celda(t.umbrales.find((u) => u.km === km))).join("")}</tr>`);
  return `<section class="lejania"><h3>Personas lejos de cada servicio</h3>
    <p class="nota">Personas cuyo hogar está a más de esa distancia en línea recta del punto más cercano de cada tipo (conteos protegidos, redondeados a 5; entre paréntesis, la parte de las personas relevadas).</p>
    <div class="tabla-desplazable" tabindex="0" role="region" aria-label="Personas lejos de cada servicio">
    <table class="cifras lejania-tabla"><thead><tr><th scope="col">Tipo de punto</th>${kms.map((km) => `<th scope="col">más de ${km} km</th>`).join("")}</tr></thead>
    <tbody>${filas.join("")}</tbody></table></div></section>`;
}

function cercanos(p) {
  const filas = (p.servicios_cercanos ?? []).map((s) => `<li><b>${escapar(s.tipo_nombre ?? s.tipo)}</b>: ${escapar(s.nombre)}${
    ""} · a ${distancia(s.distancia_km)}</li>`);
  return `<section class="servicios-cercanos"><h3>Puntos de entrega más cercanos</h3>
    <p class="nota">El más cercano de cada tipo, en línea recta desde el centro del territorio.</p>
    ${filas.length ? `<ul>${filas.join("")}</ul>` : '<p class="nota">No hay puntos de entrega cargados.</p>'}</section>`;
}

function pie(p, calculadoEn) {
  return `<div class="nota pie-ficha"><p>Datos ${calculadoEn ? `del ${escapar(fecha(calculadoEn))}` : "publicados"}. ${escapar(p.nota_sdc ?? "")}</p>
    ${p.data_version ? `<details><summary>Detalles técnicos</summary><p>Versión de datos: ${escapar(versionDatos(p.data_version))} (${escapar(p.data_version)}).</p></details>` : ""}</div>`;
}

function cabecera(p) {
  return `<div class="perfil-cabecera">
      <p class="nota solo-imprimir">Geoportal SPS «Vamos!» · Ficha territorial para la Mesa de Protección Social</p>
      <h2 id="perfil-titulo">${escapar(p.nombre ?? p.codigo)}</h2>
      <p class="nota">${escapar(nombreNivel(p.nivel))} · código ${escapar(p.codigo)}</p>
      <div class="botones no-imprimir">
        <button type="button" id="imprimir">Imprimir ficha</button>
        <button type="button" id="cerrar-perfil">Cerrar perfil</button>
      </div>
    </div>`;
}

/** What is known of a territory the survey has not reached: name, census population, 0 %, nearest services. */
function sinRelevamiento(p, calculadoEn) {
  return `${cabecera(p)}
    <p class="aviso-relevamiento sin-relevamiento-aviso" role="note"><b>Sin relevamiento FIPS.</b> ${escapar(p.relevamiento?.aviso ?? "")}</p>
    <section class="relevamiento"><h3>Lo que se sabe</h3>
      <table class="cifras">
        <tr><th scope="row">Población (Censo 2022, INE)</th><td>${numero(p.poblacion_censo_2022)} personas</td></tr>
        <tr><th scope="row">Personas relevadas por la FIPS</th><td><b>0 %</b> de la población censal</td></tr>
        <tr><th scope="row">Logros y brechas</th><td>sin cifras: no hay hogares relevados</td></tr>
      </table></section>
    ${cercanos(p)}
    ${pie(p, calculadoEn)}`;
}

/** Render profile `p`; `alVerEnMapa(celdas, brecha)` shows the H3 cells of a gap. */
export function mostrarPerfil(elemento, p, { alVerEnMapa, alCerrar, calculadoEn }) {
  const logros = [...(p.logros ?? [])].sort((a, b) => a.logro - b.logro);
  const brechas = (p.brechas ?? []).filter((b) => b.brecha !== 0); // ranked by the API; no gap, no line
  elemento.classList.toggle("perfil-sin-relevamiento", Boolean(p.sin_relevamiento));
  elemento.innerHTML = p.sin_relevamiento ? sinRelevamiento(p, calculadoEn) : `
    ${cabecera(p)}
    ${p.reservado ? `<p class="aviso-relevamiento">${escapar(p.reservado_texto ?? "Territorio reservado: no se publican cifras.")}</p>` : ""}
    ${relevamiento(p)}
    <section><h3>Los 10 Logros frente a sus metas</h3>
      <p class="nota">Cobertura concurrente del paquete núcleo sobre las unidades identificadas por la FIPS; la marca negra es la meta.</p>
      <ol class="logros">${logros.map(barra).join("")}</ol></section>
    <section><h3>Brechas priorizadas</h3>
      ${brechas.length ? `<ol class="brechas">${brechas.map(brecha).join("")}</ol>` : '<p class="nota">Sin brechas publicadas.</p>'}
    </section>
    ${lejania(p)}
    ${cambio(p)}
    ${evolucion(p, logros)}
    ${pie(p, calculadoEn)}`;
  elemento.hidden = false;
  elemento.querySelector("#imprimir").addEventListener("click", () => window.print());
  elemento.querySelector("#cerrar-perfil").addEventListener("click", alCerrar);
  for (const boton of elemento.querySelectorAll(".ver-en-mapa")) {
    boton.addEventListener("click", () => {
      const b = brechas[Number(boton.dataset.brecha)];
      alVerEnMapa(b.donde_h3_7.map((c) => c.celda), b);
    });
  }
}
