"""``georeason app``: a Gradio web app for analysts over the same workflow as ``locate``.

:mod:`georeason.app.backend` runs one request (no Gradio needed, unit-tested);
:mod:`georeason.app.webmap` draws georeferenced results on a folium map;
:mod:`georeason.app.ui` is the page, whose main action is also the API endpoint ``/locate``.
Needs the ``app`` extra (``pip install 'georeason[app]'``).
"""
