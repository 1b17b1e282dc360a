// Must NOT compile: scripts/live-sdk asserts that `tsc --strict` rejects this file for exactly its two
// misspelt fields, so the generated types really guard both directions.
// openapi-fetch infers a call's options from the argument, which switches off TypeScript's excess-property
// check: `api.PATCH("/business/me", { body: { greting: "Hello" } })` compiles. `satisfies` with the
// schema's type (as usage.ts writes every body) brings the check back.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type BusinessPatch = components["schemas"]["BusinessPatch"];

export async function misspelt(baseUrl: string, token: string): Promise<boolean> {
  const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
  await api.PATCH("/business/me", { body: { greting: "Hello" } satisfies BusinessPatch });
  const read = await api.GET("/business/me");
  return read.data?.receptionistEnabeld ?? false;
}
