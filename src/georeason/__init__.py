"""georeason: geospatial reasoning with multimodal LLMs (RemoteZero, RemoteReasoner, GeoZero)."""

__version__ = "0.1.0"
