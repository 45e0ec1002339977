"""The HTTP API: the application factory."""
from __future__ import annotations

import os
from collections.abc import Mapping

from flask import Flask

from app import auth, conditional, cors, language, proxy, requests
from shared import settings

# Bodies are small JSON documents; anything larger is a mistake or an attack.
MAX_BODY_BYTES = 1024 * 1024


def access_settings(environ: Mapping[str, str] = os.environ) -> dict:
    """API_TOKEN, API_PROTECT_READS and PROXY_HOPS from the environment, checked (gunicorn's
    master checks them before it starts any worker: gunicorn.conf.py).

    :raises AccessSettingError: unusable access settings.
    """
    found = auth.settings_from_environment(environ)
    auth.check_token_format(found["API_TOKEN"])
    found["PROXY_HOPS"] = proxy.hops_from_environment(environ)
    return found


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app.

    ``test_config`` may set CONFIG_PATH, OUTPUT_DIR, OUTPUT_BASE, API_TOKEN,
    API_PROTECT_READS and PROXY_HOPS; the access settings are otherwise read from
    the environment here, once per process (see app/auth.py, app/proxy.py).

    :raises AccessSettingError: unusable access settings (the app must not run open by mistake).
    """
    app = Flask(__name__)
    app.config.from_mapping(
        CONFIG_PATH=settings.config_path(),
        OUTPUT_DIR=os.environ.get(settings.OUTPUT_DIR_ENV) or None,
        OUTPUT_BASE=os.getcwd(),
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
    )
    app.config.update(access_settings())
    if test_config:
        app.config.update(test_config)
    app.config["CONFIG_PATH"] = os.path.abspath(app.config["CONFIG_PATH"])
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    proxy.init_app(app)
    cors.init_app(app)
    conditional.init_app(app)
    language.init_app(app)
    # No 308 redirect (an HTML page) for "//": a doubled slash is just an unknown path.
    app.url_map.merge_slashes = False

    from app import (cameras, clips, configuration, errors, health, metrics, openapi, pictures,
                     results, scheduler)
    errors.init_app(app)
    auth.init_app(app)
    requests.init_app(app)  # after the token check: no body is read for a refused request
    for module in (results, clips, configuration, scheduler, cameras, pictures, metrics, openapi,
                   health):
        app.register_blueprint(module.bp)
    from app import console
    console.init_app(app)
    return app
