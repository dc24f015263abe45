"""How the body-size cap gets in front of MLServer's REST app under a plain ``mlserver start``.

MLServer 1.7.1 has no setting for an ASGI middleware, and it builds its REST app (``create_app``) before any
model's code is imported. The one piece of user code it imports earlier is the model repository named by
``settings.json``'s ``model_repository_implementation``, whose arguments are ``model_repository_implementation_args``.
So ``mtst.serve.settings`` names :class:`Repository` there with the cap as its argument; importing this module
wraps the ``create_app`` that MLServer's REST server calls so the app it builds has
``mtst.serve.body.BodyLimit`` in front; the repository itself is MLServer's own (model-settings.json files
under the folder). The wrapper is checked against the MLServer version it was written for: another version
fails at start, not silently uncapped.
"""

from __future__ import annotations

from typing import Any

import mlserver
import mlserver.rest.server as rest_server
from mlserver.repository import SchemalessModelRepository

from mtst.serve.body import BodyLimit

MLSERVER_VERSION = "1.7.1"
BODY_ARGUMENT = "max_body_bytes"

if mlserver.__version__ != MLSERVER_VERSION:
    raise RuntimeError(f"mtst.serve.repository wraps MLServer {MLSERVER_VERSION}'s REST app; this is MLServer "
                       f"{mlserver.__version__}: check mlserver.rest.server.create_app and update MLSERVER_VERSION")

_create_app = rest_server.create_app


def _create_capped_app(settings: Any, *args: Any, **kwargs: Any) -> Any:
    app = _create_app(settings, *args, **kwargs)
    app.add_middleware(BodyLimit, max_bytes=int(settings.model_repository_implementation_args[BODY_ARGUMENT]))
    return app


rest_server.create_app = _create_capped_app


class Repository(SchemalessModelRepository):  # type: ignore[misc]
    """MLServer's repository; its argument ``max_body_bytes`` is read by the wrapped ``create_app``."""

    def __init__(self, root: str, max_body_bytes: int) -> None:
        super().__init__(root)
        self.max_body_bytes = max_body_bytes
