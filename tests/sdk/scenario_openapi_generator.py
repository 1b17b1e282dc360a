"""One customer's story through the SDK that openapi-generator (`-g python`) generates from the public spec.

Run by scripts/live-sdk against a live server; uses nothing but the generated package (urllib3, pydantic):
  python tests/sdk/scenario_openapi_generator.py --url http://127.0.0.1:3001/api/v1 --sdk reports/sdk/openapi-generator
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any

from harness import CheckFailed, NotInSdk, Scenario, arguments, expect, header

GREETING = "Thanks for calling SDK Dental (openapi-generator)!"


def main() -> int:
    args = arguments(__doc__ or "")
    # The generated package, imported from --sdk (reports/sdk/openapi-generator).
    import switchboard_sdk as sdk
    from switchboard_sdk.exceptions import ApiException

    s = Scenario("openapi-generator", args.url)
    # The server's URL is given explicitly, as a customer of a deployment does; the spec's default is localhost:3001.
    anonymous = sdk.ApiClient(sdk.Configuration(host=args.url))
    state = s.state

    def problem(call: Any, status: int, code: str) -> str:
        try:
            call()
        except ApiException as error:
            name, data = type(error).__name__, error.data
            expect(error.status == status, f"expected {status}, got {error.status}: {error.body}")
            expect(isinstance(data, sdk.Problem), f"not parsed as a Problem: {name} {data!r}")
            expect(data.code == code, f"code {data.code!r}, expected {code!r}")
            return f"{name} {status} Problem(code={data.code!r}, requestId={data.request_id!r})"
        raise CheckFailed(f"no error: expected {status} {code}")

    def health() -> str:
        """getHealth: the service status"""
        status = sdk.HealthApi(anonymous).get_health()
        return f"status {status.status}, database {status.database}"

    def liveness() -> str:
        """getLiveness, if the public SDK has it"""
        if not hasattr(sdk.HealthApi, "get_liveness"):
            raise NotInSdk("getLiveness is x-internal: not in the public bundle")
        return f"status {sdk.HealthApi(anonymous).get_liveness().status}"

    def register() -> str:
        """registerUser: a new account"""
        user = sdk.AuthApi(anonymous).register_user(
            sdk.RegisterRequest(email=s.email, password=s.password, name="SDK Check")
        )
        expect(user.email == s.email, f"email {user.email!r}")
        return f"201 {s.email}"

    def sign_in() -> str:
        """login: a token pair, then an authenticated client"""
        tokens = sdk.AuthApi(anonymous).login(sdk.LoginRequest(email=s.email, password=s.password))
        state["user"] = sdk.ApiClient(sdk.Configuration(host=args.url, access_token=tokens.access_token))
        return f"tokenType {tokens.token_type}, expiresIn {tokens.expires_in}"

    def create() -> str:
        """createBusiness with an Idempotency-Key"""
        state["key"] = str(uuid.uuid4())
        state["create"] = sdk.BusinessCreate(name="SDK Dental", timezone="Europe/Berlin")
        response = sdk.BusinessApi(state["user"]).create_business_with_http_info(
            state["create"], idempotency_key=state["key"]
        )
        expect(response.status_code == 201, f"{response.status_code}")
        state["business"] = response.data.id
        expect(header(response.headers, "ETag"), f"no ETag among {sorted(response.headers or {})}")
        return f"201 {response.data.id}, Location {header(response.headers, 'Location')}"

    def retry() -> str:
        """createBusiness retried with the same key: the 201 replayed"""
        response = sdk.BusinessApi(state["user"]).create_business_with_http_info(
            state["create"], idempotency_key=state["key"]
        )
        expect(response.status_code == 201, f"retry answered {response.status_code}")
        expect(response.data.id == state["business"], "another id")
        replayed = header(response.headers, "Idempotent-Replayed")
        expect(replayed == "true", f"Idempotent-Replayed {replayed!r}")
        return f"201 replayed, same id {response.data.id}"

    def read() -> str:
        """getBusiness: the business and its ETag"""
        response = sdk.BusinessApi(state["user"]).get_business_with_http_info()
        expect(response.data.id == state["business"], "another business")
        headers = response.headers or {}
        state["etag"] = header(headers, "ETag")
        expect(state["etag"], f"no ETag among {sorted(headers)}")
        if "ETag" not in headers:
            s.note(f"headers is a plain {type(headers).__name__} with lower-case keys: headers['ETag'] is missing")
        return f"ETag {state['etag']}"

    def conditional_update() -> str:
        """updateBusiness with If-Match of the ETag read: applied"""
        response = sdk.BusinessApi(state["user"]).update_business_with_http_info(
            sdk.BusinessPatch(greeting=GREETING), if_match=state["etag"]
        )
        expect(response.status_code == 200, f"{response.status_code}")
        expect(response.data.greeting == GREETING, f"greeting {response.data.greeting!r}")
        etag = header(response.headers, "ETag")
        expect(etag and etag != state["etag"], f"the ETag did not change: {etag!r}")
        return f"200, ETag {state['etag']} -> {etag}"

    def stale_update() -> str:
        """updateBusiness with a stale If-Match: a 412 problem"""
        api = sdk.BusinessApi(state["user"])
        return problem(
            lambda: api.update_business(sdk.BusinessPatch(greeting="Too late"), if_match=state["etag"]),
            412,
            "precondition_failed",
        )

    def business_rule() -> str:
        """updateBusiness breaking a rule: a 422 problem"""
        api = sdk.BusinessApi(state["user"])
        return problem(
            lambda: api.update_business(sdk.BusinessPatch(receptionist_enabled=True)),
            422,
            "receptionist_requires_phone",
        )

    def plans() -> str:
        """listPlans following nextCursor to the end"""
        api = sdk.CatalogApi(anonymous)
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = api.list_plans(limit=7, cursor=cursor)
            pages += 1
            seen += [str(plan.id) for plan in page.data]
            cursor = page.next_cursor
            if cursor is None:
                break
            expect(pages < 100, "more than 100 pages")
        expect(seen == [str(plan.id) for plan in api.list_plans(limit=100).data], "the pages differ from one page")
        expect(pages > 1, f"only {pages} page: the cursor was not exercised")
        return f"{len(seen)} plans in {pages} pages, no gap, no repeat"

    def missing() -> str:
        """getPlan of an unknown id: a 404 problem"""
        api = sdk.CatalogApi(anonymous)
        return problem(lambda: api.get_plan(str(uuid.uuid4())), 404, "not_found")

    def api_key() -> str:
        """createApiKey, then getBusiness with X-API-Key"""
        created = sdk.ApiKeysApi(state["user"]).create_api_key(
            sdk.ApiKeyCreate(name="SDK check", scopes=[sdk.ApiKeyScope("business:read")]),
            idempotency_key=str(uuid.uuid4()),
        )
        expect(isinstance(created.secret, str), "no secret")
        s.note(f"enum member names: {', '.join(f'{m.name}={m.value}' for m in sdk.ApiKeyScope)}")
        machine = sdk.ApiClient(sdk.Configuration(host=args.url, api_key={"apiKey": created.secret}))
        business = sdk.BusinessApi(machine).get_business()
        expect(business.id == state["business"], "another business")
        return f"key {created.prefix}... reads business {business.id}"

    def newer_server() -> str:
        """listMembers as a newer server could answer it: a role this SDK does not know reads as a string"""
        raw = sdk.MembersApi(state["user"]).list_members_with_http_info().raw_data
        payload = json.loads(raw)
        known = sdk.MemberList.from_dict(payload).data[0].role.actual_instance
        expect(known == sdk.Role.OWNER, f"known role {known!r}")
        payload["data"][0]["role"] = "auditor"
        newer = sdk.MemberList.from_dict(payload).data[0].role.actual_instance
        expect(newer == "auditor", f"unknown role {newer!r}")
        return f"known role {known!r}, unknown role {newer!r}"

    def audit_since() -> str:
        """listAuditEvents since a time written as this generator writes datetimes (offset +0000)"""
        since = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
        api = sdk.AuditApi(state["user"])
        events = api.list_audit_events(since=since.strftime("%Y-%m-%dT%H:%M:%S.%f%z"), limit=100)
        actions = {event.action for event in events.data}
        expect("business.created" in actions, f"actions {sorted(actions)}")
        return f"{len(events.data)} events since {since.isoformat()}"

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
