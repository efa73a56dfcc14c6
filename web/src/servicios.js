// "Servicios cerca de mí": nearest delivery points from the browser position or a clicked
// place, listed with their distance and drawn on the map.

import { serviciosCercanos } from "./api.js";
import { distancia, escapar } from "./formato.js";
import { L } from "./mapa.js";

const COLORES = {
  usf: "#0072b2", hospital: "#d55e00", escuela: "#009e73", registro_civil: "#cc79a7",
  identificaciones: "#e69f00", ips: "#56b4e9", snpp: "#000000",
};
export const colorDeTipo = (tipo) => COLORES[tipo] ?? "#444444";

export function conectarServicios(mapa, { botonMio, botonClic, selectTipo, estadoEl, listaEl }) {
  const grupo = L.layerGroup([], { pane: "puntos" }).addTo(mapa);
  let eligiendo = false;

  async function buscarDesde(lat, lon, origen) {
    estadoEl.textContent = "Buscando los puntos de entrega más cercanos…";
    let puntos;
    try {
      puntos = await serviciosCercanos(lat, lon, selectTipo.value);
    } catch (e) {
      estadoEl.textContent = `No se pudo consultar la guía de servicios: ${e.message}`;
      return;
    }
    grupo.clearLayers();
    L.circleMarker([lat, lon], { pane: "puntos", radius: 7, color: "#000", weight: 2, fillColor: "#fff", fillOpacity: 1 })
      .bindTooltip(origen).addTo(grupo);
    const normal = puntos;
    normal.forEach((p) => {
      const km = p.distancia_km;
      p.km = km;
      if (p.lat != null && p.lon != null) {
        L.circleMarker([p.lat, p.lon], { pane: "puntos", radius: 6, color: "#fff", weight: 1.5, fillColor: colorDeTipo(p.tipo), fillOpacity: 1 })
          .bindPopup(`<b>${escapar(p.nombre)}</b><br>${escapar(p.tipo_nombre ?? p.tipo)} · ${escapar(p.institucion ?? "")}<br>a ${distancia(km)}<br><span class="nota">${escapar(p.origen ?? "")}</span>`)
          .addTo(grupo);
      }
    });
    listaEl.innerHTML = normal.map((p) => `<li><b>${escapar(p.nombre)}</b><br><span class="nota">${escapar(p.tipo_nombre ?? p.tipo)}${
      p.institucion ? ` · ${escapar(p.institucion)}` : ""} · <span class="distancia">${distancia(p.km)}</span>${
      p.origen ? ` · ${escapar(String(p.origen).startsWith("real") ? "dato real" : "punto sintético")}` : ""}</span></li>`).join("");
    estadoEl.textContent = normal.length ? `${normal.length} puntos más cercanos a ${origen}.` : "No hay puntos de entrega de ese tipo.";
    if (normal.length) {
      const b = L.latLngBounds([[lat, lon], ...normal.filter((p) => p.lat != null).map((p) => [p.lat, p.lon])]);
      mapa.fitBounds(b.pad(0.2), { maxZoom: 13 });
    }
  }

  botonMio.addEventListener("click", () => {
    if (!navigator.geolocation) { estadoEl.textContent = "Este navegador no da la ubicación: elija un lugar en el mapa."; return; }
    estadoEl.textContent = "Pidiendo la ubicación al navegador…";
    navigator.geolocation.getCurrentPosition(
      (pos) => buscarDesde(pos.coords.latitude, pos.coords.longitude, "su ubicación"),
      () => { estadoEl.textContent = "No se obtuvo la ubicación: elija un lugar en el mapa."; },
      { timeout: 8000 },
    );
  });
  botonClic.addEventListener("click", () => {
    eligiendo = !eligiendo;
    botonClic.setAttribute("aria-pressed", String(eligiendo));
    mapa.getContainer().classList.toggle("eligiendo", eligiendo);
    estadoEl.textContent = eligiendo ? "Haga clic en el mapa para elegir el lugar." : "";
  });
  // Returns true when the click was used to choose a place.
  return {
    alClicMapa(latlng) {
      if (!eligiendo) return false;
      eligiendo = false;
      botonClic.setAttribute("aria-pressed", "false");
      mapa.getContainer().classList.remove("eligiendo");
      buscarDesde(latlng.lat, latlng.lng, "el lugar elegido");
      return true;
    },
    buscarDesde,
  };
}
