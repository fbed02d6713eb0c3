"""docker-compose.yml, deploy/ and the code agree (no Docker engine runs here).

Each check reads the deployment files and compares them with what the code says:
components and workers (shared.config), ports (PORT_OFFSETS), variable names (ENV_VARS),
commands (the click CLI itself), probes, and the RabbitMQ topology. Renaming a service, a
port or a variable in the code without the deployment files makes one of these fail.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import yaml

from eyhub.cli import main as eyhub_cli
from eyhub.components import registries
from shared.config import COMPONENTS, ENV_VARS, PORT_OFFSETS, SERVICES, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# --------------------------------------------------------------------------- helpers


def check_cli(argv: list[str]) -> tuple[str, dict[str, Any]]:
    """Parse ``eyhub <argv>`` with the real click commands; (command, params) or fail."""
    assert argv, "empty command"
    name, *rest = argv
    command = eyhub_cli.commands.get(name)
    assert command is not None, f"`eyhub {name}` is not a command ({sorted(eyhub_cli.commands)})"
    try:
        ctx = command.make_context(name, list(rest))
    except click.ClickException as exc:
        pytest.fail(f"`eyhub {shlex.join(argv)}` is not a valid invocation: {exc.format_message()}")
    return name, ctx.params


def bind_port(params: dict[str, Any]) -> int:
    host, _, port = (params.get("bind") or "").rpartition(":")
    assert host == "0.0.0.0", f"a container must listen on all interfaces, got {params}"
    return int(port)


def load_module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic semantics: ``*`` is one word, ``#`` zero or more."""

    def match(p: list[str], k: list[str]) -> bool:
        if not p:
            return not k
        if p[0] == "#":
            return any(match(p[1:], k[i:]) for i in range(len(k) + 1))
        return bool(k) and p[0] in ("*", k[0]) and match(p[1:], k[1:])

    return match(pattern.split("."), key.split("."))


# --------------------------------------------------------------------------- compose

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
COMPOSE_SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
#: The development stack's Stripe stand-in runs from the same image but is no platform
#: component: checked on its own (test_compose_stripe_stand_in_is_wired_to_the_gateway).
STAND_IN = "stripe-local"
EYHUB_CONTAINERS = {
    name: svc
    for name, svc in COMPOSE_SERVICES.items()
    if svc.get("build", {}).get("dockerfile") == "deploy/Dockerfile" and name != STAND_IN
}


def compose_role(svc: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return check_cli(list(svc["command"]))


def test_compose_builds_every_eyhub_container_from_the_one_image() -> None:
    assert set(EYHUB_CONTAINERS) >= {"migrate", *COMPONENTS, *(f"{c}-worker" for c in COMPONENTS)}
    images = {svc["image"] for svc in EYHUB_CONTAINERS.values()}
    assert len(images) == 1, images
    for name, svc in COMPOSE_SERVICES.items():
        if name not in EYHUB_CONTAINERS and name != STAND_IN:
            assert "eyhub" not in str(svc.get("image", "")), f"{name} uses the eyhub image unbuilt"


def test_compose_commands_are_valid_and_cover_every_component_and_worker() -> None:
    served, workers, others = {}, {}, []
    for name, svc in EYHUB_CONTAINERS.items():
        command, params = compose_role(svc)
        if command == "serve":
            served[params["component"]] = name
        elif command == "worker":
            workers[params["service"]] = name
        else:
            others.append(command)
    assert served == {c: c for c in COMPONENTS}, "one `eyhub serve X` per component, named X"
    assert workers == {c: f"{c}-worker" for c in COMPONENTS}
    assert "migrate" in others


def test_compose_ports_follow_port_base_and_offsets() -> None:
    for component in COMPONENTS:
        svc = EYHUB_CONTAINERS[component]
        settings = load_settings(svc["environment"])
        _, params = compose_role(svc)
        port = bind_port(params)
        assert port == settings.port(component) == 8080 + PORT_OFFSETS[component]
        probe = " ".join(svc["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/readyz" in probe, probe
    assert COMPOSE_SERVICES["gateway"]["ports"] == ["8080:8080"]
    published = [n for n, s in EYHUB_CONTAINERS.items() if s.get("ports") and n != "gateway"]
    assert not published, f"only the gateway is a public door: {published}"


def test_compose_stripe_stand_in_is_wired_to_the_gateway() -> None:
    """Development only: services call the stand-in; its webhooks come back through the
    gateway's public route signed with the secret the services verify; the browser
    reaches its hosted checkout page (published, as Stripe's page is public)."""
    svc = COMPOSE_SERVICES[STAND_IN]
    assert svc["image"] == EYHUB_CONTAINERS["gateway"]["image"]
    command, params = compose_role(svc)
    assert command == "stripe-local"
    from shared.stripe_local.__main__ import parse_args

    args = parse_args(list(params["args"]))
    assert (args.host, args.port) == ("0.0.0.0", 8085)
    assert args.webhook_url == "http://gateway:8080/api/bookings/stripe/webhook"
    assert svc["ports"] == [f"{args.port}:{args.port}"]
    assert args.state.startswith("/var/lib/eyhub/")
    for name in ("bookings", "bookings-worker", "budget", "budget-worker"):
        settings = load_settings(EYHUB_CONTAINERS[name]["environment"])
        assert settings.stripe_local and settings.stripe_api_base == f"http://{STAND_IN}:8085"
        assert settings.webhook_secret() == args.webhook_secret, name


def test_compose_environment_uses_only_variables_the_code_reads() -> None:
    for name, svc in EYHUB_CONTAINERS.items():
        unknown = sorted(set(svc["environment"]) - set(ENV_VARS))
        assert not unknown, f"{name}: not in shared.config.ENV_VARS: {unknown}"
        load_settings(svc["environment"])  # and every value parses


def test_compose_wires_databases_broker_and_service_urls() -> None:
    init_sql = (DEPLOY / "postgres" / "init-databases.sql").read_text()
    created = re.findall(r"^CREATE DATABASE (\w+);", init_sql, re.MULTILINE)
    assert created == [f"eyhub_{c}" for c in COMPONENTS]
    definitions = json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text())
    users = {u["name"] for u in definitions["users"]}
    vhosts = {v["name"] for v in definitions["vhosts"]}
    for name, svc in EYHUB_CONTAINERS.items():
        env = svc["environment"]
        settings = load_settings(env)
        command, params = compose_role(svc)
        own = {
            "serve": [params.get("component")],
            "worker": [params.get("service")],
        }.get(command, list(COMPONENTS))
        db_vars = {k for k in env if k.endswith("_DATABASE_URL")}
        assert db_vars == {f"EYHUB_{c.upper()}_DATABASE_URL" for c in own}, name
        for component in own:
            url = urlsplit(settings.database_url(component))
            assert url.scheme == "postgresql" and url.hostname == "postgres", name
            assert url.path == f"/eyhub_{component}", name
        broker = urlsplit(settings.broker_url)
        assert (broker.scheme, broker.hostname, broker.port) == ("amqp", "rabbitmq", 5672)
        assert broker.username in users and broker.path.lstrip("/") in vhosts, name
        assert settings.bus_namespace == "", f"{name}: definitions.json names have no prefix"
        for service in SERVICES:
            url = urlsplit(settings.service_url(service))
            assert (url.hostname, url.port) == (service, settings.port(service)), name
        gateway = urlsplit(settings.gateway_url)
        assert (gateway.hostname, gateway.port) == ("gateway", settings.port("gateway"))
        assert settings.auto_migrate is False, f"{name}: the migrate service migrates"


def test_compose_start_order_is_migrate_then_services_then_gateway() -> None:
    migrate = COMPOSE_SERVICES["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name, svc in EYHUB_CONTAINERS.items():
        if name in ("migrate",):
            continue
        deps = svc["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully", name
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["rabbitmq"]["condition"] == "service_healthy", name
    gateway_deps = COMPOSE_SERVICES["gateway"]["depends_on"]
    for service in SERVICES:  # the gateway is ready only when every service is
        assert gateway_deps[service]["condition"] == "service_healthy"
    for infra in ("postgres", "rabbitmq"):
        assert COMPOSE_SERVICES[infra]["healthcheck"]["test"]


def test_compose_rabbitmq_loads_the_definitions() -> None:
    rabbit = COMPOSE_SERVICES["rabbitmq"]
    assert rabbit["image"].startswith("rabbitmq:3") and rabbit["image"].endswith("management")
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in rabbit["volumes"] if v.startswith("."))
    assert mounts["./deploy/rabbitmq/definitions.json"] == "/etc/rabbitmq/definitions.json"
    assert mounts["./deploy/rabbitmq/rabbitmq.conf"] == "/etc/rabbitmq/rabbitmq.conf"
    conf = (DEPLOY / "rabbitmq" / "rabbitmq.conf").read_text()
    assert re.search(r"^load_definitions = /etc/rabbitmq/definitions.json$", conf, re.MULTILINE)
    for path in mounts:
        assert (ROOT / path).is_file(), path


# --------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


def copy_sources() -> list[str]:
    """What COPY takes from the build context (not from another stage)."""
    sources = []
    for op, value in dockerfile_instructions():
        words = value.split()
        if op == "COPY" and not any(w.startswith("--from") for w in words):
            sources += [w for w in words[:-1] if not w.startswith("--")]
    return sources


def test_dockerfile_entrypoint_is_the_console_script() -> None:
    scripts = PYPROJECT["project"]["scripts"]
    assert scripts == {"eyhub": "eyhub.cli:main"}
    stage = final_stage()
    assert stage[0] == ("FROM", "python:3.11-slim")
    entry = [json.loads(v) for op, v in stage if op == "ENTRYPOINT"]
    assert entry == [list(scripts)]
    cmd = [json.loads(v) for op, v in stage if op == "CMD"][-1]
    command, params = check_cli(cmd)
    assert command == "serve" and params["component"] == "gateway"
    assert bind_port(params) == 8080 + PORT_OFFSETS["gateway"]
    exposed = {int(p) for op, v in stage if op == "EXPOSE" for p in v.split()}
    assert exposed == {8080 + PORT_OFFSETS[c] for c in COMPONENTS}


def test_dockerfile_runs_as_a_user_and_installs_the_lock_then_the_project() -> None:
    stage = final_stage()
    users = [v for op, v in stage if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    env = " ".join(v for op, v in stage if op == "ENV")
    assert "EYHUB_DATA_DIR=/var/lib/eyhub" in env
    assert "EYHUB_DATA_DIR" in ENV_VARS
    runs = [v for op, v in dockerfile_instructions() if op == "RUN"]
    lock = next(i for i, r in enumerate(runs) if "-r requirements.lock" in r)
    project = next(i for i, r in enumerate(runs) if "install --no-deps ." in r)
    assert lock < project
    copied = {Path(src).name for src in copy_sources()}
    find = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    packages = {p.rstrip("*") for p in find["include"]}
    assert packages | {"requirements.lock", "pyproject.toml", "README.md"} <= copied


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var", "node_modules", ".pytest_cache", ".ruff_cache"} <= ignored
    copied = set(copy_sources())
    assert copied and not copied & ignored, "the Dockerfile copies what .dockerignore drops"


def test_the_installed_project_carries_every_runtime_file(tmp_path: Path) -> None:
    """`pip install --no-deps .` (not editable) must ship migrations, templates, static."""
    build = subprocess.run(
        [
            sys.executable,
            "-c",
            "import setuptools; setuptools.setup()",
            "-q",
            "build_py",
            "--build-lib",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr
    tracked = subprocess.run(
        ["git", "ls-files", "shared", "gateway", "services"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    needed = [p for p in tracked if not p.endswith(".md") and (ROOT / p).exists()]
    assert any("migrations/versions/" in p for p in needed)
    missing = [p for p in needed if not (tmp_path / p).is_file()]
    assert not missing, f"not installed by the image's `pip install .`: {missing}"


# --------------------------------------------------------------------------- gunicorn


def gunicorn_config(monkeypatch: pytest.MonkeyPatch, app: str, **env: str) -> Any:
    """Load deploy/gunicorn.conf.py exactly as the `gunicorn -c ...` command line does."""
    from gunicorn.app.wsgiapp import WSGIApplication

    for name in [*ENV_VARS, "PORT"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["gunicorn", "-c", str(DEPLOY / "gunicorn.conf.py"), app])
    return WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").cfg


def test_gunicorn_conf_matches_eyhub_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    from eyhub.serving import gunicorn_options

    env = {"EYHUB_PORT_BASE": "9000", "EYHUB_WEB_WORKERS": "3", "EYHUB_WEB_THREADS": "4"}
    cfg = gunicorn_config(monkeypatch, "services.bookings.app:create_app()", **env)
    serve = gunicorn_options("bookings", load_settings(env), bind="0.0.0.0:9002")
    assert cfg.bind == [serve["bind"]] == ["0.0.0.0:9002"]
    for key in (
        "workers",
        "threads",
        "timeout",
        "keepalive",
        "accesslog",
        "errorlog",
        "proc_name",
        "preload_app",
        "control_socket_disable",
        "logconfig_dict",
    ):
        assert cfg.settings[key].get() == serve[key], key
    assert cfg.worker_class_str == "gthread" == serve["worker_class"]
    assert cfg.settings["control_socket_disable"].get() is True
    assert cfg.workers == 3 and cfg.threads == 4


def test_gunicorn_conf_names_only_real_settings() -> None:
    from gunicorn.config import KNOWN_SETTINGS

    known = {s.name for s in KNOWN_SETTINGS}
    text = (DEPLOY / "gunicorn.conf.py").read_text()
    assigned = set(re.findall(r"^([a-z][a-z_]*) = ", text, re.MULTILINE))
    assert assigned and assigned <= known, f"gunicorn would ignore: {assigned - known}"


def test_gunicorn_conf_port_and_component(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = gunicorn_config(monkeypatch, "gateway.app:create_app()")
    assert cfg.bind == ["0.0.0.0:8080"] and cfg.proc_name == "eyhub-gateway"
    cfg = gunicorn_config(monkeypatch, "services.budget.app:create_app()", PORT="5000")
    assert cfg.bind == ["0.0.0.0:5000"] and cfg.proc_name == "eyhub-budget"
    conf = load_module(DEPLOY / "gunicorn.conf.py", "eyhub_gunicorn_conf_probe")
    with pytest.raises(RuntimeError, match="services"):
        conf.component_from_argv(["services.nope.app:create_app()"])


# --------------------------------------------------------------------------- Kubernetes


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":  # kustomize's input, not a cluster object
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


DOCS = k8s_documents()


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in DOCS if d["kind"] == kind}


CONFIG = of_kind("ConfigMap")["eyhub-config"]["data"]
SECRET = of_kind("Secret")["eyhub-secrets"]["stringData"]
DEPLOYMENTS = of_kind("Deployment")


def pod_containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    return workload["spec"]["template"]["spec"]["containers"]


def container_env(container: dict[str, Any]) -> dict[str, str]:
    """The environment a container sees (ConfigMap, Secret example, literal values)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source["configMapRef"]["name"]
        assert ref in of_kind("ConfigMap"), ref
        env.update(of_kind("ConfigMap")[ref]["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == "eyhub-secrets", ref
            assert ref["key"] in SECRET, f"{ref['key']} missing from secret.example.yaml"
            env[item["name"]] = SECRET[ref["key"]]
    return env


def eyhub_args(container: dict[str, Any]) -> list[str]:
    command = container.get("command")
    if command is not None:
        assert command[0] == "eyhub", command
        return [*command[1:], *container.get("args", [])]
    return list(container["args"])


def test_every_k8s_document_is_well_formed() -> None:
    assert DOCS
    for fname, doc in DOCS:
        assert doc.get("apiVersion") and doc.get("kind") and doc["metadata"].get("name"), fname
        if doc["kind"] in ("Deployment", "Job"):
            template = doc["spec"]["template"]
            if doc["kind"] == "Deployment":
                selector = doc["spec"]["selector"]["matchLabels"]
                labels = template["metadata"]["labels"]
                assert selector.items() <= labels.items(), f"{fname}: selector/labels differ"
            for container in template["spec"]["containers"]:
                for port in container.get("ports", []):
                    assert isinstance(port["containerPort"], int), fname
                res = container["resources"]
                assert res["requests"]["cpu"] and res["requests"]["memory"], fname
                assert res["limits"]["cpu"] and res["limits"]["memory"], fname
                assert container["image"].split(":")[0] == "eyhub", fname


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert set(kustomization["resources"]) == files
    assert kustomization["namespace"] == of_kind("Namespace").popitem()[0]
    assert [i["name"] for i in kustomization["images"]] == ["eyhub"]


def test_k8s_runs_every_component_with_probes_on_its_port() -> None:
    port_base = int(CONFIG["EYHUB_PORT_BASE"])
    services = of_kind("Service")
    for component in COMPONENTS:
        deployment = DEPLOYMENTS[component]
        assert deployment["spec"]["replicas"] >= 2, component
        (container,) = pod_containers(deployment)
        command, params = check_cli(eyhub_args(container))
        assert (command, params["component"]) == ("serve", component)
        port = bind_port(params)
        assert port == port_base + PORT_OFFSETS[component]
        named = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert list(named.values()) == [port]

        def probe_port(probe: dict[str, Any], named: dict[str, int] = named) -> int:
            value = probe["httpGet"]["port"]
            return named[value] if isinstance(value, str) else value

        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert probe_port(container["readinessProbe"]) == port
        assert probe_port(container["livenessProbe"]) == port

        service = services[component]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        (svc_port,) = service["spec"]["ports"]
        assert svc_port["port"] == port
        target = svc_port["targetPort"]
        assert (named[target] if isinstance(target, str) else target) == port


def test_k8s_gateway_has_a_disruption_budget() -> None:
    pdbs = of_kind("PodDisruptionBudget")
    labels = DEPLOYMENTS["gateway"]["spec"]["template"]["metadata"]["labels"]
    assert any(
        p["spec"]["selector"]["matchLabels"].items() <= labels.items() for p in pdbs.values()
    )


def test_k8s_runs_one_worker_per_service_and_the_migrate_job() -> None:
    workers = {}
    for name, deployment in DEPLOYMENTS.items():
        (container,) = pod_containers(deployment)
        command, params = check_cli(eyhub_args(container))
        if command == "worker":
            workers[params["service"]] = name
    assert workers == {c: f"{c}-worker" for c in COMPONENTS}
    assert set(DEPLOYMENTS) == set(COMPONENTS) | set(workers.values())
    (job,) = of_kind("Job").values()
    (container,) = pod_containers(job)
    command, params = check_cli(eyhub_args(container))
    assert command == "migrate" and not params["components"]  # all of them
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_k8s_environment_uses_only_variables_the_code_reads() -> None:
    assert not set(CONFIG) - set(ENV_VARS), set(CONFIG) - set(ENV_VARS)
    assert not set(SECRET) - set(ENV_VARS), set(SECRET) - set(ENV_VARS)
    assert CONFIG["EYHUB_AUTO_MIGRATE"] == "false"
    workloads = [*DEPLOYMENTS.values(), *of_kind("Job").values()]
    for workload in workloads:
        for container in pod_containers(workload):
            env = container_env(container)
            name = workload["metadata"]["name"]
            assert not set(env) - set(ENV_VARS), f"{name}: {set(env) - set(ENV_VARS)}"
            settings = load_settings(env)
            command, params = check_cli(eyhub_args(container))
            own = {"serve": [params.get("component")], "worker": [params.get("service")]}.get(
                command, list(COMPONENTS)
            )
            db_vars = {k for k in env if k.endswith("_DATABASE_URL")}
            assert db_vars == {f"EYHUB_{c.upper()}_DATABASE_URL" for c in own}, name
            if command in ("serve", "worker"):
                assert urlsplit(settings.broker_url).scheme == "amqp", name
                assert settings.bus_namespace == "", f"{name}: definitions.json has no prefix"
            for service in SERVICES:
                url = urlsplit(settings.service_url(service))
                assert (url.hostname, url.port) == (service, settings.port(service)), name
    gateway_env = container_env(pod_containers(DEPLOYMENTS["gateway"])[0])
    assert "EYHUB_JWT_PRIVATE_KEY" in gateway_env, "replicas must sign with one key"
    assert "EYHUB_REDIS_URL" in gateway_env, "replicas must share rate-limit counts"


def test_k8s_secret_example_holds_only_marked_placeholders() -> None:
    for key, value in SECRET.items():
        assert "CHANGE-ME" in value, f"{key} looks like a real value"


# --------------------------------------------------------------------------- RabbitMQ

DEFINITIONS = json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text())
GENERATOR = load_module(DEPLOY / "rabbitmq" / "generate.py", "eyhub_rabbitmq_generate")

#: (event type, consuming service) from the handlers the services register: a queue
#: exists only for a running consumer (eyhub/components.py derives the topology).
CONSUMED = [
    (event_type, registry.service)
    for registry in registries()
    for by_type in registry.by_purpose().values()
    for event_type in by_type
]


def test_definitions_json_is_generated_from_the_code_topology() -> None:
    expected = GENERATOR.render(GENERATOR.build_definitions(GENERATOR.topology()))
    assert (DEPLOY / "rabbitmq" / "definitions.json").read_text() == expected, (
        "stale: run `.venv/bin/python deploy/rabbitmq/generate.py`"
    )


def test_definitions_declare_what_the_workers_declare() -> None:
    """Same names and arguments as kombu's declarations, or RabbitMQ answers 406."""
    from eyhub.components import subscriptions
    from shared.messaging.topology import Topology

    settings = load_settings({"EYHUB_BROKER_URL": "amqp://x@rabbitmq//"})
    topology = Topology(settings, subscriptions())
    assert topology.server
    declared = {q["name"]: q["arguments"] for q in DEFINITIONS["queues"]}
    assert declared == {q.name: dict(q.queue_arguments) for q in topology.all_queues()}
    assert {(e["name"], e["type"]) for e in DEFINITIONS["exchanges"]} == {
        (e.name, e.type) for e in topology.exchanges()
    }
    bound = {(b["source"], b["destination"], b["routing_key"]) for b in DEFINITIONS["bindings"]}
    assert bound == {
        (b.exchange.name, q.name, b.routing_key) for q in topology.all_queues() for b in q.bindings
    }


def test_every_queue_is_quorum_and_dead_letters_to_a_bound_queue() -> None:
    exchanges = {e["name"]: e for e in DEFINITIONS["exchanges"]}
    events = exchanges["eyhub.events"]
    dlx = exchanges["eyhub.dead-letters"]
    assert events["type"] == "topic" and dlx["type"] == "direct"
    assert events["durable"] and dlx["durable"]
    queues = {q["name"]: q for q in DEFINITIONS["queues"]}
    bindings = DEFINITIONS["bindings"]
    for binding in bindings:
        assert binding["source"] in exchanges and binding["destination"] in queues, binding
    dead_letter_queues = {b["destination"] for b in bindings if b["source"] == dlx["name"]}
    assert dead_letter_queues
    for name, queue in queues.items():
        args = queue["arguments"]
        assert queue["durable"] and not queue["auto_delete"], name
        assert args["x-queue-type"] == "quorum", name
        if name in dead_letter_queues:
            assert "x-dead-letter-exchange" not in args, f"{name}: dead letters would loop"
            continue
        assert name.split(".")[0] in COMPONENTS, f"{name}: not <consuming component>.<purpose>"
        assert args["x-dead-letter-exchange"] == dlx["name"], name
        key = args["x-dead-letter-routing-key"]
        parked = [
            b["destination"]
            for b in bindings
            if b["source"] == dlx["name"] and b["routing_key"] == key
        ]
        assert parked, f"{name}: its dead letters would be dropped"
        assert any(b["destination"] == name and b["source"] == events["name"] for b in bindings)
    vhosts = {v["name"] for v in DEFINITIONS["vhosts"]}
    for item in [*DEFINITIONS["exchanges"], *DEFINITIONS["queues"], *bindings]:
        assert item["vhost"] in vhosts


@pytest.mark.parametrize(("event_type", "consumer"), CONSUMED)
def test_every_consumed_event_reaches_its_consumer(event_type: str, consumer: str) -> None:
    routed = {
        b["destination"]
        for b in DEFINITIONS["bindings"]
        if b["source"] == "eyhub.events" and topic_matches(b["routing_key"], event_type)
    }
    assert any(q.startswith(f"{consumer}.") for q in routed), (event_type, routed)
    assert all(q.split(".")[0] in COMPONENTS for q in routed), routed


def test_topic_matching_helper() -> None:
    assert topic_matches("catalogue.session.*", "catalogue.session.cancelled")
    assert not topic_matches("catalogue.session.*", "catalogue.event.updated")
    assert topic_matches("mentoring.#", "mentoring.match.accepted")
    assert not topic_matches("mentoring.#", "bookings.booking.confirmed")
