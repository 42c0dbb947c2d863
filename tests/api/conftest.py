"""API tests: aiohttp's in-process client on make_app with the real store and NullController."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openapi_schema_validator import OAS30Validator

from wirexa import config
from wirexa.api.app import make_app
from wirexa.api.auth import RateLimiter
from wirexa.api.context import ApiServices
from wirexa.calls.service import CallService, NullController
from wirexa.store import repo
from wirexa.store.bootstrap import ensure_project, open_store
from wirexa.store.db import Store

SPEC = Path(__file__).parent.parent.parent.parent / "shared" / "reference" / "twilio_api_v2010.json"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@cache
def _spec() -> dict[str, Any]:
    return json.loads(SPEC.read_text())  # type: ignore[no-any-return]


def validate(schema_name: str, body: dict[str, Any]) -> None:
    """Validate a JSON body against a component schema of Twilio's OpenAPI file."""
    spec = _spec()
    schema = dict(spec["components"]["schemas"][schema_name])
    schema["components"] = spec["components"]
    OAS30Validator(schema).validate(body)


@dataclasses.dataclass
class Api:
    client: TestClient  # type: ignore[type-arg]
    store: Store
    project: repo.ProjectRecord
    settings: Any
    services: ApiServices

    @property
    def auth(self) -> dict[str, str]:
        return basic(self.project.sid, self.project.auth_token)

    @property
    def base(self) -> str:
        return f"/2010-04-01/Accounts/{self.project.sid}"

    async def create(self, **form: str) -> Any:
        data = {"To": "+15005550006", "From": "+15005550100", "Url": "http://127.0.0.1:9/xml", **form}
        return await self.client.post(f"{self.base}/Calls.json", data=data, headers=self.auth)


async def make_api(tmp_path: Path, **overrides: Any) -> tuple[Api, TestServer]:
    settings = config.load(overrides={"data_dir": str(tmp_path), **overrides}, env={})
    store = open_store(settings)
    project = ensure_project(store)
    services = ApiServices(
        store=store,
        settings=settings,
        calls=CallService(store, NullController(store)),
        limiter=RateLimiter(settings.api_rate_limit_per_s, settings.api_rate_limit_burst),
    )
    server = TestServer(make_app(services))
    client = TestClient(server)
    await client.start_server()
    return Api(client, store, project, settings, services), server


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    a, _ = await make_api(tmp_path, api_rate_limit_per_s=0.0)
    yield a
    await a.client.close()
    a.store.close()
