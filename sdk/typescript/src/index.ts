// @switchboard/api-client: the types openapi-typescript generates from the public contract (./schema, written
// by scripts/live-sdk from the served /api/v1/openapi.json) and a client typed by them, over openapi-fetch.
import createFetchClient from "openapi-fetch";
import type { Client, ClientOptions } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, operations, paths } from "./schema.js";

/** The contract's schemas by name: `Schemas["Business"]`, `Schemas["Problem"]`... */
export type Schemas = components["schemas"];

/** A client of the Switchboard API: `GET`, `POST`, `PATCH`, `PUT`, `DELETE` on its paths, typed by the contract. */
export type SwitchboardClient = Client<paths>;

/**
 * A client of the API at `baseUrl` (e.g. "https://api.switchboard.example/api/v1"). `options` are openapi-fetch's
 * (headers sent with every request, a custom fetch...); sign in with `POST /auth/login` and send
 * `Authorization: Bearer <accessToken>`, or an API key as `X-API-Key`.
 */
export function createClient(baseUrl: string, options: Omit<ClientOptions, "baseUrl"> = {}): SwitchboardClient {
  return createFetchClient<paths>({ ...options, baseUrl });
}
