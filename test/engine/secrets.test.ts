/**
 * Secrets stay secrets through the real engine: the nodes' message-signer keys (Pulumi secrets in the stack
 * config) reach the node processes, and neither they nor the stack's passphrase appear in plain text in the
 * exported state, the engine's events and output, the stack file, or any log the rehearsal writes.
 */
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { EngineEvent } from "@pulumi/pulumi/automation";
import { flagDay, layout, openWindow, sendTraffic } from "../../rehearsal/run";
import { ROOT } from "../../rehearsal/run";
import { testNetwork } from "./rehearsal-harness";

const PASSPHRASE = "flagday-test-only";

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => path.join(dir, f))
    .filter((f) => fs.statSync(f).isFile() && !f.endsWith(".mdb"));
}

test(
  "message-signer keys and the passphrase never appear in state or logs",
  { timeout: 300_000 },
  async () => {
    const net = await testNetwork("secrets");
    try {
      const keys = Object.fromEntries(
        ["node1", "node2", "node3"].map((n) => [n, randomBytes(32).toString("base64")]),
      );
      for (const [n, k] of Object.entries(keys)) {
        await net.stack.setConfig(`flagday:msgSignerKeys.${n}`, { value: k, secret: true }, true);
      }
      const seen: string[] = [];
      const record = (e: EngineEvent) => seen.push(JSON.stringify(e));
      const out = (s: string) => seen.push(s);
      await net.stack.setConfig("flagday:release", { value: "v1.0.0" });
      await net.stack.up({ onEvent: record, onOutput: out });
      await sendTraffic(net.stack, 2, net.log);
      await openWindow(net.stack, net.log);
      const report = await flagDay(net.stack, "v2.0.0", net.log);
      seen.push(...report.timed.map((t) => JSON.stringify(t.event)), ...net.lines);

      // The keys reached the nodes: each reports the fingerprint of its own key.
      const { nodes } = await layout(net.stack);
      for (const n of nodes) {
        const info = (await (await fetch(`${n.admin}/info`)).json()) as {
          config: { config: { msg_signer_key_fingerprint: string } };
        };
        const expected = createHash("sha256").update(keys[n.name]).digest("hex").slice(0, 16);
        assert.equal(info.config.config.msg_signer_key_fingerprint, expected, `${n.name} got its key`);
      }

      // `pulumi stack export` as an operator runs it (the Automation API's exportStack adds --show-secrets), and
      // every file the state backend wrote.
      const ws = net.stack.workspace as unknown as { envVars: Record<string, string> };
      const exported = execFileSync(
        path.join(ROOT, ".engine", "bin", "pulumi"),
        ["stack", "export", "--stack", net.name],
        {
          cwd: ROOT,
          env: { ...process.env, ...ws.envVars },
          encoding: "utf8",
        },
      );
      const backend = filesUnder(path.join(path.dirname(net.rootDir), "state"))
        .map((f) => fs.readFileSync(f, "utf8"))
        .join("\n");
      const state = exported + "\n" + backend;
      const stackFile = fs.readFileSync(path.join(ROOT, "stacks", `Pulumi.${net.name}.yaml`), "utf8");
      const logs = filesUnder(net.rootDir).map((f) => [f, fs.readFileSync(f, "utf8")] as const);
      assert.ok(
        logs.some(([f]) => f.endsWith("node.log")),
        "the node logs were searched",
      );
      assert.ok(exported.includes("ciphertext"), "the exported state holds the keys encrypted");
      assert.ok(backend.includes("ciphertext"), "the backend's files hold the keys encrypted");
      const haystacks: [string, string][] = [
        ["exported state and the backend's files", state],
        ["engine events and output", seen.join("\n")],
        ["stack config file", stackFile],
        ...logs.map(([f, text]) => [path.relative(net.rootDir, f), text] as [string, string]),
      ];
      for (const [name, secret] of [...Object.entries(keys), ["passphrase", PASSPHRASE]]) {
        for (const [where, text] of haystacks) {
          assert.ok(!text.includes(secret), `${name}'s secret found in plain text in ${where}`);
        }
      }
    } finally {
      await net.cleanup();
    }
  },
);
