"""The Gradio page of ``georeason app``: upload, ask, see the reasoning, boxes, masks, contours
and map; download the GIS files. Its main action is also the API endpoint ``/locate``.

API (``gradio_client``)::

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    reasoning, overlay, map_html, geojson, files, timings, summary = client.predict(
        handle_file("scene.tif"), "the storage tanks", "contour", "", api_name="/locate"
    )

Inputs: image file, query, task (``region``, ``pixel``, ``contour``), bands (``"4,3,2"`` or
empty). Outputs: reasoning text, overlay PNG, map HTML, ``result.geojson``, the other files
(GeoPackage, mask GeoTIFF, ``result.json``), timings in seconds per stage, one summary line.
"""

from __future__ import annotations

from typing import Any

from georeason.app.backend import STAGE_PROGRESS, TASKS, AppBackend, describe_image

_NO_MAP = (
    "<p style='opacity:0.7'>No map: the image has no georeferencing (CRS and transform). "
    "Results are in pixel coordinates.</p>"
)


def examples_from_samples(limit_per_image: int = 1) -> list[list[Any]]:
    """One example per bundled real image: ``[path, query, task, bands]`` rows from
    ``rs-samples/queries.jsonl`` (GeoTIFFs first, since the map needs georeferencing)."""
    from georeason.data import SAMPLES_DIR, sample_records

    seen: dict[str, int] = {}
    rows = []
    for rec in sample_records():
        if seen.get(rec["image"], 0) >= limit_per_image:
            continue
        seen[rec["image"]] = seen.get(rec["image"], 0) + 1
        rows.append([str(SAMPLES_DIR / rec["image"]), rec["query"], "contour", ""])
    rows.sort(key=lambda r: not r[0].lower().endswith((".tif", ".tiff")))
    return rows


def build_app(backend: AppBackend, title: str = "georeason") -> Any:
    """The Gradio ``Blocks`` app over ``backend`` (call ``.launch()`` on it).

    A user error (no image, unreadable file, bad bands) is shown in the page as the same one-line
    message the CLI prints; the app keeps running.
    """
    import gradio as gr

    from georeason.errors import GeoreasonError

    def run_locate(
        image_file: str | None,
        query: str,
        task: str,
        bands: str = "",
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (Gradio's documented idiom)
    ) -> tuple:
        def on_stage(name: str, fraction: float | None = None) -> None:
            if fraction is not None:  # a tile of a whole scene: the locate stage's share
                lo, hi = STAGE_PROGRESS["locate"], STAGE_PROGRESS["segment"]
                progress(lo + (hi - lo) * fraction, desc=name)
            else:
                progress(STAGE_PROGRESS.get(name, 0.5), desc=name)

        try:
            res = backend.run(image_file, query, task, bands, on_stage=on_stage)
        except (GeoreasonError, FileNotFoundError) as exc:
            raise gr.Error(" ".join(str(exc).split()), print_exception=False) from None
        progress(1.0, desc="done")
        map_html = _NO_MAP
        if res.georeferenced and res.footprint_lonlat is not None:
            from georeason.app.webmap import web_map_html

            map_html = web_map_html(res.feature_collection, res.footprint_lonlat, res.overlay_path)
        others = [str(p) for name, p in res.files.items() if name != "result.geojson"]
        return (
            res.reasoning,
            str(res.overlay_path),
            map_html,
            str(res.files["result.geojson"]),
            others,
            res.timings_s,
            res.summary,
        )

    segmenter_name = getattr(backend.segmenter, "name", type(backend.segmenter).__name__)
    model_line = f"Policy: `{backend.policy.model_name}`; segmenter: `{segmenter_name}`."
    with gr.Blocks(title=title) as app:
        gr.Markdown(
            "# georeason\nUpload a remote-sensing image, ask a question that implies its target; "
            "the policy reasons, answers with boxes; the segmenter turns boxes into masks and "
            f"contours. {model_line}"
        )
        if backend.random_weights:
            gr.Markdown(
                "**This model has RANDOM weights (a test model): its boxes are not a real "
                "prediction.**",
                elem_id="random-weights",
            )
        with gr.Row():
            with gr.Column(scale=1):
                image_in = gr.File(
                    label="Image (PNG, JPEG, GeoTIFF; 16-bit and multi-band too)",
                    file_types=[".png", ".jpg", ".jpeg", ".tif", ".tiff"],
                    type="filepath",
                    elem_id="image-in",
                )
                image_info = gr.Markdown(elem_id="image-info")
                query_in = gr.Textbox(
                    label="Query",
                    placeholder="e.g. the vehicles parked near the warehouse",
                    elem_id="query-in",
                )
                task_in = gr.Radio(list(TASKS), value="contour", label="Task", elem_id="task-in")
                bands_in = gr.Textbox(
                    label="Bands as RGB (1-based, e.g. 4,3,2; empty: by band count)",
                    value="",
                    elem_id="bands-in",
                )
                run_btn = gr.Button("Locate", variant="primary", elem_id="run")
            with gr.Column(scale=2):
                summary_out = gr.Markdown(label="Summary", elem_id="summary")
                overlay_out = gr.Image(label="Result", type="filepath", elem_id="overlay")
                reasoning_out = gr.Textbox(label="Reasoning", lines=4, elem_id="reasoning")
        map_out = gr.HTML(label="Map", elem_id="map")
        with gr.Row():
            geojson_out = gr.File(label="GeoJSON (RFC 7946)", elem_id="geojson")
            files_out = gr.File(
                label="GeoPackage, mask GeoTIFF, result.json",
                file_count="multiple",
                elem_id="files",
            )
            timings_out = gr.JSON(label="Timings (s)", elem_id="timings")
        gr.Examples(
            examples=examples_from_samples(),
            inputs=[image_in, query_in, task_in, bands_in],
            label="Bundled real samples",
        )
        image_in.change(
            lambda f: describe_image(f) if f else "", image_in, image_info, api_name=False
        )
        run_btn.click(
            run_locate,
            inputs=[image_in, query_in, task_in, bands_in],
            outputs=[
                reasoning_out,
                overlay_out,
                map_out,
                geojson_out,
                files_out,
                timings_out,
                summary_out,
            ],
            api_name="locate",
        )
    return app
