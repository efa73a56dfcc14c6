// Every request the viewer makes to the map service, and the one place that turns the
// service's JSON into the shapes the rest of the viewer uses.

async function pedir(url, cache = "default") {
  const respuesta = await fetch(url, { headers: { Accept: "application/json" }, cache });
  if (!respuesta.ok) {
    const s = respuesta.status;
    let detalle = s === 503 ? "El servicio no está disponible por un momento (503). Intente de nuevo en unos segundos."
      : s >= 500 ? `El servicio tuvo un error (${s}). Intente de nuevo más tarde.` : `Pedido no válido (${s}).`;
    try { detalle = (await respuesta.json()).detail || detalle; } catch { /* no JSON body */ }
    throw new Error(detalle);
  }
  return respuesta.json();
}

const lista = (v) => (Array.isArray(v) ? v : v && typeof v === "object" ? Object.values(v) : []);

function normalizarNiveles(niveles) {
  return lista(niveles).map((n) => ({
    nivel: n.nivel ?? n.id ?? n.nombre,
    zmin: n.zoom_min ?? n.minzoom ?? n.zmin ?? 0,
    zmax: n.zoom_max ?? n.maxzoom ?? n.zmax ?? 22,
  })).sort((a, b) => a.zmin - b.zmin);
}

function normalizarMedidas(medidas) {
  return lista(medidas).map((m) => (typeof m === "string" ? { columna: m, etiqueta: m, unidad: "" } : {
    columna: m.columna ?? m.id ?? m.nombre,
    etiqueta: m.etiqueta ?? m.titulo ?? m.columna,
    unidad: m.unidad ?? "",
    tipo: m.tipo ?? "",
    logro: m.logro ?? null,
    servicio: m.servicio ?? null,
  }));
}

/**
 * Legends by measure and level: {medida: {nivel: {cortes, colores, categorias?, metodo}}}.
 * Breaks follow mapclassify: k-1 inner breaks, k colours (class 1 is v <= b1, last v > b(k-1)).
 */
function leyendas(c) {
  const tabla = {};
  for (const m of lista(c.medidas)) {
    if (m && typeof m === "object" && m.leyenda) tabla[m.columna] = m.leyenda;
  }
  if (c.leyenda && c.clasificacion?.campo) tabla[c.clasificacion.campo] = c.leyenda;
  return tabla;
}

function normalizarCapa(c) {
  const medidas = normalizarMedidas(c.medidas);
  return {
    id: c.id,
    titulo: c.titulo ?? c.id,
    descripcion: c.descripcion ?? "",
    niveles: normalizarNiveles(c.niveles),
    medidas,
    medidaDefecto: c.medida_inicial ?? medidas[0]?.columna ?? null,
    leyendas: leyendas(c),
    campoCategoria: c.clasificacion?.metodo === "categorias" ? c.clasificacion.campo : null,
    reservadoTexto: c.texto_reservado ?? "Reservado: muy pocos hogares para publicar cifras.",
    etiquetaSintetica: c.etiqueta_sintetica ?? null,
    atribucion: lista(c.atribucion).map(String),
    geometria: c.geometria === "punto" ? "punto" : "area",
    base: c.id === "territorio",
    tilejson: c.tilejson ?? `/capas/${encodeURIComponent(c.id)}/tilejson.json`,
    tiles: c.tiles ?? null, // the versioned tile URL, as in the TileJSON

  };
}

/** The layer catalog; `fresco` skips the browser's copy (after a new data version). */
export async function catalogo({ fresco = false } = {}) {
  const crudo = await pedir("/capas", fresco ? "no-cache" : "default");
  const capas = lista(crudo.capas ?? crudo).map(normalizarCapa);
  return {
    capas,
    dataVersion: crudo.data_version ?? null,
    fecha: crudo.calculado_en ?? null,
    atribucion: lista(crudo.atribucion).map(String),
  };
}

/** Tile URL template of a layer: the catalog carries it; the TileJSON is the fallback. */
export async function urlTeselas(capa) {
  return capa.tiles ?? (await pedir(capa.tilejson)).tiles[0];
}

export const indicadores = (nivel, codigo) =>
  pedir(`/api/indicadores?nivel=${encodeURIComponent(nivel)}&codigo=${encodeURIComponent(codigo)}`);

export const listo = () => pedir("/listo");

/** GeoJSON feature of one H3 cell (OGC API Features collection of its resolution). */
export const celda = (codigo, nivel = "h3_7") =>
  pedir(`/ogc/collections/cobertura_${nivel}/items/${encodeURIComponent(codigo)}`);

export const perfil = (codigo) => pedir(`/api/territorios/${encodeURIComponent(codigo)}`);

/** Departments and districts the FIPS survey has not reached: {texto, territorios: [{nivel, codigo, nombre, poblacion_censo_2022}]}. */
export const sinRelevamiento = () => pedir("/api/sin-relevamiento");

/** Departments and districts by name (the keyboard list of areas). */
export const areas = () => pedir("/api/areas");

/** The published dictionary of measures (labels, units, Logro and service of each column). */
export const diccionario = () => pedir("/api/medidas");

export const buscar = (q) => pedir(`/api/buscar?q=${encodeURIComponent(q)}`).then((r) => r.resultados ?? []);

export function serviciosCercanos(lat, lon, tipo, n = 10) {
  const p = new URLSearchParams({ lat: lat.toFixed(6), lon: lon.toFixed(6), n: String(n) });
  if (tipo) p.set("tipo", tipo);
  return pedir(`/api/servicios/cercanos?${p}`).then((r) => r.puntos ?? []);
}

export function urlDescarga(capa, formato, nivel, territorio) {
  const p = new URLSearchParams();
  if (nivel) p.set("nivel", nivel);
  if (territorio?.nivel === "departamento") p.set("departamento", territorio.codigo);
  if (territorio?.nivel === "distrito") p.set("distrito", territorio.codigo);
  const q = p.toString();
  return `/descargas/${encodeURIComponent(capa)}.${formato}${q ? `?${q}` : ""}`;
}
