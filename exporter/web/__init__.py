"""The HTTP side, as the exporter-toolkit's ``web`` package shapes it: the web config
file (``config``, with its ``tls`` and ``users`` sections), basic auth (``auth``) and
the server with its routes (``server``)."""

from exporter.web.auth import basic_auth_middleware
from exporter.web.config import WebConfig, WebConfigError, load_web_config

__all__ = ["WebConfig", "WebConfigError", "basic_auth_middleware", "load_web_config"]
