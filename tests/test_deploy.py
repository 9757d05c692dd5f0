"""deploy/: the Kubernetes manifests validate against Kubernetes' schemas (strict), the
systemd units pass `systemd-analyze verify`, every role has both, and every setting they
give is one `llmpulse serve` reads."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmpulse.server.settings import ROLES, Settings

DEPLOY = Path(__file__).parent.parent / "deploy"
VENV = Path(sys.executable).parent.parent


def test_kubernetes_manifests_validate_strictly() -> None:
    tool = Path(sys.executable).parent / "kubernetes-validate"
    manifests = sorted(str(p) for p in (DEPLOY / "k8s").glob("*.yaml"))
    done = subprocess.run([str(tool), "--strict", *manifests], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("passed") >= len(ROLES) + 2


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_units_verify(tmp_path: Path) -> None:
    for unit in (DEPLOY / "systemd").glob("*.service"):  # the app where this venv is
        text = unit.read_text().replace("/opt/llmpulse/.venv", str(VENV))
        (tmp_path / unit.name).write_text(text)
    units = sorted(str(p) for p in tmp_path.glob("*.service"))
    done = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_every_role_is_deployed_with_real_settings() -> None:
    known = {f"LLMPULSE_{name.upper()}" for name in Settings.model_fields}
    for role in ROLES:
        if role == "all":
            continue
        unit = (DEPLOY / "systemd" / f"llmpulse-{role}.service").read_text()
        assert f"LLMPULSE_ROLE={role}" in unit
        manifest = list(yaml.safe_load_all((DEPLOY / "k8s" / f"{role}.yaml").read_text()))
        env = manifest[0]["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "LLMPULSE_ROLE", "value": role} in env
    given = set(
        re.findall(r"^(LLMPULSE_\w+)=", (DEPLOY / "systemd" / "llmpulse.env").read_text(), re.M)
    )
    for document in yaml.safe_load_all((DEPLOY / "k8s" / "config.yaml").read_text()):
        given |= set(document.get("data") or document.get("stringData"))
    assert given and given <= known, given - known
