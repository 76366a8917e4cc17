/**
 * Headless Chromium for the browser tests: Debian's `chromium` package driven by playwright-core (both pinned:
 * .ci/run installs the package). A machine without it fails the test with the command that installs it: the
 * browser tests never skip. Also a loopback HTTP server for the pages and the local copy of mermaid (no CDN).
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { Browser, chromium, Page } from "playwright-core";

export const ROOT = path.resolve(__dirname, "..", "..");
export const CHROMIUM = process.env.FLAGDAY_CHROMIUM ?? "/usr/bin/chromium";

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `headless Chromium is not installed at ${CHROMIUM}: install Debian's package with ` +
        `\`sudo apt-get install -y chromium\` (.ci/run does), or point FLAGDAY_CHROMIUM at a Chromium binary.`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // This machine has no internet: keep Chromium from trying its background services at every start.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** The page's console errors and uncaught exceptions from now on, as they come: a page under test logs none. */
export function consoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));
  return errors;
}

/** Serves `routes` (path -> body and type) on 127.0.0.1; mermaid's own bundle at /mermaid.min.js. */
export async function serve(
  routes: Record<string, { body: string | Buffer; type: string }>,
): Promise<{ url: string; close(): Promise<void> }> {
  const all = {
    // Browsers ask for it on every page: an empty icon, so that no 404 reaches the console.
    "/favicon.ico": { body: "", type: "image/x-icon" },
    ...routes,
    "/mermaid.min.js": {
      body: fs.readFileSync(path.join(ROOT, "node_modules", "mermaid", "dist", "mermaid.min.js")),
      type: "text/javascript",
    },
  };
  const server = http.createServer((req, res) => {
    const r = all[(req.url ?? "/").split("?")[0] as keyof typeof all];
    if (!r) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": r.type }).end(r.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
