"""The colour ramps of the map layers: named in each layer file (``rampa:``), validated
by the catalog (``capas.catalogo``) and turned into legend colours (``capas.clases``)."""

from __future__ import annotations

import numpy as np

# Perceptually uniform, colour-blind-safe sequential ramps (9 stops, low → high), and the
# Okabe–Ito qualitative palette for categories.
RAMPAS: dict[str, list[str]] = {
    "viridis": ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"],
    "cividis": ["#00224e", "#123570", "#3b496c", "#575d6d", "#707173", "#8a8779", "#a69d75", "#c4b56c", "#fee838"],
    # magma reversed: light for few units without the service, dark for many.
    "magma": ["#fcfdbf", "#fec287", "#fb8761", "#e55064", "#b5367a", "#812581", "#4f127b", "#1c1044", "#000004"],
    "okabe_ito": ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"],
    "gris": ["#525252"],
}
QUALITATIVE = {"okabe_ito", "gris"}


def colours(rampa: str, k: int) -> list[str]:
    """``k`` colours from a ramp: evenly spaced stops, interpolated in RGB."""
    stops = RAMPAS[rampa]
    if rampa in QUALITATIVE:
        return [stops[i % len(stops)] for i in range(k)]
    if k == 1:
        return [stops[len(stops) // 2]]
    rgb = np.array([[int(h[i : i + 2], 16) for i in (1, 3, 5)] for h in stops], dtype=float)
    positions = np.linspace(0, len(stops) - 1, k)
    out = []
    for p in positions:
        lo = int(np.floor(p))
        hi = min(lo + 1, len(stops) - 1)
        c = rgb[lo] + (rgb[hi] - rgb[lo]) * (p - lo)
        out.append("#" + "".join(f"{int(np.rint(v)):02x}" for v in c))
    return out
