// Place search (departments, districts, localities) with a keyboard-usable result list.
// Accent and case folding is done by the service (/api/buscar).

import { buscar } from "./api.js";
import { escapar, nombreNivel } from "./formato.js";

export function conectarBusqueda(entrada, listaEl, alElegir) {
  let resultados = [];
  let activo = -1;
  let pedido = 0;

  const cerrar = () => { listaEl.innerHTML = ""; entrada.setAttribute("aria-expanded", "false"); activo = -1; };
  const marcar = (i) => {
    activo = i;
    [...listaEl.children].forEach((li, j) => li.setAttribute("aria-selected", String(j === i)));
    if (i >= 0) entrada.setAttribute("aria-activedescendant", `resultado-${i}`);
  };
  const elegir = (i) => { const r = resultados[i]; if (r) { cerrar(); entrada.value = r.nombre; alElegir(r); } };

  async function consultar() {
    const q = entrada.value.trim();
    const mio = ++pedido;
    if (q.length < 2) { cerrar(); return; }
    let r;
    let fallo = null;
    try { r = await buscar(q); } catch (e) { r = []; fallo = e; }
    if (mio !== pedido) return;
    resultados = r;
    listaEl.innerHTML = fallo
      ? '<li class="nota error-busqueda" role="option" aria-disabled="true">No se pudo buscar: el servicio no respondió. Vuelva a intentar en unos segundos.</li>'
      : resultados.length ? resultados.map((x, i) => `<li id="resultado-${i}" role="option" aria-selected="false" data-i="${i}">
        <b>${escapar(x.nombre)}</b> <span class="nota">${escapar(nombreNivel(x.nivel))}${
          x.en ? ` · ${escapar(x.en)}` : ""}</span></li>`).join("")
      : '<li class="nota" role="option" aria-disabled="true">Sin resultados</li>';
    entrada.setAttribute("aria-expanded", "true");
    activo = -1;
  }

  let espera;
  entrada.addEventListener("input", () => { clearTimeout(espera); espera = setTimeout(consultar, 180); });
  entrada.addEventListener("keydown", (e) => {
    if (e.key === "ArrowDown") { e.preventDefault(); marcar(Math.min(activo + 1, resultados.length - 1)); }
    else if (e.key === "ArrowUp") { e.preventDefault(); marcar(Math.max(activo - 1, 0)); }
    else if (e.key === "Enter") { e.preventDefault(); elegir(activo >= 0 ? activo : 0); }
    else if (e.key === "Escape") cerrar();
  });
  listaEl.addEventListener("click", (e) => {
    const li = e.target.closest("li[data-i]");
    if (li) elegir(Number(li.dataset.i));
  });
}
