// The legend of the layer shown: stored class breaks, plus "reservado" and "sin datos".

import { escapar, nombreNivel, numero } from "./formato.js";

export function dibujarLeyenda(elemento, { medida, leyenda, nivel, reservadoTexto }) {
  const filas = [];
  if (leyenda) {
    const { cortes, colores } = leyenda;
    for (let i = 0; i < colores.length; i += 1) {
      const desde = numero(cortes[i], medida.unidad);
      const hasta = numero(cortes[i + 1], medida.unidad);
      filas.push(`<li><span class="muestra" style="background:${escapar(colores[i])}"></span>${desde} – ${hasta}</li>`);
    }
  } else {
    filas.push('<li class="nota">Sin clases publicadas para este indicador.</li>');
  }
  filas.push(`<li class="fila-reservado"><span class="muestra muestra-reservado"></span><span><b>Reservado</b>: ${escapar(reservadoTexto)}</span></li>`);
  filas.push('<li class="fila-sin-dato"><span class="muestra muestra-sin-dato"></span><span><b>Sin datos</b>: territorio aún no relevado</span></li>');
  elemento.innerHTML = `
    <p class="leyenda-titulo">${escapar(medida.etiqueta)}</p>
    <p class="nota">Nivel: ${escapar(nombreNivel(nivel))}${leyenda?.fijos ? " · cortes fijos" : ""}</p>
    <ul class="leyenda-clases">${filas.join("")}</ul>`;
}
