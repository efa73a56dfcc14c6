// The legend of the layer shown: stored class breaks, plus "reservado" and "sin datos".

import { escapar, nombreNivel, numero } from "./formato.js";
import { L } from "./mapa.js";

/** A compact copy of the legend on the map, folded by a tap (shown only on narrow screens, by CSS). */
export function controlLeyenda() {
  const control = L.control({ position: "bottomleft" });
  let cuerpo, caja;
  control.onAdd = () => {
    caja = L.DomUtil.create("details", "leyenda-mapa");
    caja.open = true;
    caja.innerHTML = '<summary>Leyenda</summary><div class="leyenda-mapa-cuerpo"></div>';
    cuerpo = caja.querySelector(".leyenda-mapa-cuerpo");
    L.DomEvent.disableClickPropagation(caja);
    L.DomEvent.disableScrollPropagation(caja);
    return caja;
  };
  control.plegar = (plegada) => { if (caja) caja.open = !plegada; };
  control.mostrar = (leyenda) => {
    if (!cuerpo) return;
    const titulo = leyenda.querySelector(".leyenda-titulo")?.textContent ?? "";
    const clases = leyenda.querySelector(".leyenda-clases")?.cloneNode(true);
    // "Reservado" and "Sin dato" by their name only: the panel's legend explains them.
    clases?.querySelectorAll("li > span:not(.muestra)").forEach((s) => { if (s.querySelector("b")) s.innerHTML = s.querySelector("b").outerHTML; });
    // Class labels in their short form ("20–40 %", "≤ 20 %", "> 80 %"), the full one as a tooltip:
    // the classes flow side by side and the whole legend fits on the map beside what it explains.
    clases?.querySelectorAll("li.clase").forEach((li) => {
      const largo = li.textContent.trim();
      li.title = largo;
      [...li.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).forEach((n) => n.remove());
      li.append(corto(largo));
    });
    cuerpo.innerHTML = `<p class="leyenda-titulo" title="${escapar(titulo)}">${escapar(titulo)}</p>`;
    if (clases) cuerpo.append(clases);
  };
  return control;
}

/** "más de 20 % hasta 40 %" → "20–40 %", "hasta 20 %" → "≤ 20 %", "más de 80 %" → "> 80 %". */
export function corto(texto) {
  const m = /^más de (.+?) hasta (.+)$/.exec(texto);
  if (m) {
    const [, a, b] = m;
    const unidad = / (\S+)$/.exec(b)?.[1];
    return `${unidad && a.endsWith(` ${unidad}`) ? a.slice(0, -unidad.length - 1) : a}–${b}`;
  }
  return texto.replace(/^hasta /, "≤ ").replace(/^más de /, "> ");
}

/**
 * `sinRelevamiento`: null, or {color} when the measure gives such areas a class of their
 * own (the survey-coverage layer: 0 %); otherwise they get the dotted look.
 */
const esConteo = (u) => Boolean(u) && !["%", "km", "índice", "indice"].includes(u);

export function dibujarLeyenda(elemento, { medida, leyenda, nivel, reservadoTexto, nombreCategoria = (c) => c, areas = true,
  sinRelevamiento = {} }) {
  const filas = [];
  const muestra = (color) => `<span class="muestra" style="background:${escapar(color)}"></span>`;
  if (leyenda?.categorias?.length) {
    leyenda.categorias.forEach((c, i) => filas.push(`<li>${muestra(leyenda.colores[i])}${escapar(nombreCategoria(c))}</li>`));
  } else if (leyenda?.colores?.length) {
    const { cortes, colores } = leyenda;
    const u = medida.unidad ?? "";
    const conteo = esConteo(u) && u !== "por 100";
    // Counts are published in steps of 5: "0", "5 a 20", "25 a 50", "más de 50" (never "hasta 0").
    const paso = conteo && cortes.every((c) => Number.isInteger(c) && c % 5 === 0) ? 5 : 0;
    const f = (v) => (conteo ? numero(v) : numero(v, u));
    const sufijo = esConteo(u) ? ` ${u}` : "";
    colores.forEach((color, i) => {
      let texto;
      if (!cortes.length) texto = "todos los valores";
      else if (i === 0) texto = cortes[0] <= 0 ? `0${sufijo}` : paso ? `0 a ${f(cortes[0])}${sufijo}` : `hasta ${f(cortes[0])}${sufijo}`;
      else if (i === cortes.length) texto = `más de ${f(cortes[i - 1])}${sufijo}`;
      else texto = paso ? `${f(cortes[i - 1] + paso)} a ${f(cortes[i])}${sufijo}` : `más de ${f(cortes[i - 1])} hasta ${f(cortes[i])}${sufijo}`;
      filas.push(`<li class="clase" data-clase="${i}">${muestra(color)}${texto}</li>`);
    });
  } else {
    filas.push('<li class="nota">Sin clases publicadas para este indicador.</li>');
  }
  if (areas) filas.push(`<li class="fila-reservado"><span class="muestra muestra-reservado"></span><span><b>Reservado</b>: ${escapar(reservadoTexto.replace(/^Reservado:\s*/i, ""))}</span></li>`);
  if (areas && sinRelevamiento) {
    const color = sinRelevamiento.color;
    filas.push(`<li class="fila-sin-relevamiento"><span class="muestra${color ? "" : " muestra-sin-relevamiento"}"${
      color ? ` style="background:${escapar(color)}"` : ""}></span><span><b>Sin relevamiento FIPS</b>${color ? " (0 %)" : ""}: la encuesta todavía no llegó a este territorio; se muestran su nombre, su población censal y los servicios cercanos</span></li>`);
  }
  if (areas) filas.push('<li class="fila-sin-dato"><span class="muestra muestra-sin-dato"></span><span><b>Sin dato</b>: relevado, pero sin unidades a las que aplique este indicador</span></li>');
  if (areas && (nivel === "h3_7" || nivel === "h3_8")) {
    filas.push('<li class="nota nota-fina">En zonas rurales muchos hexágonos de este tamaño tienen menos de 10 hogares: están reservados y <b>no se dibujan</b>. Aleje el mapa para ver el hexágono mayor que los contiene.</li>');
  }
  elemento.innerHTML = `
    <p class="leyenda-titulo">${escapar(medida?.etiqueta ?? "")}${esConteo(medida?.unidad) && medida.unidad !== "por 100" && !String(medida?.etiqueta ?? "").includes(`(${medida.unidad})`) ? ` (${escapar(medida.unidad)})` : ""}</p>
    <p class="nota">Nivel: ${escapar(nombreNivel(nivel))}${leyenda?.metodo === "fijo" ? " · cortes fijos, comparables entre territorios" : ""}</p>
    <ul class="leyenda-clases">${filas.join("")}</ul>
    ${leyenda?.nota ? `<p class="nota nota-leyenda">${escapar(leyenda.nota)}</p>` : ""}`;
}
