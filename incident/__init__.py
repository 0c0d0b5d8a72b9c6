"""Social-media incident response for a city government: the application factory."""
from __future__ import annotations

import gc
import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

from incident.boundary import TransactionalFlask


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build and configure the Flask application."""
    from incident import config as config_module
    from incident.setup import init_app

    app = TransactionalFlask(
        __name__,
        instance_relative_config=True,
        # The folder of config.py, the development SQLite file, secret key, uploads and demo logins:
        # ./instance unless INCIDENT_INSTANCE_PATH names another (the test suite uses a temporary one).
        instance_path=os.path.abspath(os.environ["INCIDENT_INSTANCE_PATH"]) if os.environ.get("INCIDENT_INSTANCE_PATH") else None,
        template_folder="../templates",
        static_folder="../static",
    )
    config_module.load(app, test_config)
    init_app(app)
    if not app.testing:
        # What start-up built (about 180,000 objects: catalogs, metadata, playbooks) lives as long as the
        # process. Moved out of the collector's reach, its full passes walk only what requests make: 127 ms
        # every few requests at 100,000 cases, the slowest search in ten, became a few ms (README, Benchmark).
        # Garbage is collected first, so that none of it is kept for good.
        gc.collect()
        gc.freeze()
    return app
