"""MLflow "models from code" entry point: ``mlflow.pyfunc.log_model(python_model=<this file>)`` stores this
file instead of a pickle; loading it builds ``MtstPyfunc``, which reads the saved model artifact."""

from mlflow.models import set_model

from mtst.serving import MtstPyfunc

set_model(MtstPyfunc())
