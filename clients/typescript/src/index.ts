// A typed client for the Chore Garden API. The types come from openapi.yaml
// (`npm run generate` writes src/schema.d.ts); openapi-fetch turns them into a fetch wrapper
// whose paths, parameters, bodies and answers the compiler checks.

import createClient, { type Client, type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, paths } from "./schema.js";
export type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];
/** The dated versions the API serves (the enum of `Health.apiVersions`). */
export type ApiVersion = Schemas["Health"]["apiVersions"][number];

/** The version this client was written against: sent as `Api-Version` on every request. */
export const API_VERSION: ApiVersion = "2026-12-01";

export interface ClientOptions {
  /** e.g. `http://127.0.0.1:3000` or `https://<api>.execute-api.<region>.amazonaws.com/prod` */
  baseUrl: string;
  /** A Cognito ID token (see `signIn`); read before each request, so it can be refreshed. */
  idToken: () => string;
  /** Called with the headers of a deprecated operation's answer (`Deprecation`, `Sunset`, `Link`). */
  onDeprecated?: (operation: string, headers: Headers) => void;
}

export type ChoreGardenClient = Client<paths>;

export function createChoreGardenClient(options: ClientOptions): ChoreGardenClient {
  const client = createClient<paths>({ baseUrl: options.baseUrl });
  const middleware: Middleware = {
    onRequest({ request }) {
      request.headers.set("Authorization", options.idToken());
      request.headers.set("Api-Version", API_VERSION);
      return request;
    },
    onResponse({ request, response }) {
      if (response.headers.has("Deprecation")) {
        options.onDeprecated?.(`${request.method} ${new URL(request.url).pathname}`, response.headers);
      }
      return response;
    },
  };
  client.use(middleware);
  return client;
}

/** An answer that was a problem document, thrown by `ok`. */
export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(`${status} ${problem.code}: ${problem.detail} (correlation id ${problem.correlationId})`);
    this.name = "ProblemError";
  }
}

/** The data of a successful answer (`undefined` for a 204), or a `ProblemError` for a problem document. */
export function ok<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (!result.response.ok) {
    throw new ProblemError(result.response.status, result.error as Problem);
  }
  return result.data as T;
}

export interface SignInOptions {
  /** `https://cognito-idp.<region>.amazonaws.com/` (locally, the emulator's URL in `.local/stack.json`). */
  cognitoEndpoint: string;
  /** The user pool's app client id (the stack's `UserPoolClientId` output). */
  clientId: string;
  username: string;
  password: string;
}

export interface Tokens {
  idToken: string;
  accessToken: string;
  refreshToken?: string;
  expiresIn: number;
}

/** Signs in as a frontend does: Cognito `InitiateAuth` with `USER_PASSWORD_AUTH`. */
export async function signIn(options: SignInOptions): Promise<Tokens> {
  return cognito(options.cognitoEndpoint, "InitiateAuth", {
    AuthFlow: "USER_PASSWORD_AUTH",
    ClientId: options.clientId,
    AuthParameters: { USERNAME: options.username, PASSWORD: options.password },
  });
}

/** New ID and access tokens from the refresh token (`REFRESH_TOKEN_AUTH`). */
export async function refresh(cognitoEndpoint: string, clientId: string, refreshToken: string): Promise<Tokens> {
  const tokens = await cognito(cognitoEndpoint, "InitiateAuth", {
    AuthFlow: "REFRESH_TOKEN_AUTH",
    ClientId: clientId,
    AuthParameters: { REFRESH_TOKEN: refreshToken },
  });
  return { ...tokens, refreshToken: tokens.refreshToken ?? refreshToken };
}

interface AuthenticationResult {
  IdToken: string;
  AccessToken: string;
  RefreshToken?: string;
  ExpiresIn: number;
}

async function cognito(endpoint: string, action: string, body: unknown): Promise<Tokens> {
  const response = await fetch(endpoint, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.1",
      "X-Amz-Target": `AWSCognitoIdentityProviderService.${action}`,
    },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as { AuthenticationResult?: AuthenticationResult; message?: string };
  const result = answer.AuthenticationResult;
  if (!response.ok || result === undefined) {
    throw new Error(`Cognito ${action} failed (${response.status}): ${answer.message ?? "no tokens"}`);
  }
  return {
    idToken: result.IdToken,
    accessToken: result.AccessToken,
    expiresIn: result.ExpiresIn,
    ...(result.RefreshToken === undefined ? {} : { refreshToken: result.RefreshToken }),
  };
}
