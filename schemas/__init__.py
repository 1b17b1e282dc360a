"""Marshmallow schemas dumping models to the API's JSON (camelCase via data_key): output only, the spec
validates input."""
