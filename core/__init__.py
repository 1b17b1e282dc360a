"""The framework-free base every other folder stands on; it imports nothing of ours (pyproject.toml's
import contracts): configuration, database, domain errors, logging, tracing, pagination, crypto, passwords,
tokens, phone numbers, the caller and whether the process is draining."""

__version__ = "0.2.0"  # equals info.version of openapi/openapi.yaml (a unit test holds them together)
