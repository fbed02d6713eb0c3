"""/metrics needs EYHUB_METRICS_TOKEN (shared/health.py): every served component gets the
token, and the Prometheus configs in deploy/prometheus/ scrape every component with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shared.config import COMPONENTS, PORT_OFFSETS, load_settings
from tests.deploy.test_manifests import (
    DEPLOYMENTS,
    EYHUB_CONTAINERS,
    K8S,
    ROOT,
    SECRET,
    compose_role,
    container_env,
    of_kind,
    pod_containers,
)

PROMETHEUS = ROOT / "deploy" / "prometheus"


def _job(config: Any) -> dict[str, Any]:
    jobs = config["scrape_configs"] if isinstance(config, dict) else config
    (job,) = [j for j in jobs if j["job_name"] == "eyhub"]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer"
    return job


def test_compose_serves_metrics_with_a_token_and_prometheus_scrapes_every_component() -> None:
    tokens = set()
    for component in COMPONENTS:
        settings = load_settings(EYHUB_CONTAINERS[component]["environment"])
        assert settings.metrics_token, f"{component}: /metrics would not be served"
        tokens.add(settings.metrics_token)
    assert len(tokens) == 1, tokens
    job = _job(yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text()))
    assert job["authorization"]["credentials"] == tokens.pop()
    (static,) = job["static_configs"]
    assert sorted(static["targets"]) == sorted(f"{c}:{8080 + PORT_OFFSETS[c]}" for c in COMPONENTS)
    for component in COMPONENTS:  # the targets are the ports the components listen on
        _, params = compose_role(EYHUB_CONTAINERS[component])
        assert params["bind"].endswith(f":{8080 + PORT_OFFSETS[component]}")
    prometheus = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["prometheus"]
    assert (
        "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"
        in prometheus["volumes"]
    )
    assert all(p.startswith("127.0.0.1:") for p in prometheus.get("ports", []))


def test_k8s_components_get_the_token_from_the_secret_and_the_scrape_job_finds_them() -> None:
    assert "CHANGE-ME" in SECRET["EYHUB_METRICS_TOKEN"]
    for component in COMPONENTS:
        (container,) = pod_containers(DEPLOYMENTS[component])
        refs = {
            item["name"]: item["valueFrom"]["secretKeyRef"]
            for item in container.get("env", [])
            if "valueFrom" in item
        }
        assert refs["EYHUB_METRICS_TOKEN"] == {
            "name": "eyhub-secrets",
            "key": "EYHUB_METRICS_TOKEN",
        }, component
        assert load_settings(container_env(container)).metrics_token
    job = _job(yaml.safe_load((PROMETHEUS / "k8s-scrape.yml").read_text()))
    assert job["authorization"]["credentials_file"].endswith("/EYHUB_METRICS_TOKEN")
    (sd,) = job["kubernetes_sd_configs"]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sd["role"] == "endpoints"
    assert sd["namespaces"]["names"] == [kustomization["namespace"]]
    keep = {
        r["source_labels"][0]: r["regex"]
        for r in job["relabel_configs"]
        if r.get("action") == "keep"
    }
    services = of_kind("Service")
    for component in COMPONENTS:
        service = services[component]
        label = service["metadata"]["labels"]["app.kubernetes.io/name"]
        assert label == keep["__meta_kubernetes_service_label_app_kubernetes_io_name"]
        (port,) = service["spec"]["ports"]
        assert port["name"] == keep["__meta_kubernetes_endpoint_port_name"], component


def test_prometheus_configs_are_documented() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text()
    for name in ("prometheus/prometheus.yml", "prometheus/k8s-scrape.yml"):
        assert name in readme
        assert (ROOT / "deploy" / Path(name)).is_file()
