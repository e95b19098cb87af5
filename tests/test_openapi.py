from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from fastapi.testclient import TestClient

from api.app import create_app
from tests.conftest import token_for

APP = create_app()
schema = schemathesis.openapi.from_asgi("/api/openapi.json", APP)
schema.config.generation.update(max_examples=10, deterministic=True)


@pytest.fixture()
def bearer(demo: dict[str, int]) -> dict[str, str]:
    with TestClient(APP) as client:
        return {"Authorization": f"Bearer {token_for(client, 'demo-admin')}"}


@schema.parametrize()
@settings(max_examples=10, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api(case: Any, bearer: dict[str, str]) -> None:
    case.call_and_validate(headers=bearer)
