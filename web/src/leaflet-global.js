// Leaflet.VectorGrid extends the global `L`; expose Leaflet before the plugin is evaluated.
import L from "leaflet";

window.L = L;
export default L;
