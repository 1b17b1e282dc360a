"""One customer's story through the SDK that openapi-python-client generates from the public spec.

Run by scripts/live-sdk against a live server; uses nothing but the generated package (and its httpx), as the
built wheel installs it (scripts/live-sdk runs it with the Python of a venv holding the wheel) or from a folder:
  python tests/sdk/scenario_python_client.py --url http://127.0.0.1:3001/api/v1 --sdk reports/sdk/python-client
"""

from __future__ import annotations

import datetime
import importlib
import json
import uuid
from typing import Any

from harness import NotInSdk, Scenario, arguments, as_typed, expect, header

GREETING = "Thanks for calling SDK Dental (openapi-python-client)!"


def main() -> int:
    args = arguments(__doc__ or "")
    # The generated package: installed, or imported from --sdk (reports/sdk/python-client).
    from switchboard_api_client import AuthenticatedClient, Client
    from switchboard_api_client.api.api_keys import create_api_key
    from switchboard_api_client.api.audit import list_audit_events
    from switchboard_api_client.api.auth import login, register_user
    from switchboard_api_client.api.business import create_business, get_business, update_business
    from switchboard_api_client.api.catalog import get_plan, list_plans
    from switchboard_api_client.api.health import get_health
    from switchboard_api_client.api.members import list_members
    from switchboard_api_client.models import (
        ApiKeyCreate,
        ApiKeyScope,
        ApiKeyWithSecret,
        AuditEventList,
        Business,
        BusinessCreate,
        BusinessPatch,
        Health,
        LoginRequest,
        MemberList,
        PlanList,
        Problem,
        RegisterRequest,
        Role,
        TokenPair,
        User,
    )
    from switchboard_api_client.types import Response

    s = Scenario("python-client", args.url)
    anonymous = Client(base_url=args.url, raise_on_unexpected_status=True)
    state = s.state

    def problem(response: Response[Any], status: int, code: str) -> str:
        expect(response.status_code == status, f"expected {status}, got {response.status_code}: {response.content!r}")
        expect(isinstance(response.parsed, Problem), f"not parsed as a Problem: {response.parsed!r}")
        expect(response.parsed.code == code, f"code {response.parsed.code!r}, expected {code!r}")
        return f"{status} Problem(code={response.parsed.code!r}, requestId={response.parsed.request_id!r})"

    def health() -> str:
        """getHealth: the service status"""
        response = get_health.sync_detailed(client=anonymous)
        expect(response.status_code == 200 and isinstance(response.parsed, Health), f"{response.status_code}")
        return f"status {response.parsed.status}, database {response.parsed.database}"

    def liveness() -> str:
        """getLiveness, if the public SDK has it"""
        try:
            module = importlib.import_module("switchboard_api_client.api.health.get_liveness")
        except ImportError as missing:
            raise NotInSdk("getLiveness is x-internal: not in the public bundle") from missing
        response = module.sync_detailed(client=anonymous)
        expect(response.status_code == 200, f"{response.status_code} from {response.content!r}")
        return "200"

    def register() -> str:
        """registerUser: a new account"""
        body = RegisterRequest(email=s.email, password=s.password, name="SDK Check")
        response = register_user.sync_detailed(client=anonymous, body=body)
        expect(response.status_code == 201 and isinstance(response.parsed, User), f"{response.status_code}")
        expect(response.parsed.email == s.email, f"email {response.parsed.email!r}")
        return f"201 {s.email}"

    def sign_in() -> str:
        """login: a token pair, then an authenticated client"""
        response = login.sync_detailed(client=anonymous, body=LoginRequest(email=s.email, password=s.password))
        expect(response.status_code == 200 and isinstance(response.parsed, TokenPair), f"{response.status_code}")
        state["user"] = AuthenticatedClient(
            base_url=args.url, token=response.parsed.access_token, raise_on_unexpected_status=True
        )
        return f"tokenType {response.parsed.token_type}, expiresIn {response.parsed.expires_in}"

    def create() -> str:
        """createBusiness with an Idempotency-Key"""
        state["key"] = str(uuid.uuid4())
        state["create"] = BusinessCreate(name="SDK Dental", timezone="Europe/Berlin")
        response = create_business.sync_detailed(
            client=state["user"], body=state["create"], idempotency_key=state["key"]
        )
        expect(response.status_code == 201 and isinstance(response.parsed, Business), f"{response.content!r}")
        state["business"] = response.parsed.id
        expect(header(response.headers, "ETag"), "no ETag on the 201")
        return f"201 {response.parsed.id}, Location {header(response.headers, 'Location')}"

    def retry() -> str:
        """createBusiness retried with the same key: the 201 replayed"""
        response = create_business.sync_detailed(
            client=state["user"], body=state["create"], idempotency_key=state["key"]
        )
        expect(response.status_code == 201, f"retry answered {response.status_code}: {response.content!r}")
        expect(isinstance(response.parsed, Business) and response.parsed.id == state["business"], "another id")
        replayed = header(response.headers, "Idempotent-Replayed")
        expect(replayed == "true", f"Idempotent-Replayed {replayed!r}")
        return f"201 replayed, same id {response.parsed.id}"

    def read() -> str:
        """getBusiness: the business and its ETag"""
        response = get_business.sync_detailed(client=state["user"])
        expect(response.status_code == 200 and isinstance(response.parsed, Business), f"{response.status_code}")
        expect(response.parsed.id == state["business"], "another business")
        state["etag"] = response.headers["ETag"]  # httpx's headers: any case works
        return f"ETag {state['etag']}"

    def conditional_update() -> str:
        """updateBusiness with If-Match of the ETag read: applied"""
        response = update_business.sync_detailed(
            client=state["user"], body=BusinessPatch(greeting=GREETING), if_match=state["etag"]
        )
        expect(response.status_code == 200 and isinstance(response.parsed, Business), f"{response.content!r}")
        expect(response.parsed.greeting == GREETING, f"greeting {response.parsed.greeting!r}")
        expect(response.headers["ETag"] != state["etag"], "the ETag did not change")
        return f"200, ETag {state['etag']} -> {response.headers['ETag']}"

    def stale_update() -> str:
        """updateBusiness with a stale If-Match: a 412 problem"""
        response = update_business.sync_detailed(
            client=state["user"], body=BusinessPatch(greeting="Too late"), if_match=state["etag"]
        )
        return problem(response, 412, "precondition_failed")

    def business_rule() -> str:
        """updateBusiness breaking a rule: a 422 problem"""
        response = update_business.sync_detailed(client=state["user"], body=BusinessPatch(receptionist_enabled=True))
        return problem(response, 422, "receptionist_requires_phone")

    def plans() -> str:
        """listPlans following nextCursor to the end"""
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            response = list_plans.sync_detailed(client=anonymous, limit=7, **({"cursor": cursor} if cursor else {}))
            expect(response.status_code == 200 and isinstance(response.parsed, PlanList), f"{response.content!r}")
            pages += 1
            seen += [str(plan.id) for plan in response.parsed.data]
            cursor = response.parsed.next_cursor
            if cursor is None:
                break
            expect(pages < 100, "more than 100 pages")
        whole = list_plans.sync_detailed(client=anonymous, limit=100)
        expect(isinstance(whole.parsed, PlanList), f"{whole.status_code}")
        expect(seen == [str(plan.id) for plan in whole.parsed.data], "the pages differ from one page of 100")
        expect(pages > 1, f"only {pages} page: the cursor was not exercised")
        return f"{len(seen)} plans in {pages} pages, no gap, no repeat"

    def missing() -> str:
        """getPlan of an unknown id: a 404 problem"""
        return problem(get_plan.sync_detailed(client=anonymous, plan_id=uuid.uuid4()), 404, "not_found")

    def api_key() -> str:
        """createApiKey, then getBusiness with X-API-Key"""
        body = ApiKeyCreate(name="SDK check", scopes=[ApiKeyScope("business:read")])
        created = create_api_key.sync_detailed(client=state["user"], body=body, idempotency_key=str(uuid.uuid4()))
        expect(created.status_code == 201 and isinstance(created.parsed, ApiKeyWithSecret), f"{created.content!r}")
        expect(isinstance(created.parsed.secret, str), "no secret")
        s.note(f"enum member names: {', '.join(f'{m.name}={m.value}' for m in ApiKeyScope)}")
        machine = AuthenticatedClient(
            base_url=args.url, token=created.parsed.secret, prefix="", auth_header_name="X-API-Key"
        )
        response = get_business.sync_detailed(client=machine)
        expect(response.status_code == 200 and isinstance(response.parsed, Business), f"{response.content!r}")
        expect(response.parsed.id == state["business"], "another business")
        return f"key {created.parsed.prefix}... reads business {response.parsed.id}"

    def newer_server() -> str:
        """listMembers as a newer server could answer it: a role this SDK does not know reads as a string"""
        response = list_members.sync_detailed(client=state["user"])
        expect(response.status_code == 200 and isinstance(response.parsed, MemberList), f"{response.content!r}")
        expect(response.parsed.data[0].role == Role.OWNER, f"known role {response.parsed.data[0].role!r}")
        payload = json.loads(response.content)
        payload["data"][0]["role"] = "auditor"
        newer = MemberList.from_dict(payload).data[0].role
        expect(newer == "auditor", f"unknown role {newer!r}")
        return f"known role {Role.OWNER!r}, unknown role {newer!r}"

    def audit_since() -> str:
        """listAuditEvents since a date-time: the business's creation"""
        since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
        typed = as_typed(list_audit_events.sync_detailed, "since", since)
        response = list_audit_events.sync_detailed(client=state["user"], since=typed, limit=100)
        expect(response.status_code == 200, f"{response.status_code}: {response.content!r}")
        expect(isinstance(response.parsed, AuditEventList), f"{response.parsed!r}")
        actions = {event.action for event in response.parsed.data}
        expect("business.created" in actions, f"actions {sorted(actions)}")
        return f"{len(response.parsed.data)} events since {since.isoformat()}"

    return s.run(
        [
            health,
            liveness,
            register,
            sign_in,
            create,
            retry,
            read,
            conditional_update,
            stale_update,
            business_rule,
            plans,
            missing,
            api_key,
            newer_server,
            audit_since,
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
