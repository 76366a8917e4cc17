/**
 * The agent's API client against a real HTTPS server on loopback that answers badly on purpose: every request
 * settles. A request that never settled would stop the agent's loop for good (it awaits each one), and with it
 * every pod of a rehearsal cluster.
 */
import { after, before, describe, test } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { Api, ApiError, kubeApi } from "../../rehearsal/kube-agent/api";
import { tmpDir } from "../sim/helpers";

describe("the agent's API client settles every request", { timeout: 60_000 }, () => {
  let server: https.Server;
  let api: Api;
  let dir: string;
  const seen: string[] = [];

  before(async () => {
    dir = tmpDir("kube-api");
    const [key, cert] = [path.join(dir, "key.pem"), path.join(dir, "cert.pem")];
    execFileSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ]);
    server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ""}`);
      if (req.url === "/ok") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ kind: "Pod" }));
      } else if (req.url === "/missing") {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: 'pods "x" not found' }));
      } else if (req.url === "/text") {
        res.writeHead(502, { "content-type": "text/html" });
        res.end("<html>bad gateway</html>");
      } else if (req.url === "/cut") {
        // Headers and half an answer, then the connection breaks.
        res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
        res.write('{"kind":');
        setTimeout(() => req.socket.destroy(), 50);
      } else if (req.url === "/trickle") {
        // An answer that keeps coming, a byte at a time, and never ends: no idle timeout ever fires.
        res.writeHead(200, { "content-type": "application/json" });
        const timer = setInterval(() => res.write(" "), 200);
        res.on("close", () => clearInterval(timer));
      }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    const kubeconfig = path.join(dir, "kubeconfig");
    fs.writeFileSync(
      kubeconfig,
      [
        "apiVersion: v1",
        "kind: Config",
        "current-context: test",
        "clusters:",
        "- name: test",
        "  cluster:",
        `    server: https://127.0.0.1:${port}`,
        `    certificate-authority-data: ${fs.readFileSync(cert).toString("base64")}`,
        "contexts:",
        "- name: test",
        "  context: { cluster: test, user: test }",
        "users:",
        "- name: test",
        "  user: { token: t0ken }",
        "",
      ].join("\n"),
    );
    api = kubeApi(kubeconfig, undefined, { deadlineMs: 2_000 });
  });
  after(() => {
    server?.closeAllConnections();
    server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("a JSON answer resolves, with the kubeconfig's token sent", async () => {
    assert.deepEqual(await api("GET", "/ok"), { kind: "Pod" });
    assert.ok(seen.includes("GET /ok Bearer t0ken"), seen.join("; "));
  });

  test("an error status rejects with the status and the server's message", async () => {
    await assert.rejects(
      api("GET", "/missing"),
      (e: unknown) => e instanceof ApiError && e.status === 404 && /pods "x" not found/.test(e.message),
    );
  });

  test("an answer that is not JSON rejects with its status and its start, instead of throwing elsewhere", async () => {
    await assert.rejects(
      api("GET", "/text"),
      (e: unknown) =>
        e instanceof ApiError && e.status === 502 && /not JSON: <html>bad gateway/.test(e.message),
    );
  });

  test("an answer cut off mid-way rejects", async () => {
    await assert.rejects(api("GET", "/cut"), /GET \/cut/);
  });

  test("an answer that never ends rejects at the deadline", async () => {
    const started = Date.now();
    await assert.rejects(api("GET", "/trickle"), /GET \/trickle: no whole answer in 2 s/);
    const took = Date.now() - started;
    assert.ok(took >= 1_900 && took < 10_000, `rejected after ${took} ms`);
  });
});
