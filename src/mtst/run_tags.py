"""The MLflow tag names mtst writes and searches by, defined once: runs (``mtst.tracking``), registered model
versions (``mtst.registry``), the learning curve's runs and the comparison's parent-run tags share several, and
a search by a misspelt tag finds nothing instead of failing."""

ROLE = "mtst.role"                          # what a run is: pipeline, variant, stage, learning_curve_point, ...
VARIANT = "mtst.variant"
STAGE = "mtst.stage"
PIPELINE_ID = "mtst.pipeline_id"
RECIPE = "mtst.recipe"                      # a variant's recipe without the seed
TEST_DATA_HASH = "mtst.test_data_hash"      # the digest of the test rows the metrics were computed on
DATA_HASH = "mtst.data_hash"
GIT_COMMIT = "mtst.git_commit"
RUN_ID = "mtst.run_id"
SELECTION_METRIC = "mtst.selection_metric"
SELECTION_VALUE = "mtst.selection_value"
REGISTRY_DECISION = "mtst.registry_decision"
REGISTRY_REASON = "mtst.registry_reason"
BACKEND = "mtst.backend"                    # what serves a registered version (mtst.export.backend)
