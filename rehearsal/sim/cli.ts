// CLI of consensus-service-sim, the SIMULATED consensus node of the rehearsal network.
//
//   consensus-service-sim run   --config <node.json>          foreground node
//   consensus-service-sim start --config <node.json>          daemonize; returns once /info answers
//   consensus-service-sim stop  --dir <node dir>              SIGTERM, wait for a clean exit (idempotent)
//   consensus-service-sim migrate --ledger-db <dir>/ledger [--to <format>]
//   consensus-service-sim ledger-dump --ledger-db <dir>/ledger
//   consensus-service-sim ingress run|start --config <ingress.json>
//   consensus-service-sim ingress stop --dir <ingress dir>

import * as path from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, loadIngressConfig, loadNodeConfig } from "../../components/local/simConfig";
import { startDaemon, stopDaemon } from "./daemon";
import { runIngress } from "./ingress";
import { LATEST_LEDGER_FORMAT, Ledger, LedgerError, migrateLedger } from "./ledger";
import { runNode, SIM_NAME } from "./node";
import { livePid, makeLogger, requestJson } from "./util";

const USAGE = `usage (${SIM_NAME}: SIMULATED consensus node for the flag-day rehearsal):
  consensus-service-sim run   --config <node.json>
  consensus-service-sim start --config <node.json>
  consensus-service-sim stop  --dir <node dir>
  consensus-service-sim migrate --ledger-db <node dir>/ledger [--to <format>] [--reverse]   (default: latest, ${LATEST_LEDGER_FORMAT}; --reverse goes back to an older format)
  consensus-service-sim ledger-dump --ledger-db <node dir>/ledger
  consensus-service-sim ingress run|start --config <ingress.json>
  consensus-service-sim ingress stop --dir <ingress dir>`;

function opts(args: string[], spec: Record<string, { type: "string" | "boolean" }>) {
  return parseArgs({ args, options: spec, allowPositionals: false }).values as Record<
    string,
    string | undefined
  >;
}

function need(v: string | undefined, flag: string): string {
  if (!v) throw new ConfigError(`missing ${flag}\n${USAGE}`);
  return v;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case "run": {
        const cfg = loadNodeConfig(need(opts(rest, { config: { type: "string" } }).config, "--config"));
        return await runNode(cfg, makeLogger(`${SIM_NAME}[${cfg.name}]`, cfg.logLevel));
      }
      case "start": {
        const file = path.resolve(need(opts(rest, { config: { type: "string" } }).config, "--config"));
        const cfg = loadNodeConfig(file);
        return await startDaemon({
          label: `${SIM_NAME} ${cfg.name}`,
          runArgs: ["run", "--config", file],
          pidFile: path.join(cfg.dir, "node.pid"),
          logFile: path.join(cfg.dir, "node.log"),
          ready: async () => {
            const r = await requestJson(`http://127.0.0.1:${cfg.ports.admin}/info`, { timeoutMs: 1000 });
            const info = r.body as { id?: string; build_info?: { simulated?: string } };
            return (
              r.status === 200 &&
              info.id === `127.0.0.1:${cfg.ports.peer}` &&
              info.build_info?.simulated === SIM_NAME
            );
          },
        });
      }
      case "stop": {
        const dir = path.resolve(need(opts(rest, { dir: { type: "string" } }).dir, "--dir"));
        return await stopDaemon(`${SIM_NAME} ${path.basename(dir)}`, path.join(dir, "node.pid"));
      }
      case "migrate": {
        const o = opts(rest, {
          "ledger-db": { type: "string" },
          to: { type: "string" },
          reverse: { type: "boolean" },
        });
        const dir = path.resolve(need(o["ledger-db"], "--ledger-db"));
        const to = o.to === undefined ? LATEST_LEDGER_FORMAT : Number(o.to);
        if (!Number.isInteger(to)) throw new ConfigError(`--to must be an integer, got ${o.to}`);
        const pid = livePid(path.join(path.dirname(dir), "node.pid"));
        if (pid !== undefined) {
          console.error(
            `migrate: refusing: ${dir} is in use by a running node (pid ${pid}); stop the node first`,
          );
          return 3;
        }
        const r = await migrateLedger(dir, to, { reverse: Boolean(o.reverse) });
        if (r.migrated)
          console.log(`migrate: ${dir}: migrated ledger format ${r.from} -> ${r.to} (${r.blocks} blocks)`);
        else console.log(`migrate: ${dir}: already at format ${r.to}, nothing to do (${r.blocks} blocks)`);
        return 0;
      }
      case "ledger-dump": {
        const dir = path.resolve(
          need(opts(rest, { "ledger-db": { type: "string" } })["ledger-db"], "--ledger-db"),
        );
        const { format, blocks } = await Ledger.inspect(dir);
        console.log(JSON.stringify({ format, blocks: blocks.map((b) => ({ index: b.index, id: b.id })) }));
        return 0;
      }
      case "ingress": {
        const [sub, ...r2] = rest;
        if (sub === "run" || sub === "start") {
          const file = path.resolve(need(opts(r2, { config: { type: "string" } }).config, "--config"));
          const cfg = loadIngressConfig(file);
          if (sub === "run") return await runIngress(cfg, makeLogger(`${SIM_NAME}-ingress`, cfg.logLevel));
          return await startDaemon({
            label: `${SIM_NAME} ingress`,
            runArgs: ["ingress", "run", "--config", file],
            pidFile: path.join(cfg.dir, "ingress.pid"),
            logFile: path.join(cfg.dir, "ingress.log"),
            ready: async () =>
              (await requestJson(`http://127.0.0.1:${cfg.control}/state`, { timeoutMs: 1000 })).status ===
              200,
          });
        }
        if (sub === "stop") {
          const dir = path.resolve(need(opts(r2, { dir: { type: "string" } }).dir, "--dir"));
          return await stopDaemon(`${SIM_NAME} ingress`, path.join(dir, "ingress.pid"));
        }
        console.error(USAGE);
        return 2;
      }
      case "-h":
      case "--help":
      case "help":
        console.log(USAGE);
        return 0;
      default:
        console.error(USAGE);
        return 2;
    }
  } catch (e) {
    if (e instanceof LedgerError || e instanceof ConfigError) {
      console.error(`${SIM_NAME} ${cmd}: ${e.message}`);
      return e instanceof LedgerError && e.code === "UNKNOWN_FORMAT" ? 4 : 1;
    }
    if ((e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`${(e as Error).message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}
