"""compose.yaml (Redis + three replicas behind nginx) stays true to the CLI and the image: each replica's command and
environment, over the Dockerfile's, are settings `cxemu serve` accepts (Redis state, no state file, its own service
advertised), and the load balancer sends to every replica on the port the image serves."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator import cli

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def image_env() -> dict[str, str]:
    """The `CXEMU_*` variables the Dockerfile's `ENV` sets."""
    return dict(re.findall(r"(CXEMU_\w+)=(\S+)", (ROOT / "Dockerfile").read_text()))


def replicas() -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose()["services"].items() if name.startswith("cxemu-")}


@pytest.mark.parametrize("name", sorted(replicas()))
def test_each_replica_is_a_redis_backed_serve_advertising_its_own_service(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = replicas()[name]
    assert service["build"]["args"]["EXTRAS"] == "redis"  # the image has redis-py
    for key in [k for k in os.environ if k.startswith("CXEMU_")]:
        monkeypatch.delenv(key)
    for key, value in {**image_env(), **service["environment"]}.items():
        monkeypatch.setenv(key, str(value))
    args = cli._parser().parse_args(service["command"])
    settings = cli._settings(args)
    assert settings.state == "redis://redis:6379/0"
    assert settings.state_file is None  # the image's default is emptied (refused with Redis otherwise)
    assert settings.advertise == f"{name}:9000"
    assert (settings.host, settings.workers) == ("0.0.0.0", 1)


def test_the_load_balancer_sends_to_every_replica_on_the_port_the_image_serves() -> None:
    conf = (ROOT / "docs" / "compose" / "nginx.conf").read_text()
    upstream = re.findall(r"server (\S+);", conf)
    port = image_env()["CXEMU_PORT"]
    assert sorted(upstream) == sorted(f"{name}:{port}" for name in replicas())
    lb = compose()["services"]["lb"]
    assert "./docs/compose/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in lb["volumes"]
    assert "proxy_buffering off" in conf  # the event stream is not held back
