"""The MLflow tag names mtst writes and searches by, defined once: runs (``mtst.tracking``), registered model
versions (``mtst.registry``), the learning curve's runs and the comparison's parent-run tags share several, and
a search by a misspelt tag finds nothing instead of failing. Every ``mtst.*`` tag is a constant here; the
modules that write or read one import it."""

# ---- what a run is, and where it sits in the pipeline run's layout
ROLE = "mtst.role"                          # what a run is: pipeline, variant, stage, learning_curve_point, ...
VARIANT = "mtst.variant"
STAGE = "mtst.stage"
STAGE_INDEX = "mtst.stage_index"            # a stage run's position in its variant's stages
PIPELINE_ID = "mtst.pipeline_id"            # a parent run's pipeline identity (how separate steps find it)

# ---- what a run used and produced
RECIPE = "mtst.recipe"                      # a variant's recipe without the seed
TEST_DATA_HASH = "mtst.test_data_hash"      # the digest of the test rows the metrics were computed on
DATA_HASH = "mtst.data_hash"
GIT_COMMIT = "mtst.git_commit"
STAGES = "mtst.stages"                      # a variant run's stage names, comma-separated
TASKS = "mtst.tasks"                        # a variant run's heads, comma-separated
AUGMENTED = "mtst.augmented"                # whether the variant trained on the augmented Task B split
INPUTS_MISSING = "mtst.inputs_missing"      # split files a run could not log as dataset inputs
MODEL_URI = "mtst.model_uri"                # the pyfunc a variant run logged


def model_uri_for(backend: str) -> str:
    """The tag of the pyfunc a variant run logged for ``backend`` when that is not the one it was evaluated
    with (``mtst.model_uri.<backend>``)."""
    return f"{MODEL_URI}.{backend}"


# ---- the parent run: validation and comparison
VALIDATION_SUCCESS = "mtst.validation_success"
CHAMPION_VARIANT = "mtst.champion_variant"
DECISION = "mtst.decision"                  # multi-task vs two single-task models
SERVING_BACKEND = "mtst.serving_backend"

# ---- the registry gate (on registered versions and the parent run)
RUN_ID = "mtst.run_id"
SELECTION_METRIC = "mtst.selection_metric"
SELECTION_VALUE = "mtst.selection_value"
REGISTRY_DECISION = "mtst.registry_decision"
REGISTRY_REASON = "mtst.registry_reason"
REGISTRY_CANDIDATE_VERSION = "mtst.registry_candidate_version"
REGISTRY_CHAMPION_VERSION = "mtst.registry_champion_version"
REGISTRY_CHAMPION_VARIANT = "mtst.registry_champion_variant"
REGISTRY_CHAMPION_URI = "mtst.registry_champion_uri"
REGISTRY_FORCED = "mtst.registry_forced"
REGISTRY_PREVIOUS_VERSION = "mtst.registry_previous_version"
BACKEND = "mtst.backend"                    # what serves a registered version (mtst.export.backend)
MODEL_DIGEST = "mtst.model_digest"          # sha256 of a registered version's artifact tree (mtst.model_digest)
