/**
 * The diagrams flagday writes, rendered in a real browser: the runbook's Mermaid flowchart for the rehearsal,
 * testnet and mainnet stacks (the golden files `flagday plan` is checked against) and the timeline's Mermaid
 * gantt render with mermaid's own bundle, with no console error; a broken diagram is reported (the check can
 * fail); the timeline SVG draws one visible bar per step with the downtime band. Screenshots go to a scratch
 * folder (FLAGDAY_SCREENSHOTS keeps them).
 */
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Browser } from "playwright-core";
import { Timeline, timelineGantt, timelineSvg } from "../../components/timeline";
import { consoleErrors, launchChromium, ROOT, serve } from "./chromium";

const shots = process.env.FLAGDAY_SCREENSHOTS ?? fs.mkdtempSync(path.join(os.tmpdir(), "flagday-shots-"));
let browser: Browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  if (!process.env.FLAGDAY_SCREENSHOTS) fs.rmSync(shots, { recursive: true, force: true });
});

const mermaidOf = (markdown: string) => /```mermaid\n([\s\S]*?)```/.exec(markdown)?.[1];
const T0 = Date.UTC(2026, 11, 4, 14);
const DAY: Timeline = {
  title: "flag-day v1.0.0 -> v2.0.0 on stack practice",
  steps: [
    { stage: "warm-snapshot", node: "node1", start: T0, end: T0 + 2000 },
    { stage: "ingress-reject", start: T0 + 3000, end: T0 + 3300 },
    { stage: "all-quiesced", start: T0 + 3300, end: T0 + 5000 },
    { stage: "stop", node: "node1", start: T0 + 5000, end: T0 + 6000 },
    { stage: "migrate", node: "node2", start: T0 + 6000, end: T0 + 8000, failed: true },
    { stage: "ingress-accept", start: T0 + 9000, end: T0 + 9400 },
  ],
};

/** Renders each diagram with mermaid in the page; returns what mermaid said and the page's console errors. */
async function renderMermaid(diagrams: Record<string, string>, shot: string) {
  const page = `<!doctype html><meta charset="utf-8"><body><script src="/mermaid.min.js"></script><script>
mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
(async () => {
  const diagrams = await (await fetch("/diagrams.json")).json();
  const out = {};
  for (const [id, text] of Object.entries(diagrams)) {
    try {
      const { svg } = await mermaid.render(id, text);
      document.body.insertAdjacentHTML("beforeend", "<section id='" + id + "-out'>" + svg + "</section>");
      out[id] = { ok: true };
    } catch (e) {
      out[id] = { ok: false, error: String(e && e.message || e) };
    }
  }
  window.__rendered = out;
})();
</script>`;
  const server = await serve({
    "/": { body: page, type: "text/html" },
    "/diagrams.json": { body: JSON.stringify(diagrams), type: "application/json" },
  });
  const tab = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = consoleErrors(tab);
  try {
    await tab.goto(server.url);
    await tab.waitForFunction("window.__rendered", undefined, { timeout: 60_000 });
    // Page-side code as text: this project's TypeScript has no DOM types.
    const rendered = (await tab.evaluate("window.__rendered")) as Record<
      string,
      { ok: boolean; error?: string }
    >;
    const svgs = (await tab.evaluate(`[...document.querySelectorAll("section")].map((s) => ({
      id: s.id,
      nodes: s.querySelectorAll("svg g").length,
      width: s.querySelector("svg")?.getBoundingClientRect().width ?? 0,
    }))`)) as { id: string; nodes: number; width: number }[];
    await tab.screenshot({ path: path.join(shots, shot), fullPage: true });
    return { rendered, svgs, errors };
  } finally {
    await tab.close();
    await server.close();
  }
}

test("the runbooks' Mermaid flowcharts and the timeline's gantt render in Chromium without an error", async () => {
  const diagrams: Record<string, string> = {};
  for (const stack of ["rehearsal", "testnet", "mainnet"]) {
    const text = mermaidOf(fs.readFileSync(path.join(ROOT, "test", "golden", `runbook-${stack}.md`), "utf8"));
    assert.ok(text, `the ${stack} runbook has a Mermaid flowchart`);
    diagrams[`plan-${stack}`] = text;
  }
  diagrams.timeline = mermaidOf(timelineGantt(DAY))!;
  const { rendered, svgs, errors } = await renderMermaid(diagrams, "mermaid.png");
  for (const id of Object.keys(diagrams)) {
    assert.deepEqual(rendered[id], { ok: true }, `${id} rendered`);
    const svg = svgs.find((s) => s.id === `${id}-out`);
    assert.ok(svg && svg.nodes > 5 && svg.width > 100, `${id} drew a visible diagram`);
  }
  assert.deepEqual(errors, [], "no console errors");
});

test("a broken diagram is reported, so the check above can fail", async () => {
  const { rendered } = await renderMermaid({ broken: "flowchart TD\n  a -->|unclosed b\n" }, "broken.png");
  assert.equal(rendered.broken.ok, false);
  assert.match(rendered.broken.error ?? "", /Parse error|Syntax|Expecting/i);
});

test("the timeline SVG draws a visible bar per step, the downtime band and the failed step in red", async () => {
  const tab = await browser.newPage({ viewport: { width: 1100, height: 400 } });
  const errors = consoleErrors(tab);
  try {
    await tab.setContent(`<!doctype html><body style="margin:0">${timelineSvg(DAY)}</body>`);
    const bars = (await tab.evaluate(`[...document.querySelectorAll("g.step")].map((g) => ({
      stage: g.getAttribute("data-stage"),
      lane: g.getAttribute("data-lane"),
      width: g.querySelector("rect").getBoundingClientRect().width,
      fill: getComputedStyle(g.querySelector("rect")).fill,
    }))`)) as { stage: string; lane: string; width: number; fill: string }[];
    assert.equal(bars.length, DAY.steps.length);
    for (const b of bars) assert.ok(b.width >= 2, `${b.lane} ${b.stage} is visible`);
    assert.equal(bars.find((b) => b.stage === "migrate")?.fill, "rgb(214, 39, 40)");
    const band = (await tab.evaluate(
      `document.querySelector("rect.downtime")?.getBoundingClientRect().width`,
    )) as number | undefined;
    assert.ok(band && band > 100, "the downtime band is drawn");
    await tab.screenshot({ path: path.join(shots, "timeline.png") });
    assert.deepEqual(errors, []);
  } finally {
    await tab.close();
  }
});
