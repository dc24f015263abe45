"""``submit``: compile the pipeline and start a run on a Kubeflow Pipelines backend with ``kfp.Client``.

Two ways: a run that embeds the compiled spec (default), or, with ``pipeline_name``, upload the package
as a pipeline (first time) or a new version of it and run that version. The experiment is created if it
does not exist. kfp.Client prints links on stdout; they are sent to stderr so the result stays JSON.

Transport safety: every API request has a timeout (``timeout``: read seconds; connecting gets at most 10 s),
a private CA can be trusted with ``ssl_ca_cert``, and a bearer token is never sent over plain HTTP except to
a loopback address (a port-forward). Credentials in ``tracking.uri`` are masked in the arguments sent to the
run and in the result printed (``mtst.kfp.pipeline.redacted``).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import ipaddress
import sys
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mtst.config import ConfigError
from mtst.kfp import settings
from mtst.kfp.arguments import pipeline_arguments
from mtst.kfp.pipeline import PipelineBuilder, compile_pipeline, compile_to_temp, redacted
from mtst.redaction import redact_uri

DEFAULT_TIMEOUT_S = 60.0
"""Read timeout of each KFP API request (uploads of the compiled package included)."""
CONNECT_TIMEOUT_S = 10.0


def _submit_errors() -> tuple[type[BaseException], ...]:
    import kfp_server_api
    import urllib3

    return (kfp_server_api.ApiException, urllib3.exceptions.HTTPError, TimeoutError, ValueError)


SUBMIT_ERRORS = _submit_errors()
"""What a refused or unreachable KFP API raises: reported as one message, not a traceback."""


def is_loopback(host: str) -> bool:
    """Whether the KFP endpoint ``host`` (a URL) names this machine: localhost or a loopback address."""
    from urllib.parse import urlsplit

    name = (urlsplit(host if "://" in host else f"http://{host}").hostname or "").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_transport(host: str, token: str | None, ssl_ca_cert: str | Path | None) -> None:
    """Refuse what would leak or hang: a bearer token over plain HTTP to another machine, a CA file that is
    not there, a host without a scheme."""
    if "://" not in host:
        raise ConfigError(f"KFP host {host!r} has no scheme: write https://{host} (or http:// for a loopback port-forward)")
    scheme = host.split("://", 1)[0].lower()
    if token and scheme != "https" and not is_loopback(host):
        raise ConfigError(f"refusing to send the bearer token over plain HTTP to {redact_uri(host)}: use https:// "
                          "(add --ssl-ca-cert for a private CA), or reach the API through a loopback port-forward")
    if ssl_ca_cert is not None and not Path(ssl_ca_cert).is_file():
        raise ConfigError(f"--ssl-ca-cert {ssl_ca_cert}: no such file")


@contextlib.contextmanager
def request_timeout(timeout: float) -> Iterator[None]:
    """While active, every KFP API request (kfp_server_api's REST client, used by kfp.Client from its
    constructor's health check on) gets a (connect, read) timeout. kfp.Client sets none and offers no
    setting, so an endpoint that accepts and never answers would block the command for ever."""
    from kfp_server_api import rest

    original = rest.RESTClientObject.request
    pair = (min(CONNECT_TIMEOUT_S, timeout), timeout)

    def timed(self: Any, *args: Any, _request_timeout: Any = None, **kwargs: Any) -> Any:
        return original(self, *args, _request_timeout=_request_timeout or pair, **kwargs)

    rest.RESTClientObject.request = timed
    try:
        yield
    finally:
        rest.RESTClientObject.request = original


def _version_name(package: Path) -> str:
    digest = hashlib.sha256(package.read_bytes()).hexdigest()[:10]
    return f"{datetime.datetime.now(datetime.timezone.utc):%Y%m%d-%H%M%S}-{digest}"


def submit(build: PipelineBuilder, host: str, *, params_path: str | Path = "params.yaml", profile: str | None = None,
           variants: Iterable[str] | None = None, experiment: str = "mtst", run_name: str | None = None,
           pipeline_name: str | None = None, version: str | None = None, namespace: str | None = None,
           token: str | None = None, image: str | None = None, package: str | Path | None = None,
           service_account: str | None = None, enable_caching: bool | None = None,
           accelerator_type: str | None = None, accelerator_count: int | None = None,
           train_nproc: int | None = None, checkpoint_pvc: str | None = None,
           verify_ssl: bool | None = None, ssl_ca_cert: str | Path | None = None,
           timeout: float = DEFAULT_TIMEOUT_S) -> dict[str, Any]:
    """Submit one run of the pipeline ``build`` makes; return its ids, the package submitted and the arguments it ran with.
    ``checkpoint_pvc``: the claim training tasks mount for checkpoints that a retried task resumes from."""
    import kfp

    check_transport(host, token, ssl_ca_cert)
    overrides = {"accelerator_type": accelerator_type, "accelerator_count": accelerator_count,
                 "train_nproc": train_nproc, "checkpoint_pvc": checkpoint_pvc}
    if package:
        package = Path(package)
        compile_pipeline(build, package, params_path=params_path, profile=profile, variants=variants, image=image,
                         **overrides)
    else:
        package, _ = compile_to_temp(build, params_path=params_path, profile=profile, variants=variants, image=image,
                                     **overrides)
    arguments = redacted(pipeline_arguments(params_path, profile, variants, **overrides))
    run_name = run_name or f"{settings.PIPELINE_NAME} {profile or 'params.yaml'} " \
                           f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M:%S}"
    result: dict[str, Any] = {"host": redact_uri(host), "package": str(package), "experiment": experiment,
                              "run_name": run_name, "arguments": arguments}
    client_kwargs: dict[str, Any] = {"host": host, "existing_token": token, "verify_ssl": verify_ssl,
                                     "ssl_ca_cert": str(ssl_ca_cert) if ssl_ca_cert else None}
    if namespace:
        client_kwargs["namespace"] = namespace
    with contextlib.redirect_stdout(sys.stderr), request_timeout(timeout):
        with warnings.catch_warnings():  # "only works with KFP v2.0.0-beta.2 and later": v2beta1 is what we use
            warnings.filterwarnings("ignore", message="This client only works", category=FutureWarning)
            client = kfp.Client(**client_kwargs)
        exp = client.create_experiment(name=experiment, namespace=namespace)
        result["experiment_id"] = exp.experiment_id
        run_kwargs: dict[str, Any] = {"experiment_id": exp.experiment_id, "job_name": run_name, "params": arguments,
                                      "enable_caching": enable_caching, "service_account": service_account}
        if pipeline_name:
            pipeline_id, version_id, version_name = _upload(client, package, pipeline_name, version, namespace)
            result.update(pipeline_id=pipeline_id, version_id=version_id, version=version_name)
            run = client.run_pipeline(pipeline_id=pipeline_id, version_id=version_id, **run_kwargs)
        else:
            run = client.run_pipeline(pipeline_package_path=str(package), **run_kwargs)
    result["run_id"] = run.run_id
    result["run_url"] = f"{redact_uri(host).rstrip('/')}/#/runs/details/{run.run_id}"
    return result


def _upload(client: Any, package: Path, pipeline_name: str, version: str | None,
            namespace: str | None) -> tuple[str, str, str]:
    """Upload ``package`` as pipeline ``pipeline_name`` (new) or as a new version of it (existing)."""
    pipeline_id = client.get_pipeline_id(pipeline_name)
    if pipeline_id is None:
        pipeline = client.upload_pipeline(str(package), pipeline_name=pipeline_name,
                                          description=settings.PIPELINE_DESCRIPTION, namespace=namespace)
        pipeline_id = pipeline.pipeline_id
        if version is None:  # the upload created the first version; run that one
            versions = client.list_pipeline_versions(pipeline_id, sort_by="created_at desc", page_size=1)
            first = versions.pipeline_versions[0]
            return pipeline_id, first.pipeline_version_id, first.display_name
    name = version or _version_name(package)
    created = client.upload_pipeline_version(str(package), pipeline_version_name=name, pipeline_id=pipeline_id,
                                             description=settings.PIPELINE_DESCRIPTION)
    return pipeline_id, created.pipeline_version_id, created.display_name
