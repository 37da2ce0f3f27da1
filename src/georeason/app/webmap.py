"""The interactive web map of a georeferenced result (folium / Leaflet).

The map shows the result's RFC 7946 polygons (boxes dashed, contours filled) over the scene:
the overlay image is laid on the scene's WGS 84 bounding box (an approximation for a scene
that is not north-up in WGS 84, e.g. UTM a few degrees from its central meridian; the polygons
themselves are exact), over an OpenStreetMap basemap. Leaflet itself is inlined from the copy
vendored under ``static/leaflet`` (folium's CDN links and its unused jQuery/Bootstrap/icon assets
are dropped), so the map draws without internet access; only the basemap tiles need it.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

#: longest side of the overlay image embedded in the map (ours: keeps the page light)
MAP_OVERLAY_MAX_SIDE_PX = 1024

LEAFLET_DIR = Path(__file__).parent / "static" / "leaflet"


def _data_url(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _self_contained(m: object) -> None:
    """Point a folium map at the vendored Leaflet (data URLs) and drop the other CDN assets."""
    m.default_js = [("leaflet", _data_url(LEAFLET_DIR / "leaflet.js", "text/javascript"))]
    m.default_css = [("leaflet_css", _data_url(LEAFLET_DIR / "leaflet.css", "text/css"))]


def _png_data_url(path: Path, max_side: int = MAP_OVERLAY_MAX_SIDE_PX) -> str:
    from PIL import Image

    from georeason.serving.verifier_client import encode_image_data_url

    with Image.open(path) as im:
        im = im.convert("RGB")
        im.thumbnail((max_side, max_side))
        return encode_image_data_url(im, "PNG")


def web_map_html(
    feature_collection: dict,
    footprint_lonlat: list[list[float]],
    overlay_path: str | Path | None = None,
    height_px: int = 480,
) -> str:
    """An ``<iframe>`` holding a folium map of the result (HTML string for ``gr.HTML``).

    Args:
        feature_collection: the result's RFC 7946 FeatureCollection (WGS 84 lon/lat).
        footprint_lonlat: the scene's four corners ``[[lon, lat], ...]``.
        overlay_path: PNG laid over the footprint's bounding box (None: no image layer).
        height_px: the map's height in the page.
    """
    import folium

    lons = [c[0] for c in footprint_lonlat]
    lats = [c[1] for c in footprint_lonlat]
    bounds = [[min(lats), min(lons)], [max(lats), max(lons)]]
    m = folium.Map(tiles="OpenStreetMap", control_scale=True)
    _self_contained(m)
    if overlay_path is not None:
        folium.raster_layers.ImageOverlay(
            image=_png_data_url(Path(overlay_path)), bounds=bounds, opacity=0.9, name="scene"
        ).add_to(m)
    folium.Polygon(
        locations=[[lat, lon] for lon, lat in footprint_lonlat],
        color="#ffffff",
        weight=1,
        fill=False,
        tooltip="scene footprint",
    ).add_to(m)

    def style(feature: dict) -> dict:
        contour = feature["properties"].get("kind") == "contour"
        return {
            "color": "#ffcc00" if contour else "#ff3333",
            "weight": 2,
            "dashArray": None if contour else "6 4",
            "fillOpacity": 0.3 if contour else 0.0,
        }

    if feature_collection.get("features"):
        fields = [
            f
            for f in ("kind", "box_index", "area_m2")
            if any(f in ft["properties"] for ft in feature_collection["features"])
        ]
        folium.GeoJson(
            feature_collection,
            name="result",
            style_function=style,
            tooltip=folium.GeoJsonTooltip(fields=fields),
        ).add_to(m)
    m.fit_bounds(bounds)
    page = m.get_root().render()
    return (
        f'<iframe class="georeason-map" style="width:100%;height:{height_px}px;border:0" '
        f'srcdoc="{html.escape(page, quote=True)}"></iframe>'
    )
