// A customer's code over the npm package scripts/live-sdk builds (@switchboard/api-client, installed from its
// .tgz): it must pass tsc --strict against the package's .d.ts (the @ts-expect-error lines prove the types are
// the contract's, not `any`), then run under Node against the live server: node package_usage.js BASE_URL.
import { createClient, type Schemas, type SwitchboardClient } from "@switchboard/api-client";

declare const process: { argv: string[] }; // Node's, without @types/node

async function main(baseUrl: string): Promise<void> {
  const api: SwitchboardClient = createClient(baseUrl);

  const health = await api.GET("/health");
  if (!health.data) throw new Error(`getHealth: ${health.response.status}`);
  const status: Schemas["Health"]["status"] = health.data.status;
  // @ts-expect-error: the contract's Health has no "uptime" (it is uptimeSeconds)
  void health.data.uptime;

  const plans = await api.GET("/plans", { params: { query: { country: "US", limit: 2 } } });
  if (!plans.data) throw new Error(`listPlans: ${plans.error.code}`);
  const names: string[] = plans.data.data.map((plan: Schemas["Plan"]) => plan.name);

  // @ts-expect-error: no such path in the contract
  void api.GET("/plan", {});

  const missing = await api.GET("/plans/{planId}", { params: { path: { planId: "00000000-0000-4000-8000-000000000000" } } });
  if (missing.response.status !== 404 || missing.error?.code === undefined) {
    throw new Error(`getPlan of an unknown id: ${missing.response.status}, expected a 404 Problem`);
  }
  console.log(`health ${status}; plans in US: ${names.join(", ") || "(none)"}; unknown plan: 404 ${missing.error.code}`);
}

const baseUrl = process.argv[2];
if (!baseUrl) throw new Error("usage: node package_usage.js BASE_URL");
await main(baseUrl);
