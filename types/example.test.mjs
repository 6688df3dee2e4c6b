// @ts-check   (node --test example.test.mjs, with `ltx-mock serve` running)
import assert from "node:assert/strict";
import { test } from "node:test";
/** @typedef {import("./ltxstudio.js").components["schemas"]} Schemas */

const base = process.env.USEAPI_BASE_URL ?? "http://127.0.0.1:8787/v1/ltxstudio";
const admin = (process.env.LTX_MOCK_URL ?? "http://127.0.0.1:8787") + "/__admin";
const headers = { Authorization: `Bearer ${process.env.USEAPI_TOKEN ?? "demo-token"}`, "Content-Type": "application/json" };

test("an image job completes once simulated time passes", async () => {
  const created = await fetch(`${base}/images/create`, { method: "POST", headers,
                                                         body: JSON.stringify({ prompt: "A mountain at sunset" }) });
  const { jobId } = /** @type {Schemas["JobCreated"]} */ (await created.json());
  await fetch(`${admin}/clock`, { method: "POST", headers: { "Content-Type": "application/json" },
                                  body: JSON.stringify({ advance: 600 }) });
  const job = /** @type {Schemas["Job"]} */ (await (await fetch(`${base}/assets/${encodeURIComponent(jobId)}`, { headers })).json());
  assert.equal(job.status.type, "completed");
});
