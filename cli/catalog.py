"""Loads the plan catalog: `python -m cli.catalog [path]` (make load-catalog; default data/catalog.yaml).

Any number of replicas may run it at once: they take turns under the deploy lock.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from core.config import load_settings_or_exit
from core.db import Database, create_db_engine, hold_deploy_lock
from core.logging import configure_logging
from services.catalog import CATALOG_PATH, read_catalog, sync_catalog

log = logging.getLogger(__name__)


def main(argv: list[str]) -> None:
    settings = load_settings_or_exit()
    configure_logging(settings)
    path = Path(argv[0]) if argv else CATALOG_PATH
    catalog = read_catalog(path)
    database = Database(create_db_engine(settings))
    with database.sessions.begin() as session:
        hold_deploy_lock(session.connection())
        changes = sync_catalog(session, catalog)
    database.dispose()
    log.info("catalog loaded", extra={"catalogVersion": catalog["version"], "path": str(path), **changes})


if __name__ == "__main__":
    main(sys.argv[1:])
