/**
 * flagday-kube-agent's command line: `tsx rehearsal/kube-agent/main.ts --kubeconfig <file> --config <agent.json>
 * [--context <name>] [--keep-nodes]`. Runs until SIGINT or SIGTERM, then stops the simulated nodes it started
 * (with --keep-nodes it leaves them running, and the next agent adopts them). See agent.ts.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { KubeAgent } from "./agent";
import type { AgentConfig } from "./plan";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: "string" },
      config: { type: "string" },
      context: { type: "string" },
      "keep-nodes": { type: "boolean" },
    },
  });
  if (!values.kubeconfig || !values.config) {
    console.error(
      "usage: tsx rehearsal/kube-agent/main.ts --kubeconfig <file> --config <agent.json> [--context <c>] [--keep-nodes]",
    );
    process.exit(2);
  }
  const config = JSON.parse(fs.readFileSync(values.config, "utf8")) as AgentConfig;
  const agent = new KubeAgent(
    values.kubeconfig,
    { ...config, dir: path.resolve(path.dirname(values.config), config.dir) },
    values.context ? { context: values.context } : {},
  );
  await agent.start();
  const quit = () => void agent.stop({ keepNodes: values["keep-nodes"] }).then(() => process.exit(0));
  process.once("SIGINT", quit);
  process.once("SIGTERM", quit);
}

main().catch((e) => {
  console.error(`flagday-kube-agent: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
