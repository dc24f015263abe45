"""Kubeflow Pipelines components: one per DAG node, each a thin wrapper over ``mtst.steps.<step>.run``.

Wiring only. A component body validates the params sections it received (``mtst.kfp.sections``: those its
DAG stages read), calls its step with the artifact paths KFP hands it, and publishes the
results on typed artifacts (``mtst.kfp.publish``). All of them run in one image (built from ``infra/``),
which has mtst and its locked dependencies installed: nothing is pip-installed at run time. The image
named here is a default: ``mtst kfp compile --image`` / ``$MTST_KFP_IMAGE`` rewrite every executor's image
in the compiled spec (``mtst.kfp.pipeline.with_image``).

``components`` and ``pipelines`` are packages of the mtst distribution (pyproject.toml), so they import
like any installed package.
"""

from mtst.kfp.settings import DEFAULT_IMAGE

COMPONENT_OPTIONS = {"base_image": DEFAULT_IMAGE, "install_kfp_package": False, "packages_to_install": []}

from components.data import data  # noqa: E402
from components.validate import validate  # noqa: E402
from components.augment import augment  # noqa: E402
from components.train import collect_init_models, train  # noqa: E402
from components.evaluate import evaluate  # noqa: E402
from components.compare import compare  # noqa: E402

__all__ = ["COMPONENT_OPTIONS", "augment", "collect_init_models", "compare", "data", "evaluate", "train", "validate"]
