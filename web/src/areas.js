// Keyboard access to the areas of the map: every department and its districts in one
// native <select> (focusable, arrow keys and type-ahead), "Ver perfil" opens the profile.
// The mouse user clicks the map; the keyboard user gets the same profile from here.

import { areas } from "./api.js";
import { escapar } from "./formato.js";

export async function conectarAreas(form, select, alElegir) {
  try {
    const lista = (await areas()).areas;
    const grupos = [];
    for (const a of lista) {
      if (a.nivel === "departamento") grupos.push({ dep: a, distritos: [] });
      else grupos.at(-1)?.distritos.push(a);
    }
    select.innerHTML = '<option value="">elegir…</option>' + grupos.map(({ dep, distritos }) =>
      `<optgroup label="${escapar(dep.nombre)}"><option value="${escapar(dep.codigo)}">${escapar(dep.nombre)} (departamento)</option>${
        distritos.map((d) => `<option value="${escapar(d.codigo)}">${escapar(d.nombre)}</option>`).join("")}</optgroup>`).join("");
  } catch {
    select.innerHTML = '<option value="">No se pudo cargar la lista; use la búsqueda</option>';
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (select.value) alElegir(select.value);
  });
}
