"""The HTTP side, as the exporter-toolkit's ``web`` package shapes it: the web config
file (``config``, with its ``tls`` and ``users`` sections, followed while serving by
``reload``), basic auth (``auth``) and the server with its routes (``server``, gzip in
``compress``)."""

from exporter.web.auth import basic_auth_middleware
from exporter.web.config import WebConfig, WebConfigError, load_web_config
from exporter.web.reload import follow_web_config

__all__ = [
    "WebConfig",
    "WebConfigError",
    "basic_auth_middleware",
    "follow_web_config",
    "load_web_config",
]
