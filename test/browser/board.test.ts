/**
 * The live board in headless Chromium, following a real rehearsal flag day through the engine: while it runs the
 * page shows the cells it has reached (done, and the window's stages), the ingress closed and the downtime
 * clock; when node2's migration fails (a practice fault) the page shows that cell failed with the engine's
 * reason; the page never logs a console error. Screenshots go to FLAGDAY_SCREENSHOTS when set.
 */
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { Browser } from "playwright-core";
import { boardState, startBoard } from "../../checks/board";
import { bringUp, flagDay, layout } from "../../rehearsal/run";
import { ScratchNetwork, scratchNetwork } from "../../rehearsal/scratch";
import { consoleErrors, launchChromium } from "./chromium";

const shots = process.env.FLAGDAY_SCREENSHOTS ?? fs.mkdtempSync(path.join(os.tmpdir(), "flagday-board-"));
let browser: Browser;
let net: ScratchNetwork;
before(async () => {
  browser = await launchChromium();
  net = await scratchNetwork(`test-board-${process.pid}`, {
    config: { "flagday:local.stepLatencySeconds": "1", "flagday:checks.livePeriodSeconds": "2" },
  });
});
after(async () => {
  await browser?.close();
  await net?.cleanup();
  if (!process.env.FLAGDAY_SCREENSHOTS) fs.rmSync(shots, { recursive: true, force: true });
});

test(
  "the board follows a running flag day, then shows node2's failed migration with its reason",
  { timeout: 600_000 },
  async () => {
    await bringUp(net.stack, "v1.0.0", net.log);
    const faults = path.join(net.rootDir, "faults");
    fs.mkdirSync(faults, { recursive: true });
    fs.writeFileSync(
      path.join(faults, "node2-migrate"),
      'echo "practice fault: node2 migration refused" >&2\nexit 3\n',
    );
    const { nodes } = await layout(net.stack);
    const board = await startBoard(
      boardState(
        path.join(net.rootDir, "events.jsonl"),
        Object.fromEntries(nodes.map((n) => [n.name, n.admin])),
      ),
    );
    const page = await browser.newPage({ viewport: { width: 1500, height: 500 } });
    const errors = consoleErrors(page);
    try {
      const running = flagDay(net.stack, "v2.0.0", net.log).then(
        () => "completed",
        (e: Error) => e.message,
      );
      await page.goto(board.url);
      // Mid-flag-day: the window is open and node1 has been stopped.
      await page.waitForSelector('td.done[data-lane="node1"][data-stage="stop"]', { timeout: 120_000 });
      assert.equal(await page.textContent("#ingress"), "closed");
      assert.match((await page.textContent("#downtime")) ?? "", /downtime \d+ s/);
      assert.equal(await page.textContent('td[data-lane="network"][data-stage="ingress-reject"]'), "done");
      // node1's admin /info, read by the board: stopped now, so not answering.
      assert.match((await page.textContent("#board")) ?? "", /node1(done|running \d+ s)+not answering/);
      await page.screenshot({ path: path.join(shots, "board-mid-flag-day.png") });

      const failed = await page.waitForSelector('td.failed[data-lane="node2"][data-stage="migrate"]', {
        timeout: 120_000,
      });
      assert.match((await failed.getAttribute("title")) ?? "", /node2 migration refused|injected fault/);
      assert.match(
        (await page.textContent("#failures")) ?? "",
        /FAILED node2 migrate: .*(refused|injected fault)/,
      );
      assert.equal(
        await page.locator('td[data-stage="start"]').count(),
        0,
        "no node started the new enclave after the failure",
      );
      await page.screenshot({ path: path.join(shots, "board-failed.png") });
      assert.match(await running, /node2-migrate/);
      assert.deepEqual(errors, [], "no console errors");
    } finally {
      await page.close();
      await board.close();
    }
  },
);
