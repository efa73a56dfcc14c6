"""HTTP API (FastAPI) and the Leaflet web front end it serves."""
