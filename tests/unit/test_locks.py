"""The locks hold exactly the versions pyproject.toml pins (runtime vs development)."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lock(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            pkg, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", pkg).lower()] = version.strip()
    return pins


def _pins(requirements: list[str]) -> dict[str, str]:
    out = {}
    for req in requirements:
        name, version = req.split("==")
        out[re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()] = version
    return out


def test_runtime_and_dev_locks_match_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev = _lock("requirements.lock"), _lock("requirements-dev.lock")
    for name, version in _pins(project["dependencies"]).items():
        assert runtime.get(name) == version, f"{name}: pyproject {version}, lock differs"
    for name, version in _pins(project["optional-dependencies"]["test"]).items():
        assert dev.get(name) == version, f"{name}: pyproject {version}, dev lock {dev.get(name)}"
        assert name not in runtime, f"{name} is a test tool; keep it out of the runtime lock"
    assert not set(runtime) & set(dev)
    assert "-r requirements.lock" in (ROOT / "requirements-dev.lock").read_text()
