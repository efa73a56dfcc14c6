// Numbers and dates as Paraguay writes them (1.234,5), and the words for missing values.

const entero = new Intl.NumberFormat("es-PY", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("es-PY", { maximumFractionDigits: 1 });
const decimal2 = new Intl.NumberFormat("es-PY", { maximumFractionDigits: 2 });

export function numero(valor, unidad = "") {
  if (valor === null || valor === undefined || Number.isNaN(valor)) return "sin dato";
  const n = Number(valor);
  if (unidad === "%") return `${decimal.format(n)} %`;
  if (unidad === "km") return `${decimal2.format(n)} km`;
  if (Number.isInteger(n)) return entero.format(n);
  return Math.abs(n) < 10 ? decimal2.format(n) : decimal.format(n);
}

export const conUnidad = (valor, unidad) =>
  unidad && unidad !== "%" && unidad !== "km" && unidad !== "índice" ? `${numero(valor)} ${unidad}` : numero(valor, unidad);

export function distancia(km) {
  if (km === null || km === undefined) return "";
  return km < 1 ? `${entero.format(Math.round(km * 1000))} m` : `${decimal.format(km)} km`;
}

export function fecha(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleDateString("es-PY", { day: "numeric", month: "long", year: "numeric" });
}

export function escapar(texto) {
  return String(texto ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

export const NIVELES = {
  pais: "País", departamento: "Departamento", distrito: "Distrito",
  h3_5: "Hexágono H3 (res. 5)", h3_6: "Hexágono H3 (res. 6)", h3_7: "Hexágono H3 (res. 7)", h3_8: "Hexágono H3 (res. 8)",
  punto: "Punto de entrega",
};
export const nombreNivel = (n) => NIVELES[n] ?? n ?? "—";

/** "identificadas" for personas, "identificados" for hogares and entornos. */
export const identificados = (unidad) => `${unidad ?? ""} ${unidad === "personas" ? "identificadas" : "identificados"}`.trim();

const PAQUETES = { nucleo: "paquete núcleo", ampliado: "paquete ampliado", diferenciado: "paquete diferenciado" };
export const nombrePaquete = (p) => PAQUETES[p] ?? p;

/** A short label of a data version for the public ("v. 3f9a2c"), the full id goes in a details fold. */
export const versionDatos = (v) => (v ? `v. ${String(v).replace(/^v/, "").slice(0, 8)}` : "");

/** "1 derivación", "3 derivaciones": a count with its noun in the right number. */
export const contar = (n, singular, plural) => `${numero(n)} ${Number(n) === 1 ? singular : plural}`;
