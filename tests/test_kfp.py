"""The Kubeflow pipeline: the compiled YAML's DAG (real kfp compiler), the component helpers, and `mtst kfp
submit` against a local HTTP server that checks every request against the KFP v2beta1 API (no KFP backend
can run here: it needs a Kubernetes cluster)."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from typer.testing import CliRunner

from mtst import dag
from mtst.cli import app
from mtst.config import ConfigError, load_params, read_params_dict
from mtst.kfp import artifacts, checkpoints, launch, publish, sections, settings
from mtst.kfp.arguments import pipeline_arguments
from mtst.kfp.pipeline import compile_pipeline
from mtst.plan import pipeline_plan
from pipelines.multitask_pipeline import build_pipeline

sys.path.insert(0, str(Path(__file__).parent))
from kfp_api_server import KfpApiServer  # noqa: E402

runner = CliRunner()
SECRET_VALUES = {"MLFLOW_TRACKING_PASSWORD": "s3cr3t-tracking-pw", "MLFLOW_TRACKING_USERNAME": "tracking-user-xyz",
                 "AWS_SECRET_ACCESS_KEY": "aws-secret-key-xyz", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEYXYZ",
                 "MLFLOW_TRACKING_URI": "http://user:pw-in-uri@mlflow.example:5000", "MTST_KFP_TOKEN": "bearer-xyz"}


def load_package(path: Path) -> tuple[dict, dict]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs[0], (docs[1] if len(docs) > 1 else {})


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, repo_root) -> tuple[Path, dict, dict, dict]:
    mp = pytest.MonkeyPatch()
    for key, value in SECRET_VALUES.items():  # credentials in the environment must not leak into the YAML
        mp.setenv(key, value)
    out = tmp_path_factory.mktemp("kfp") / "pipeline.yaml"
    try:
        info = compile_pipeline(build_pipeline, out, params_path=repo_root / "params.yaml")
    finally:
        mp.undo()
    spec, platform = load_package(out)
    return out, spec, platform, info


def test_compiled_dag(compiled, repo_root):
    _, spec, _, info = compiled
    root = spec["root"]["dag"]["tasks"]
    assert set(root) == {"data", "validate", "augment", "validate-2", "for-loop-1", "collect-init-models", "for-loop-2",
                         "compare"}
    deps = {name: set(task.get("dependentTasks", [])) for name, task in root.items()}
    assert deps["data"] == set()
    assert deps["validate"] == {"data"}
    assert deps["augment"] == {"data", "validate"}  # validate -> augment
    assert deps["validate-2"] == {"data", "augment"}  # the augmented split is validated too (dvc.yaml)
    assert root["validate-2"]["taskInfo"]["name"] == "validate-augmented"
    assert {"augment", "data", "validate-2"} <= deps["for-loop-1"]
    assert deps["collect-init-models"] == {"for-loop-1"}
    assert {"augment", "collect-init-models"} <= deps["for-loop-2"]
    assert deps["compare"] == {"for-loop-1", "for-loop-2"}

    # the fan-out: one ParallelFor per wave, over the pipeline parameters
    assert root["for-loop-1"]["parameterIterator"]["items"]["inputParameter"] == "pipelinechannel--variants"
    assert root["for-loop-2"]["parameterIterator"]["items"]["inputParameter"] == "pipelinechannel--followup_variants"
    for loop, (train, evaluate) in {"for-loop-1": ("train", "evaluate"), "for-loop-2": ("train-2", "evaluate-2")}.items():
        body = spec["components"][f"comp-{loop}"]["dag"]["tasks"]
        assert set(body) == {train, evaluate}
        assert body[evaluate]["dependentTasks"] == [train]
        assert body[train]["retryPolicy"]["maxRetryCount"] == settings.TRAIN_RETRIES
        assert not body[train]["cachingOptions"].get("enableCache")  # training is never served from cache
        assert body[evaluate]["cachingOptions"]["enableCache"] is True
        # the accelerator parameters reach the loop's sub-DAG (kfp 2.17 needs register_pipeline_channels)
        params = spec["components"][f"comp-{loop}"]["inputDefinitions"]["parameters"]
        assert {"pipelinechannel--accelerator_type", "pipelinechannel--accelerator_count",
                "pipelinechannel--train_nproc"} <= set(params)
        # train_nproc: pipeline parameter -> the loop's sub-DAG -> the training task's ``nproc`` input
        assert root[loop]["inputs"]["parameters"]["pipelinechannel--train_nproc"] == {"componentInputParameter": "train_nproc"}
        assert body[train]["inputs"]["parameters"]["nproc"] == {"componentInputParameter": "pipelinechannel--train_nproc"}
        assert "nproc" not in body[evaluate]["inputs"]["parameters"]
        # checkpoints a retry finds: keyed by the KFP run id (and the variant, in the task); no claim compiled
        train_inputs = body[train]["inputs"]["parameters"]
        assert train_inputs["checkpoint_root"] == {"runtimeValue": {"constant": "{{$.pipeline_root}}/.checkpoints"}}
        assert train_inputs["pipeline_run_id"] == {"runtimeValue": {"constant": "{{$.pipeline_job_uuid}}"}}
    # dsl.Collected: the loops' outputs reach compare (and the init-model gathering) as artifact lists
    compare_inputs = spec["components"]["comp-compare"]["inputDefinitions"]["artifacts"]
    assert compare_inputs["evaluations"]["isArtifactList"] and compare_inputs["followup_evaluations"]["isArtifactList"]
    assert root["compare"]["inputs"]["artifacts"]["evaluations"]["taskOutputArtifact"]["producerTask"] == "for-loop-1"
    assert spec["components"]["comp-collect-init-models"]["inputDefinitions"]["artifacts"]["models"]["isArtifactList"]
    for name in ("data", "validate", "augment", "validate-2", "compare"):
        assert root[name]["cachingOptions"]["enableCache"] is True

    # parameter defaults are the params (same values as the DVC path): each component gets only its sections,
    # like its DVC stage; the variants are params.yaml's pipeline key, in two waves (mtst.plan)
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    params = read_params_dict(repo_root / "params.yaml")
    for component in sections.COMPONENT_STAGES:
        names = sections.component_sections(component)
        assert inputs[f"{component}_params"]["parameterType"] == "STRUCT"
        assert sections.plain(inputs[f"{component}_params"]["defaultValue"]) == {n: params[n] for n in names}
        spec_inputs = spec["components"][f"comp-{component}"]["inputDefinitions"]["parameters"]
        assert [name for name in spec_inputs if name.endswith("_params")] == [f"{component}_params"]
    assert "params_json" not in inputs
    plan = pipeline_plan(load_params(repo_root / "params.yaml"))
    assert inputs["variants"]["defaultValue"] == plan.variants == params["pipeline"]["variants"] == info["variants"]
    assert inputs["followup_variants"]["defaultValue"] == info["followup_variants"] == \
        [{"variant": "head_a_frozen", "init_from": "staged"}]
    assert plan.all == ["frozen", "full", "staged", "head_a_frozen", "single_a", "single_b"]  # what dvc.yaml trains
    assert inputs["accelerator_type"]["defaultValue"] == "nvidia.com/gpu"
    assert inputs["train_nproc"] == {"defaultValue": 1.0, "isOptional": True, "parameterType": "NUMBER_INTEGER"}
    assert "checkpoint_pvc" not in inputs and info["checkpoint_pvc"] is None
    assert spec["components"]["comp-train"]["inputDefinitions"]["parameters"]["nproc"]["parameterType"] == "NUMBER_INTEGER"


def _task_graph(spec: dict) -> tuple[dict[str, dict], list[tuple[list[str], list[str]]]]:
    """The compiled pipeline's component tasks by display name (loop bodies included), and its dependency edges
    as (the tasks waited for, the tasks waiting): a loop waits, and is waited for, as all of its tasks."""
    root = spec["root"]["dag"]["tasks"]
    body = {name: spec["components"][task["componentRef"]["name"]]["dag"]["tasks"]
            for name, task in root.items() if "parameterIterator" in task}
    tasks = {task["taskInfo"]["name"]: task for scope in (root, *body.values()) for name, task in scope.items()
             if name not in body}

    def members(scope: dict, name: str) -> list[str]:
        loop = body.get(name) if scope is root else None
        return [t["taskInfo"]["name"] for t in loop.values()] if loop else [scope[name]["taskInfo"]["name"]]

    edges = [(members(scope, upstream), members(scope, name)) for scope in (root, *body.values())
             for name, task in scope.items() for upstream in task.get("dependentTasks", [])]
    return tasks, edges


def test_compiled_tasks_follow_the_dag_declaration(compiled):
    """Every stage of mtst.dag has its component's task, and the task graph is the DAG's: a task runs after the
    tasks that write what its stage reads (its deps among the other stages' outs), and waits for nothing else
    (between the waves, the gathering of the first wave's models stands for the follow-ups' source models)."""
    _, spec, _, _ = compiled
    tasks, edges = _task_graph(spec)
    component = {stage: c for c, stages in sections.COMPONENT_STAGES.items() for stage in stages}
    assert sorted(component) == sorted(s.name for s in dag.STAGES)  # each stage: one component
    assert set(settings.RESOURCES) == set(sections.COMPONENT_STAGES)
    # a stage's task: the one its component runs for it alone (named for the stage), else its component's only one
    task_of = {s.name: s.name.replace("_", "-") if s.name.replace("_", "-") in tasks else component[s.name]
               for s in dag.STAGES}
    for stage, task in task_of.items():
        assert tasks[task]["componentRef"]["name"].startswith(f"comp-{component[stage]}"), (stage, task)
    assert set(tasks) - set(task_of.values()) == {"collect-init-models"}

    # the first wave's variant "s" is the source of the follow-up "f"
    names = {"variants": ("s", None), "followups": ("f", "s"), None: (None, None)}
    def paths(stage: dag.Stage, kinds: tuple[str, ...]) -> list[str]:
        return [p for kind in kinds for p in stage.paths(kind, *names[stage.foreach])]

    writers = {path: s.name for s in dag.STAGES for path in paths(s, ("outs", "metrics", "uncached_outs"))}
    expected = {(task_of[writers[out]], task_of[s.name]) for s in dag.STAGES for dep in paths(s, ("deps",))
                for out in writers if out == dep or out.startswith(f"{dep}/")}
    expected = {(a, b) for a, b in expected if a != b}  # fetch -> prepare: within the data task
    expected.remove(("train", "train-followup"))  # through the gathering task
    expected |= {("train", "collect-init-models"), ("collect-init-models", "train-followup")}

    waits = {task: set() for task in tasks}
    for upstream, downstream in edges:
        for task in downstream:
            waits[task].update(upstream)
    def runs_after(task: str) -> set[str]:
        found, todo = set(), list(waits[task])
        while todo:
            if (name := todo.pop()) not in found:
                found.add(name)
                todo += waits[name]
        return found

    for before, after in sorted(expected):
        assert before in runs_after(after), f"{after} may run before {before}, whose output it reads"
    for upstream, downstream in edges:
        assert any((a, b) in expected for a in upstream for b in downstream), \
            f"{downstream} waits for {upstream}, which writes nothing it reads"


def test_compiled_resources_accelerators_and_artifact_types(compiled):
    _, spec, platform, _ = compiled
    executors = spec["deploymentSpec"]["executors"]
    assert {e["container"]["image"] for e in executors.values()} == {settings.component_image()}
    for label in ("exec-train", "exec-train-2"):
        res = executors[label]["container"]["resources"]
        assert res["accelerator"] == {"resourceType": "{{$.inputs.parameters['pipelinechannel--accelerator_type']}}",
                                      "resourceCount": "{{$.inputs.parameters['pipelinechannel--accelerator_count']}}"}
        assert res["resourceCpuRequest"] == settings.RESOURCES["train"]["cpu"]
        assert res["resourceMemoryLimit"] == settings.RESOURCES["train"]["memory_limit"]
        tolerations = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][label]["tolerations"]
        assert tolerations == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        assert "pvcMount" not in platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][label]
    for label, executor in executors.items():
        res = executor["container"]["resources"]
        assert res["resourceCpuRequest"] and res["resourceMemoryRequest"] and res["resourceMemoryLimit"], label
        command = " ".join(executor["container"]["command"])
        assert "pip install" not in command  # everything is in the image
    outputs = {name: {k: v["artifactType"]["schemaTitle"] for k, v in c.get("outputDefinitions", {}).get("artifacts", {}).items()}
               for name, c in spec["components"].items()}
    assert outputs["comp-data"] == {"dataset": "system.Dataset", "splits": "system.Dataset", "metrics": "system.Metrics"}
    assert outputs["comp-validate"]["data_docs"] == "system.HTML"
    assert outputs["comp-augment"]["augmented"] == "system.Dataset"
    assert outputs["comp-train"]["model"] == "system.Model"
    assert outputs["comp-evaluate"]["task_a_confusion"] == outputs["comp-evaluate"]["task_b_confusion"] == "system.ClassificationMetrics"
    assert outputs["comp-evaluate"]["metrics"] == "system.Metrics"
    assert outputs["comp-compare"]["comparison"] == "system.Markdown"
    # each component's code calls its step
    for component, step in [("data", "fetch"), ("data", "prepare"), ("validate", "validate"), ("augment", "augment"),
                            ("evaluate", "evaluate"), ("compare", "compare")]:
        code = " ".join(executors[f"exec-{component}"]["container"]["command"])
        assert re.search(rf"from mtst\.steps import [\w, ]*\b{step}\b", code) and ".run(" in code
    # train calls its step through the library (in this process, or N processes under torchrun)
    for label in ("exec-train", "exec-train-2"):
        code = " ".join(executors[label]["container"]["command"])
        assert "launch.train_variant(" in code and "nproc=nproc" in code


def test_compiled_yaml_carries_no_credentials(compiled):
    path, spec, platform, _ = compiled
    text = path.read_text()
    for value in SECRET_VALUES.values():
        assert value not in text
    for executor in spec["deploymentSpec"]["executors"].values():
        assert "env" not in executor["container"]  # nothing set as a literal environment variable
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(k8s) == set(spec["deploymentSpec"]["executors"])  # every task gets the MLflow settings
    for executor in k8s.values():
        (cm,) = executor["configMapAsEnv"]
        assert cm["configMapName"] == settings.MLFLOW_CONFIG_MAP and not cm.get("optional")
        assert {m["envVar"] for m in cm["keyToEnv"]} == {"MLFLOW_TRACKING_URI"}
        (secret,) = executor["secretAsEnv"]
        assert secret["secretName"] == settings.MLFLOW_SECRET and secret["optional"] is True
        assert {m["envVar"] for m in secret["keyToEnv"]} == set(settings.MLFLOW_SECRET_KEYS)
    # the pipeline spec parses as KFP's protobuf (what the backend does on upload)
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())


def test_cli_compile_image_variants_and_profile(tmp_path, repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    out = tmp_path / "p.yaml"
    result = runner.invoke(app, ["kfp", "compile", "--out", str(out), "--image", "registry.example/mtst:9-cpu",
                                 "--variant", "frozen", "--profile", "smoke", "--accelerator-count", "0",
                                 "--train-nproc", "2"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["variants"] == ["frozen"] and info["followup_variants"] == []
    spec, _ = load_package(out)
    assert {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()} == {"registry.example/mtst:9-cpu"}
    root = spec["root"]["dag"]["tasks"]
    assert set(root) == {"data", "validate", "augment", "validate-2", "for-loop-1", "compare"}  # no follow-up wave
    assert root["compare"]["dependentTasks"] == ["for-loop-1"]
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    smoke = read_params_dict("params.yaml", "smoke")
    assert sections.plain(inputs["train_params"]["defaultValue"]) == {"model": smoke["model"], "train": smoke["train"]}
    assert inputs["compare_params"]["defaultValue"]["pipeline"] == {"variants": ["frozen"], "followups": {}}
    assert inputs["accelerator_count"]["defaultValue"] == 0
    assert inputs["train_nproc"]["defaultValue"] == 2
    zero = runner.invoke(app, ["kfp", "compile", "--out", str(out), "--train-nproc", "0"])
    assert zero.exit_code == 2 and "--train-nproc" in zero.output

    # a follow-up variant brings in the variant it starts from
    assert pipeline_arguments("params.yaml", variants=["head_a_frozen"])["variants"] == ["staged"]
    bad = runner.invoke(app, ["kfp", "compile", "--out", str(out), "--variant", "nope"])
    assert bad.exit_code == 2 and "unknown variant" in bad.output


def test_compile_with_checkpoint_claim(tmp_path, repo_root):
    """--checkpoint-pvc: a pipeline parameter names the claim, both waves' training tasks mount it (kfp-kubernetes)
    and keep their checkpoints on it; nothing else mounts it. A bad claim name stops before compiling."""
    out = tmp_path / "pvc.yaml"
    info = compile_pipeline(build_pipeline, out, params_path=repo_root / "params.yaml", checkpoint_pvc="mtst-checkpoints")
    assert info["checkpoint_pvc"] == "mtst-checkpoints"
    spec, platform = load_package(out)
    inputs = spec["root"]["inputDefinitions"]["parameters"]
    assert inputs["checkpoint_pvc"] == {"defaultValue": "mtst-checkpoints", "isOptional": True,
                                        "parameterType": "STRING"}
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for loop, train in (("for-loop-1", "train"), ("for-loop-2", "train-2")):
        assert spec["root"]["dag"]["tasks"][loop]["inputs"]["parameters"]["pipelinechannel--checkpoint_pvc"] == \
            {"componentInputParameter": "checkpoint_pvc"}
        body = spec["components"][f"comp-{loop}"]["dag"]["tasks"][train]
        assert body["inputs"]["parameters"]["checkpoint_root"] == \
            {"runtimeValue": {"constant": settings.CHECKPOINT_MOUNT_PATH}}
        (mount,) = executors[f"exec-{train}"]["pvcMount"]
        assert mount["mountPath"] == settings.CHECKPOINT_MOUNT_PATH
        assert mount["pvcNameParameter"] == {"componentInputParameter": "pipelinechannel--checkpoint_pvc"}
    assert [label for label, executor in executors.items() if "pvcMount" in executor] == ["exec-train", "exec-train-2"]
    json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())

    for bad in ("Mtst_Checkpoints", "-x", "a" * 254):
        with pytest.raises(ValueError, match="not a PersistentVolumeClaim name"):
            compile_pipeline(build_pipeline, tmp_path / "bad.yaml", params_path=repo_root / "params.yaml", checkpoint_pvc=bad)
    assert not (tmp_path / "bad.yaml").exists()
    assert "checkpoint_pvc" not in pipeline_arguments(repo_root / "params.yaml", checkpoint_pvc="")  # "": no claim


def test_plan_validation_names_the_key(tmp_path, repo_root):
    """A pipeline variant that train.variants lacks, a follow-up whose source is not in the first wave, or
    init_from written in a variant as well: a ConfigError naming params.yaml and the key."""
    raw = read_params_dict(repo_root / "params.yaml")
    cases = [({"variants": ["frozen", "nope"]}, "pipeline.variants"),
             ({"followups": {"head_a_frozen": "single_x"}}, "pipeline.followups"),
             ({"followups": {"head_a_frozen": "staged_noaug"}}, "pipeline.followups.head_a_frozen"),
             ({"followups": {"nope": "staged"}}, "pipeline.followups")]
    for change, key in cases:
        bad = {**raw, "pipeline": {**raw["pipeline"], **change}}
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(bad))
        with pytest.raises(ConfigError, match=rf"params.yaml.*{re.escape(key)}"):
            load_params(tmp_path / "params.yaml")
    twice = yaml.safe_load(yaml.safe_dump(raw))
    twice["train"]["variants"]["full"]["init_from"] = "staged"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(twice))
    with pytest.raises(ConfigError, match=r"train.variants.full.init_from.*pipeline.followups"):
        load_params(tmp_path / "params.yaml")
    # a follow-up's init_from comes from pipeline.followups, and a selection pulls in its source
    params = load_params(repo_root / "params.yaml")
    assert params.train.variants["head_a_frozen"].init_from == "staged"
    assert pipeline_plan(params, ["head_a_frozen", "frozen"]).variants == ["frozen", "staged"]


def test_sections_keep_other_tasks_cache_keys(repo_root):
    """A learning-rate change alters only the train task's argument (kfp's cache key is the task's inputs)."""
    before = pipeline_arguments(repo_root / "params.yaml")
    raw = read_params_dict(repo_root / "params.yaml")
    raw["train"]["variants"]["frozen"]["stages"][0]["lr_head"] = 0.02
    after = sections.section_arguments(raw)
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {"train_params"}
    with pytest.raises(ConfigError, match="sections \\['model'\\] are not the data task's"):
        sections.parse("data", {"model": {}})
    with pytest.raises(ConfigError, match="train_params must be a mapping"):
        sections.parse("train", '{"model": {}}')
    with pytest.raises(ConfigError, match="(?s)pipeline parameter data_params: .*test_limit"):
        sections.parse("data", {"prepare": {"test_limit": "many"}})
    params = sections.parse("train", before["train_params"], {"head_a_frozen": "staged"})
    assert params.train.variants["head_a_frozen"].init_from == "staged"


def test_sections_survive_kfps_parameter_values(repo_root):
    """What a task receives went through kfp's protobuf values (no null; every number a double): it validates
    to the same params as the profile read directly, nulls (the full profile's limits) included."""
    from google.protobuf import json_format
    from kfp.compiler.pipeline_spec_builder import to_protobuf_value

    from mtst.config import Params

    for profile in (None, "smoke", "full"):
        raw = read_params_dict(repo_root / "params.yaml", profile)
        for name, sent in sections.section_arguments(raw).items():
            component = name.removesuffix("_params")
            received = json_format.MessageToDict(to_protobuf_value(sent))  # raises on a None
            expected = {s: raw[s] for s in sections.component_sections(component) if s in raw}
            assert sections.plain(received) == expected, (profile, name)
            assert sections.parse(component, received) == Params.model_validate(expected), (profile, name)
    assert sections.section_arguments(read_params_dict(repo_root / "params.yaml", "full"))["data_params"][
        "prepare"]["test_limit"] == sections.NULL


# --- the helpers the components call inside the image ----------------------------------------------------------

class FakeArtifact:
    """Stands in for kfp.dsl artifacts' path/metadata/log_* surface (the real ones run in test_kfp_local)."""

    def __init__(self, path: Path | str = "", metadata: dict | None = None):
        self.path, self.metadata, self.logged = str(path), dict(metadata or {}), {}

    def log_metric(self, name, value):
        self.logged[name] = value

    def log_confusion_matrix(self, categories, matrix):
        self.logged["confusion"] = (categories, matrix)


def test_task_helpers(tmp_path):
    metrics = FakeArtifact()
    logged = publish.log_metrics(metrics, {"task_a.macro_f1": 0.5, "nested": {"n": 3, "s": "x", "b": True}, "l": [1]})
    assert logged == metrics.logged == {"task_a.macro_f1": 0.5, "nested.n": 3.0}

    ev = tmp_path / "eval"
    (ev / "plots").mkdir(parents=True)
    # report.json as mtst evaluate writes it; a task the variant does not serve has no matrix
    (ev / "report.json").write_text(json.dumps({"tasks": {"task_a": {"confusion": {"labels": ["x", "y"], "matrix": [[3, 1], [0, 4]]}}}}))
    a, b = FakeArtifact(), FakeArtifact()
    assert publish.log_confusion_matrices(ev, {"task_a": a, "task_b": b}) == ["task_a"]
    assert a.logged["confusion"] == (["x", "y"], [[3, 1], [0, 4]]) and b.logged == {}

    docs = tmp_path / "docs"
    (docs / "validations" / "a").mkdir(parents=True)
    (docs / "index.html").write_text("<html>index</html>")
    (docs / "validations" / "a" / "1.html").write_text("<html><b>one & only</b></html>")
    (docs / "validations" / "a" / "2.html").write_text("<html>two</html>")
    page = tmp_path / "out.html"
    assert len(publish.publish_html(docs, page)) == 2
    text = page.read_text()
    assert text.count("<iframe") == 2 and "&lt;b&gt;one &amp; only" in text

    e1, e2 = tmp_path / "e1", tmp_path / "e2"
    e1.mkdir(), e2.mkdir()
    staged = artifacts.stage_by_variant([FakeArtifact(e1, {"variant": "frozen"}), FakeArtifact(e2, {"variant": "full"})],
                                          tmp_path / "stage")
    assert [p.name for p in staged] == ["frozen", "full"] and staged[0].resolve() == e1.resolve()

    # follow-ups' models: the collected first-wave model a follow-up starts from, at <source>/model
    for name in ("staged", "frozen"):
        (tmp_path / "train" / name / "model").mkdir(parents=True)
        (tmp_path / "train" / name / "model" / "mtst.json").write_text(name)
    models = [FakeArtifact(tmp_path / "train" / n, {"variant": n}) for n in ("frozen", "staged")]
    init = tmp_path / "init"
    assert artifacts.collect_init_models([{"variant": "head_a_frozen", "init_from": "staged"}], models, init) == ["staged"]
    assert artifacts.init_model_dir("head_a_frozen", "staged", FakeArtifact(init)) == init / "staged" / "model"
    assert artifacts.init_model_dir("frozen", "", None) is None and not (init / "frozen").exists()


# --- checkpoints that a retried training task finds (the kill-and-retry run is tests/test_kfp_retry.py) ----

def test_task_checkpoints_layout_fallback_and_release(tmp_path, capsys):
    from mtst.training.checkpoint import HISTORY, STATE

    root = tmp_path / "root"
    first = checkpoints.task_checkpoints(str(root), "6f1c-42", "staged")
    assert first == checkpoints.TaskCheckpoints(root / "6f1c-42" / "staged", True, 0) and first.folder.is_dir()
    assert first.path == root / "6f1c-42" / "staged" / "checkpoints"
    assert "kept for a retry of this task" in capsys.readouterr().out
    # an earlier attempt's complete checkpoint (state + one history record per step): the retry resumes from it
    first.path.mkdir()
    (first.path / HISTORY).write_text("".join(json.dumps({"step": i}) + "\n" for i in range(7)))
    assert checkpoints.task_checkpoints(str(root), "6f1c-42", "staged").resume_step == 0  # no state file: incomplete
    (first.path / STATE).write_bytes(b"state")
    retry = checkpoints.task_checkpoints(str(root), "6f1c-42", "staged")
    assert retry == dataclasses.replace(first, resume_step=7)
    assert "resuming from step 7" in capsys.readouterr().out

    # no folder shared by the task's attempts: a private one, and the log says a retry starts over
    for checkpoint_root, run_id in (("{{$.pipeline_root}}/.checkpoints", "6f1c-42"),  # left unresolved
                                    ("minio://mlpipeline/v2/artifacts", "6f1c-42"),    # object storage
                                    (str(root), ""), (str(root), "{{$.pipeline_job_uuid}}"), (str(root), "../x"),
                                    ("", "6f1c-42"), ("relative/path", "6f1c-42")):
        private = checkpoints.task_checkpoints(checkpoint_root, run_id, "staged")
        assert not private.shared and private.resume_step == 0 and not private.folder.is_relative_to(root)
        assert "a retry starts from step 0" in capsys.readouterr().out
        checkpoints.release_checkpoints(private)
        assert not private.folder.exists()
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ValueError, match="cannot be created by this task"):
        checkpoints.task_checkpoints(str(tmp_path / "a-file"), "6f1c-42", "staged")

    # after success: the task's folder goes; the run's folder goes with the last variant
    other = checkpoints.task_checkpoints(str(root), "6f1c-42", "frozen")
    checkpoints.release_checkpoints(retry)
    assert not retry.folder.exists() and other.folder.is_dir()
    checkpoints.release_checkpoints(other)
    assert not (root / "6f1c-42").exists() and root.is_dir()


# --- training with N processes in the pod (torchrun) ------------------------------------------------------

def test_torchrun_command_line():
    cmd = launch.torchrun_command(4, "staged", params_file="/tmp/p.yaml", splits="/in/splits", out="/out/model",
                                 augmented="/in/aug", checkpoints="/tmp/ckpt", python="/venv/bin/python")
    assert cmd == ["/venv/bin/python", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=4",
                   "-m", "mtst.cli", "train", "--variant", "staged", "--params", "/tmp/p.yaml",
                   "--splits", "/in/splits", "--out", "/out/model", "--augmented", "/in/aug",
                   "--checkpoints", "/tmp/ckpt"]
    # a follow-up variant's init model, a resumed run, several nodes (rendezvous from torchrun's PET_* env)
    cmd = launch.torchrun_command(2, "head_a_frozen", params_file=Path("p.yaml"), splits=Path("s"), out=Path("o"),
                                 init_from=Path("init/staged/model"), resume=True, nnodes=3)
    assert cmd[0] == sys.executable and cmd[1:5] == ["-m", "torch.distributed.run", "--nnodes=3", "--nproc-per-node=2"]
    assert "--standalone" not in cmd and "--augmented" not in cmd and "--checkpoints" not in cmd
    assert cmd[cmd.index("--init-from") + 1] == "init/staged/model" and cmd[-1] == "--resume"
    # every option the command line uses is one `mtst train` defines (the real CLI parser checks it)
    from typer.main import get_command

    train_cli = get_command(app).commands["train"]
    options = {opt for param in train_cli.params for opt in param.opts}
    assert {a for a in cmd if a.startswith("--") and cmd.index(a) > cmd.index("train")} <= options
    train_cli.make_context("train", cmd[cmd.index("train") + 1:])  # parses, or raises a click error
    with pytest.raises(ValueError, match="at least 1"):
        launch.torchrun_command(0, "staged", params_file="p", splits="s", out="o")


TINY_VARIANT = {"description": "two processes, a few steps", "augment": False,
                "stages": [{"name": "heads", "encoder": "frozen", "max_steps": 4, "lr_head": 0.01}]}


@pytest.mark.timeout(600)
def test_train_variant_under_torchrun_writes_the_model(mini_splits, repo_root, tmp_path, monkeypatch):
    """The component's nproc > 1 path for real: torchrun starts 2 CPU processes (gloo) running `mtst train`
    with the params handed over as JSON; rank 0 writes the train folder; a failing rank fails the task."""
    raw = read_params_dict(repo_root / "params.yaml", "smoke")
    raw["train"].update(batch_size=8, embedding_cache=False, checkpoint_every=1000, variants={"tiny": TINY_VARIANT})
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path / "model"
    train_params = sections.section_arguments(raw)["train_params"]  # the train task's sections
    summary = launch.train_variant(train_params, "tiny", mini_splits, out, checkpoint_dir=tmp_path / "ckpt", nproc=2)
    assert summary["world_size"] == 2 and summary["steps"] == 4 and summary["variant"] == "tiny"
    assert json.loads((out / "train_summary.json").read_text()) == summary
    assert (out / "model" / "heads.safetensors").exists() and len((out / "history.jsonl").read_text().splitlines()) == 4

    with pytest.raises(launch.TrainLaunchError, match=r"(?s)exited with code \d+.*unknown variant 'nope'"):
        launch.train_variant(train_params, "nope", mini_splits, tmp_path / "none", nproc=2)
    assert not (tmp_path / "none").exists()


# --- mtst kfp submit against the API stand-in ---------------------------------------------------------------

@pytest.fixture()
def kfp_home(tmp_path, monkeypatch):
    """kfp.Client keeps a context file under ~/.config/kfp: keep it out of the real home."""
    import kfp.client.client as client_module

    monkeypatch.setattr(client_module.Client, "_LOCAL_KFP_CONTEXT", str(tmp_path / "kfp-context.json"))
    return tmp_path


def submit_cli(server: KfpApiServer, *args: str) -> dict:
    result = runner.invoke(app, ["kfp", "submit", "--host", server.url, "--profile", "smoke", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout[result.stdout.index("{"):])


def test_submit_run_with_embedded_spec(kfp_home, tmp_path, repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    package = tmp_path / "submitted.yaml"
    with KfpApiServer() as server:
        out = submit_cli(server, "--experiment", "freeze-variants", "--run-name", "smoke run 1",
                         "--package", str(package), "--token", "bearer-xyz", "--accelerator-type", "nvidia.com/gpu",
                         "--accelerator-count", "2", "--train-nproc", "2")
    assert server.errors == []
    assert [r.operation for r in server.requests] == [
        "healthz_service_get_healthz", "experiment_service_list_experiments",
        "experiment_service_create_experiment", "run_service_create_run"]
    assert all(r.headers.get("authorization") == "Bearer bearer-xyz" for r in server.requests)
    (exp_call,) = server.calls("experiment_service_create_experiment")
    assert exp_call.json["display_name"] == "freeze-variants"
    (run_call,) = server.calls("run_service_create_run")
    run = run_call.json
    assert run["display_name"] == "smoke run 1"
    assert run["experiment_id"] == out["experiment_id"] == next(iter(server.experiments))
    assert out["run_id"] in server.runs and out["run_url"].endswith(out["run_id"])
    # the compiled pipeline is embedded in the run, identical to the package written
    spec, platform = load_package(package)
    assert json_format.ParseDict(run["pipeline_spec"]["pipeline_spec"], pipeline_spec_pb2.PipelineSpec()) == \
        json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    assert json_format.ParseDict(run["pipeline_spec"]["platform_spec"], pipeline_spec_pb2.PlatformSpec()) == \
        json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())
    expected = pipeline_arguments("params.yaml", "smoke", accelerator_type="nvidia.com/gpu", accelerator_count=2,
                                  train_nproc=2)
    assert run["runtime_config"]["parameters"] == expected and expected["train_nproc"] == 2
    assert "bearer-xyz" not in package.read_text()


def test_submit_with_checkpoint_claim(kfp_home, repo_root, monkeypatch):
    """The claim is a run parameter, and the embedded spec mounts it on training."""
    from mtst.kfp.submit import submit

    monkeypatch.chdir(repo_root)
    with KfpApiServer() as server:
        out = submit(build_pipeline, server.url, profile="smoke", variants=["frozen"], checkpoint_pvc="team-checkpoints")
    assert server.errors == []
    (run_call,) = server.calls("run_service_create_run")
    assert run_call.json["runtime_config"]["parameters"]["checkpoint_pvc"] == "team-checkpoints"
    assert out["arguments"]["checkpoint_pvc"] == "team-checkpoints"
    platform = run_call.json["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]
    assert platform["deploymentSpec"]["executors"]["exec-train"]["pvcMount"][0]["mountPath"] == \
        settings.CHECKPOINT_MOUNT_PATH


def test_submit_uploads_pipeline_and_versions(kfp_home, repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    with KfpApiServer() as server:
        first = submit_cli(server, "--pipeline-name", "mtst-multitask", "--run-name", "r1")
        second = submit_cli(server, "--pipeline-name", "mtst-multitask", "--version", "v2", "--run-name", "r2",
                            "--experiment", "other", "--namespace", "team-a")
        third = submit_cli(server, "--pipeline-name", "mtst-multitask", "--run-name", "r3")
    assert server.errors == []
    (upload,) = server.calls("upload_pipeline")
    assert upload.query["name"] == "mtst-multitask" and "uploadfile" in upload.files
    uploaded_spec = yaml.safe_load_all(upload.files["uploadfile"].decode())
    assert next(uploaded_spec)["pipelineInfo"]["name"] == settings.PIPELINE_NAME
    versions = server.calls("upload_pipeline_version")
    assert [v.query["name"] for v in versions][0] == "v2" and len(versions) == 2
    assert versions[1].query["name"] != "v2"  # a generated, unique name
    assert first["pipeline_id"] == second["pipeline_id"] == third["pipeline_id"] == versions[0].query["pipelineid"]
    assert len({first["version_id"], second["version_id"], third["version_id"]}) == 3
    runs = server.calls("run_service_create_run")
    assert [r.json["display_name"] for r in runs] == ["r1", "r2", "r3"]
    for run, out in zip(runs, (first, second, third)):
        assert "pipeline_spec" not in run.json  # runs reference the uploaded version
        assert run.json["pipeline_version_reference"] == {"pipeline_id": out["pipeline_id"],
                                                          "pipeline_version_id": out["version_id"]}
    (exp_other,) = [e for e in server.calls("experiment_service_create_experiment") if e.json["display_name"] == "other"]
    assert exp_other.json["namespace"] == "team-a"
    assert runs[1].json["experiment_id"] == second["experiment_id"] != first["experiment_id"]


def test_submit_reports_api_errors(kfp_home, repo_root, monkeypatch):
    monkeypatch.chdir(repo_root)
    with KfpApiServer() as server:
        server._op_run_service_create_run = None  # the "backend" refuses runs
        result = runner.invoke(app, ["kfp", "submit", "--host", server.url, "--profile", "smoke"])
    assert result.exit_code == 2
    assert f"error: KFP API at {server.url}" in result.output and "not implemented" in result.output


def test_api_server_rejects_what_the_api_does_not_define():
    import urllib.request

    with KfpApiServer() as server:
        def post(path: str, body: dict) -> int:
            req = urllib.request.Request(server.url + path, json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
            try:
                return urllib.request.urlopen(req).status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert post("/apis/v2beta1/experiments", {"display_name": "ok"}) == 200
        assert post("/apis/v2beta1/experiments", {"display_name": "x", "colour": "red"}) == 400
        assert post("/apis/v2beta1/runs", {"display_name": "r", "pipeline_spec": {"root": {"dag": 5}}}) == 400
        assert post("/apis/v2beta1/runs", {"display_name": "r", "runtime_config": {"parameters": []}}) == 400
        assert post("/apis/v1beta1/runs", {}) == 404
    assert len(server.errors) == 4
