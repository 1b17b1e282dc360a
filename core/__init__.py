"""Cross-cutting parts: configuration, database, errors, middleware, logging."""

__version__ = "0.1.0"  # equals info.version of openapi/openapi.yaml (a unit test holds them together)
