// What a TypeScript customer writes with openapi-typescript's types and openapi-fetch. scripts/live-sdk
// type-checks it under `tsc --strict` against the types generated from the public spec (./schema.d.ts).
// Bodies are written `{...} satisfies Schema`: openapi-fetch alone lets a misspelt body field through.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type Schemas = components["schemas"];
type Business = Schemas["Business"];
type Plan = Schemas["Plan"];
type Problem = Schemas["Problem"];

export async function setUp(baseUrl: string, email: string, password: string): Promise<Business> {
  const api = createClient<paths>({ baseUrl });

  const registered = await api.POST("/auth/register", {
    body: { email, password, name: "Ada Lovelace" } satisfies Schemas["RegisterRequest"],
  });
  if (registered.error) throw new Error(`registerUser: ${registered.error.code}`);

  const login = await api.POST("/auth/login", { body: { email, password } satisfies Schemas["LoginRequest"] });
  if (!login.data) throw new Error(`login: ${login.error.code} ${login.error.detail ?? ""}`);
  const auth = { Authorization: `Bearer ${login.data.accessToken}` };

  const created = await api.POST("/business/me", {
    headers: { ...auth, "Idempotency-Key": crypto.randomUUID() },
    body: { name: "Acme Dental", timezone: "America/New_York" } satisfies Schemas["BusinessCreate"],
  });
  if (!created.data) {
    const problem: Problem = created.error;
    throw new Error(`createBusiness: ${problem.status} ${problem.code}`);
  }

  const read = await api.GET("/business/me", { headers: auth });
  if (!read.data) throw new Error(`getBusiness: ${read.error.code}`);
  const etag = read.response.headers.get("ETag") ?? "";
  const patched = await api.PATCH("/business/me", {
    headers: { ...auth, "If-Match": etag },
    body: { greeting: "Thanks for calling!", forwardingNumber: null } satisfies Schemas["BusinessPatch"],
  });
  if (patched.error?.code === "precondition_failed") throw new Error("changed since it was read: read it again");

  const key = await api.POST("/api-keys", {
    headers: auth,
    body: { name: "CRM sync", scopes: ["business:read"] } satisfies Schemas["ApiKeyCreate"],
  });
  const secret: string | null | undefined = key.data?.secret;
  if (secret) {
    const byKey = await api.GET("/business/me", { headers: { "X-API-Key": secret } });
    const monday: Schemas["DayHours"] | undefined = byKey.data?.businessHours.monday;
    if (monday && !monday.closed) console.log(`open ${monday.open ?? "?"}-${monday.close ?? "?"}`);
  }
  return read.data;
}

export async function allPlans(baseUrl: string, country: string): Promise<Plan[]> {
  const api = createClient<paths>({ baseUrl });
  const plans: Plan[] = [];
  let cursor: string | undefined;
  for (;;) {
    const query = { country, limit: 100, ...(cursor ? { cursor } : {}) };
    const page = await api.GET("/plans", { params: { query } });
    if (!page.data) throw new Error(`listPlans: ${page.error.code}`);
    plans.push(...page.data.data);
    if (page.data.nextCursor === null) return plans;
    cursor = page.data.nextCursor;
  }
}

export async function missingPlan(baseUrl: string): Promise<string> {
  const api = createClient<paths>({ baseUrl });
  const { error } = await api.GET("/plans/{planId}", {
    params: { path: { planId: "00000000-0000-4000-8000-000000000000" } },
  });
  return error ? `${error.status} ${error.code}` : "found";
}
