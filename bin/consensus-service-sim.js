#!/usr/bin/env node
// consensus-service-sim: SIMULATED consensus node of the flag-day rehearsal network (see rehearsal/sim/).
//
// A flag day on ten simulated nodes starts this program some forty times at once (stop, migrate, start, the
// node itself), so its own start-up is part of what the rehearsal measures: it runs rehearsal/sim/ as a bundle
// cached in .engine/sim/ (bin/bundle.js; measured: 0.12 s to 0.06 s of user time a start).
"use strict";
const os = require("node:os");
const { loadBundled } = require("./bundle");

/**
 * A simulated node stands for a remote host: on a real network its work (loading, migrating, starting) runs on
 * that host and takes no CPU from the operator's machine. Here it shares the machine with the engine, the stack
 * program and the checks, so it runs at a lower priority: FLAGDAY_SIM_NICE, a niceness (unset or empty: 10; 0
 * shares the CPU equally). Its own steps take what they take, but ten nodes loading at once on two cores no
 * longer hold up the engine between steps (bench/profile.ts; the README's benchmarks, under "Tests"). Set
 * before the bundle loads, and inherited by the node the `start` command spawns. Only ever raised: a process
 * started nicer than this keeps its niceness.
 */
function lowerPriority() {
  const v = process.env.FLAGDAY_SIM_NICE || "10";
  const nice = Number(v);
  if (!Number.isInteger(nice) || nice < 0 || nice > 19) {
    console.error(
      `FLAGDAY_SIM_NICE=${v}: a niceness from 0 (the machine's normal priority) to 19 (the lowest)`,
    );
    process.exit(2);
  }
  try {
    if (os.getPriority() < nice) os.setPriority(nice);
  } catch {
    /* the platform does not let this process lower its priority: it runs as it is */
  }
}

function load() {
  lowerPriority();
  // The daemon starts the node by running this file again (rehearsal/sim/daemon.ts).
  process.env.FLAGDAY_SIM_BIN = __filename;
  return loadBundled("rehearsal/sim/cli.ts", ".engine/sim/consensus-service-sim.cjs");
}

load()
  .main(process.argv.slice(2))
  .then(
    (code) => process.exit(code),
    (e) => {
      console.error(e && e.stack ? e.stack : e);
      process.exit(1);
    },
  );
