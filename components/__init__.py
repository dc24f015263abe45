"""Kubeflow Pipelines components: one per DAG node, each a thin wrapper over ``mtst.steps.<step>.run``.

Wiring only. A component body imports its step, calls ``run(...)`` with the artifact paths KFP hands it,
and publishes the results on typed artifacts with ``mtst.kfp.tasks``. All of them run in one image (built
from ``infra/``; the setting is ``MTST_KFP_IMAGE`` or ``mtst kfp compile --image``), which has mtst and its
locked dependencies installed: nothing is pip-installed at run time.

These modules are imported by ``mtst.kfp`` from the repository checkout (it puts the repository root on
``sys.path``); the image itself only needs the ``mtst`` package.
"""

from mtst.kfp.settings import component_image

COMPONENT_OPTIONS = {"base_image": component_image(), "install_kfp_package": False, "packages_to_install": []}

from components.data import data  # noqa: E402
from components.validate import validate  # noqa: E402
from components.augment import augment  # noqa: E402
from components.train import collect_init_models, train  # noqa: E402
from components.evaluate import evaluate  # noqa: E402
from components.compare import compare  # noqa: E402

__all__ = ["COMPONENT_OPTIONS", "augment", "collect_init_models", "compare", "data", "evaluate", "train", "validate"]
