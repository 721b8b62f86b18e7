// The frontend's contract, run against a real stack: sign in, create a household, create a
// chore, complete it, and read it back, all through the typed client. CI runs it against the
// local stack (scripts/client-example); it exits non-zero on any unexpected answer.
//
//   CHORE_API_URL=http://127.0.0.1:3000 COGNITO_ENDPOINT=... COGNITO_CLIENT_ID=... \
//   CHORE_USERNAME=ana@example.com CHORE_PASSWORD=... node dist/example.js

import assert from "node:assert/strict";
import { API_VERSION, ProblemError, createChoreGardenClient, ok, signIn } from "./index.js";

function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`${name} is not set`);
  }
  return value;
}

async function main(): Promise<void> {
  const tokens = await signIn({
    cognitoEndpoint: env("COGNITO_ENDPOINT"),
    clientId: env("COGNITO_CLIENT_ID"),
    username: env("CHORE_USERNAME"),
    password: env("CHORE_PASSWORD"),
  });
  const deprecated: string[] = [];
  const api = createChoreGardenClient({
    baseUrl: env("CHORE_API_URL"),
    idToken: () => tokens.idToken,
    onDeprecated: (operation) => deprecated.push(operation),
  });

  const me = ok(await api.GET("/v1/me"));
  console.log(`signed in as ${me.email ?? me.userId}`);

  const created = await api.POST("/v1/households", {
    body: { name: `Client example ${new Date().toISOString()}`, timezone: "UTC" },
  });
  const household = ok(created);
  assert.equal(created.response.status, 201);
  assert.equal(created.response.headers.get("Api-Version"), API_VERSION);
  assert.equal(household.myRole, "owner");
  const householdId = household.householdId;
  console.log(`created household ${householdId}`);

  const path = { householdId };
  // Due an hour from now, so it can be completed at once (an occurrence opens half-way from
  // the one before it).
  const dueTime = new Date(Date.now() + 3600_000).toISOString().slice(11, 16);
  const chore = ok(
    await api.POST("/v1/households/{householdId}/tasks", {
      params: { path },
      body: {
        title: "Water the plants",
        recurrence: { type: "interval", every: 1, unit: "days" },
        dueTime,
        effort: 2,
        assignment: { type: "roundRobin" },
      },
    }),
  );
  assert.equal(chore.title, "Water the plants");
  console.log(`created chore ${chore.taskId}, due ${chore.nextDue}`);

  const recorded = ok(
    await api.POST("/v1/households/{householdId}/tasks/{taskId}/complete", {
      params: { path: { householdId, taskId: chore.taskId }, header: { "Idempotency-Key": crypto.randomUUID() } },
      body: { note: "Also the balcony", durationMinutes: 10 },
    }),
  );
  assert.equal(recorded.completion.kind, "completed");
  assert.equal(recorded.completion.userId, me.userId);
  assert.ok(recorded.completion.points > 0);
  assert.notEqual(recorded.task.nextDue, chore.nextDue, "the chore moved on");
  console.log(`completed it for ${recorded.completion.points} points; next due ${recorded.task.nextDue}`);

  const history = ok(await api.GET("/v1/households/{householdId}/completions", { params: { path } }));
  assert.deepEqual(
    history.items.map((c) => c.completionId),
    [recorded.completion.completionId],
  );

  // A refused request is a typed problem document with a stable code.
  const refused = await api.POST("/v1/households/{householdId}/tasks", {
    params: { path },
    body: { title: "   ", recurrence: { type: "interval", every: 1, unit: "days" } },
  });
  assert.equal(refused.response.status, 422);
  assert.equal(refused.error?.code, "request.validation_failed");
  assert.ok(refused.error?.errors?.some((e) => e.field === "title"));
  try {
    ok(refused);
    assert.fail("a problem is thrown");
  } catch (e) {
    assert.ok(e instanceof ProblemError && e.problem.correlationId.length > 0);
  }

  ok(await api.DELETE("/v1/households/{householdId}", { params: { path, header: { "If-Match": "*" } } }));
  assert.deepEqual(deprecated, []);
  console.log("the household is deleted again; the contract holds");
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
