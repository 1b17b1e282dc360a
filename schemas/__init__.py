"""Marshmallow schemas dumping models to the API's JSON (camelCase via data_key), and the few maps from a
validated body's API fields back to Python names (business.py `settings_of`, notifications.py `load_choices`).
They never validate: the spec does."""
