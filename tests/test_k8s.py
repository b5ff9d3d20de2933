"""k8s/: both overlays render, every object passes the Kubernetes API schemas strictly,
and the cross-references no schema checks hold."""

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from service.accounts import Accounts
from service.app import create_app
from service.settings import Settings

pytestmark = [pytest.mark.kubectl, pytest.mark.processes]

K8S = Path(__file__).parents[1] / "k8s"
KUBERNETES_VERSION = "1.37.0"
KUBECTL = shutil.which("kubectl") or str(Path(sys.executable).with_name("kubectl"))
OVERLAYS = ["local", "production"]

Objects = dict[tuple[str, str], dict[str, Any]]


def render(overlay: str, k8s: Path = K8S) -> Objects:
    out = subprocess.run(
        [KUBECTL, "kustomize", str(k8s / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(out) if o}


@pytest.fixture(scope="module", params=OVERLAYS)
def objects(request: pytest.FixtureRequest) -> Objects:
    return render(request.param)


def test_every_object_passes_the_api_schemas_strictly(objects: Objects) -> None:
    assert {kind for kind, _ in objects} == {
        "ServiceAccount", "ConfigMap", "Deployment", "Service",
        "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy",
    }  # fmt: skip
    for obj in objects.values():
        # Raises on any violation, an unknown field, or a kind it has no schema for.
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def deployment(objects: Objects) -> dict[str, Any]:
    return objects["Deployment", "codedeploy-gateway"]


def test_selectors_match_the_pod_labels(objects: Objects) -> None:
    spec = deployment(objects)["spec"]
    labels = spec["template"]["metadata"]["labels"]
    selectors = [
        spec["selector"]["matchLabels"],
        objects["Service", "codedeploy-gateway"]["spec"]["selector"],
        objects["PodDisruptionBudget", "codedeploy-gateway"]["spec"]["selector"]["matchLabels"],
        objects["NetworkPolicy", "codedeploy-gateway"]["spec"]["podSelector"]["matchLabels"],
        *(
            c["labelSelector"]["matchLabels"]
            for c in spec["template"]["spec"]["topologySpreadConstraints"]
        ),
    ]
    for selector in selectors:
        assert selector.items() <= labels.items()


def test_the_service_and_probes_reach_the_apps_port_and_paths(objects: Objects) -> None:
    [container] = deployment(objects)["spec"]["template"]["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": Settings.model_fields["port"].default}
    assert objects["Service", "codedeploy-gateway"]["spec"]["ports"][0]["targetPort"] in ports
    app_paths = create_app(Settings(local=True)).api.openapi()["paths"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in ports
        assert container[probe]["httpGet"]["path"] in app_paths
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ingress_ports = objects["NetworkPolicy", "codedeploy-gateway"]["spec"]["ingress"][0]["ports"]
    assert [port["port"] for port in ingress_ports] == [Settings.model_fields["port"].default]


def test_autoscaler_and_budget_point_at_the_deployment(objects: Objects) -> None:
    target = objects["HorizontalPodAutoscaler", "codedeploy-gateway"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "codedeploy-gateway")
    assert deployment(objects)["spec"]["replicas"] >= 2
    assert deployment(objects)["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_referenced_objects_exist(objects: Objects) -> None:
    pod = deployment(objects)["spec"]["template"]["spec"]
    assert ("ServiceAccount", pod["serviceAccountName"]) in objects
    for container in pod["containers"]:
        for source in container.get("envFrom", []):
            assert ("ConfigMap", source["configMapRef"]["name"]) in objects


def test_the_config_is_one_the_app_accepts(
    objects: Objects, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    [container] = deployment(objects)["spec"]["template"]["spec"]["containers"]
    config = objects["ConfigMap", "codedeploy-gateway"]["data"]
    for name, value in config.items():
        monkeypatch.setenv(name, value)
    settings = Settings(local="--local" in container.get("args", []))
    assert all(name.startswith(("GATEWAY_", "AWS_")) for name in config)
    mounts = {mount["name"]: mount["mountPath"] for mount in container.get("volumeMounts", [])}
    if settings.api_keys_file is not None:  # the file is where the Secret is mounted
        assert str(settings.api_keys_file.parent) == mounts["api-keys"]
    if settings.accounts_file is not None:  # the file the ConfigMap holds, and a good one
        assert str(settings.accounts_file.parent) == mounts["accounts"]
        [volume] = [v for v in pod_volumes(objects) if v["name"] == "accounts"]
        held = objects["ConfigMap", volume["configMap"]["name"]]["data"]
        path = tmp_path / settings.accounts_file.name
        path.write_text(held[settings.accounts_file.name])
        assert len(Accounts.load(path).accounts) >= 2


def pod_volumes(objects: Objects) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = deployment(objects)["spec"]["template"]["spec"]["volumes"]
    return volumes


def test_production_is_locked_down_and_local_is_open() -> None:
    settings = {}
    for overlay in OVERLAYS:
        data = render(overlay)["ConfigMap", "codedeploy-gateway"]["data"]
        settings[overlay] = data
    production = settings["production"]
    assert production["GATEWAY_AUTH"] != "none"
    assert production["GATEWAY_DOCS"] == production["GATEWAY_GRAPHQL_INTROSPECTION"] == "false"
    assert "GATEWAY_RATE_LIMIT_PER_SECOND" in production
    assert "GATEWAY_AUTH" not in settings["local"]  # --local: open, docs on
    [container] = deployment(render("production"))["spec"]["template"]["spec"]["containers"]
    env = {variable["name"]: variable for variable in container.get("env", [])}
    for name in ("GATEWAY_METRICS_API_KEY", "GATEWAY_CURSOR_SECRET"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "codedeploy-gateway-secrets"


def test_pods_run_locked_down(objects: Objects) -> None:
    pod = deployment(objects)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    # Mounted Secret files are root's, mode 0440: without this the gateway can't read them.
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert {"requests", "limits"} <= container["resources"].keys()


def test_local_runs_the_emulator_and_production_assumes_a_role() -> None:
    local, production = render("local"), render("production")
    [local_container] = deployment(local)["spec"]["template"]["spec"]["containers"]
    assert local_container["args"] == ["--local"]
    assert "annotations" not in local["ServiceAccount", "codedeploy-gateway"]["metadata"]
    annotations = production["ServiceAccount", "codedeploy-gateway"]["metadata"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    [production_container] = deployment(production)["spec"]["template"]["spec"]["containers"]
    assert "args" not in production_container


def render_with(component: str, tmp_path: Path) -> Objects:
    """Production with a component its kustomization leaves commented out."""
    k8s = shutil.copytree(K8S, tmp_path / "k8s")
    overlay = k8s / "overlays" / component
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        f"resources: [../production]\ncomponents: [../../components/{component}]\n"
    )
    objects = render(component, k8s)
    for obj in objects.values():
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    return objects


def settings_from(objects: Objects, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("GATEWAY_API_KEYS", "{}")  # the Secret's file is not here
    for name, value in objects["ConfigMap", "codedeploy-gateway"]["data"].items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GATEWAY_API_KEYS_FILE")
    return Settings()


def test_production_can_turn_trusted_documents_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render_with("trusted-documents", tmp_path)
    trusted = settings_from(objects, monkeypatch).graphql_trusted_documents
    assert trusted is not None
    [container] = deployment(objects)["spec"]["template"]["spec"]["containers"]
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert str(trusted.parent) == mounts["trusted-documents"]
    volumes = deployment(objects)["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "trusted-documents",
        "configMap": {"name": "codedeploy-gateway-trusted-documents"},
    } in volumes


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Objects:
    return render_with("shared-store", tmp_path_factory.mktemp("shared-store"))


def store(objects: Objects) -> dict[str, Any]:
    return objects["Deployment", "codedeploy-gateway-store"]


def test_the_store_url_names_a_service_for_the_store_alone(
    shared_store: Objects, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = settings_from(shared_store, monkeypatch).redis_url
    assert url is not None
    service = shared_store["Service", url.host]["spec"]
    [port] = service["ports"]
    assert port["port"] == url.port
    [valkey] = store(shared_store)["spec"]["template"]["spec"]["containers"]
    assert port["targetPort"] in {p["name"] for p in valkey["ports"]}
    store_labels = store(shared_store)["spec"]["template"]["metadata"]["labels"]
    assert service["selector"].items() <= store_labels.items()
    for selector in (  # the gateway's own selectors must miss the store's pods
        shared_store["Service", "codedeploy-gateway"]["spec"]["selector"],
        shared_store["PodDisruptionBudget", "codedeploy-gateway"]["spec"]["selector"][
            "matchLabels"
        ],
        shared_store["NetworkPolicy", "codedeploy-gateway"]["spec"]["podSelector"]["matchLabels"],
    ):
        assert not selector.items() <= store_labels.items()


def test_the_gateway_reads_the_password_the_store_requires(
    shared_store: Objects, monkeypatch: pytest.MonkeyPatch
) -> None:
    password_file = settings_from(shared_store, monkeypatch).redis_password_file
    assert password_file is not None
    pod = deployment(shared_store)["spec"]["template"]["spec"]
    [container] = pod["containers"]
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == str(password_file.parent)]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["defaultMode"] & 0o040  # read through the pod's fsGroup
    [valkey] = store(shared_store)["spec"]["template"]["spec"]["containers"]
    env = {variable["name"]: variable for variable in valkey["env"]}
    assert env["VALKEY_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": volume["secret"]["secretName"],
        "key": password_file.name,
    }
    assert valkey["args"][valkey["args"].index("--requirepass") + 1] == "$(VALKEY_PASSWORD)"


def test_only_the_gateway_reaches_the_store_and_the_store_reaches_nothing(
    shared_store: Objects, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = settings_from(shared_store, monkeypatch).redis_url
    assert url is not None
    port = {"port": url.port, "protocol": "TCP"}
    gateway_labels = deployment(shared_store)["spec"]["template"]["metadata"]["labels"]
    store_labels = store(shared_store)["spec"]["template"]["metadata"]["labels"]
    policy = shared_store["NetworkPolicy", "codedeploy-gateway-store"]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= store_labels.items()
    [ingress] = policy["ingress"]
    [source] = ingress["from"]
    assert source.keys() == {"podSelector"}  # this namespace's pods, no address blocks
    assert source["podSelector"]["matchLabels"].items() <= gateway_labels.items()
    assert not source["podSelector"]["matchLabels"].items() <= store_labels.items()
    assert ingress["ports"] == [port]
    assert "Egress" in policy["policyTypes"]
    assert not policy.get("egress")
    egress = shared_store["NetworkPolicy", "codedeploy-gateway"]["spec"]["egress"]
    assert any(
        port in rule.get("ports", [])
        and any(
            to["podSelector"]["matchLabels"].items() <= store_labels.items() for to in rule["to"]
        )
        for rule in egress
    )


def test_the_store_runs_locked_down(shared_store: Objects) -> None:
    pod = store(shared_store)["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    [valkey] = pod["containers"]
    context = valkey["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"]["drop"] == ["ALL"]
    assert {"requests", "limits"} <= valkey["resources"].keys()
