"""Vector tiles (PostGIS ST_AsMVT), TileJSON and raster tiles."""
