// A small consumer of the generated types: what `npm run check` (tsc --strict) proves compiles against them.
// It is never run; tests/packaging/test_types.py type-checks it after regenerating ltxstudio.d.ts.
import type { components, operations, paths } from "./ltxstudio";

type Schemas = components["schemas"];
export type CreateImage = paths["/images/create"]["post"]["requestBody"]["content"]["application/json"];
export type Started = operations["createImage"]["responses"][200]["content"]["application/json"];
export type Job = Schemas["Job"];

export const request: CreateImage = { prompt: "A serene mountain landscape at sunset", model: "flux" };

export function isDone(job: Job): boolean {
  return job.status.type === "completed" && job.status.artifact?.assetUrl !== undefined;
}

export function jobIdOf(started: Started): string {
  return "jobId" in started && started.jobId ? started.jobId : "";
}

export function accountEmails(accounts: Schemas["AccountMap"]): string[] {
  return Object.values(accounts).flatMap((a) => (a.email ? [a.email] : []));
}

// @ts-expect-error a prompt is required by the contract
export const missingPrompt: CreateImage = { model: "flux" };
