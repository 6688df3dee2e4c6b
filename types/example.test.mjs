// @ts-check
// The README's Node test: the types of ltxstudio.d.ts on plain JavaScript (JSDoc), run with `node --test`
// against `ltx-mock serve` (USEAPI_BASE_URL, USEAPI_TOKEN, LTX_MOCK_URL for the control API).
import assert from "node:assert/strict";
import { test } from "node:test";

/** @typedef {import("./ltxstudio.js").components["schemas"]} Schemas */
/** @typedef {import("./ltxstudio.js").paths["/images/create"]["post"]["requestBody"]["content"]["application/json"]} CreateImage */

const base = process.env.USEAPI_BASE_URL ?? "http://127.0.0.1:8787/v1/ltxstudio";
const admin = (process.env.LTX_MOCK_URL ?? "http://127.0.0.1:8787") + "/__admin";
const headers = { Authorization: `Bearer ${process.env.USEAPI_TOKEN ?? "demo-token"}`, "Content-Type": "application/json" };

test("an image job completes once simulated time passes", async () => {
  /** @type {CreateImage} */
  const body = { prompt: "A serene mountain landscape at sunset" };
  const created = await fetch(`${base}/images/create`, { method: "POST", headers, body: JSON.stringify(body) });
  assert.equal(created.status, 200);
  const { jobId } = /** @type {Schemas["JobCreated"]} */ (await created.json());

  await fetch(`${admin}/clock`, { method: "POST", headers: { "Content-Type": "application/json" },
                                  body: JSON.stringify({ advance: 600 }) });

  const answer = await fetch(`${base}/assets/${encodeURIComponent(jobId)}`, { headers });
  const job = /** @type {Schemas["Job"]} */ (await answer.json());
  assert.equal(job.status.type, "completed");
  assert.match(job.status.artifact?.assetUrl ?? "", /^http/);
});
