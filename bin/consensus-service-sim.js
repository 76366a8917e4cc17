#!/usr/bin/env node
// consensus-service-sim: SIMULATED consensus node of the flag-day rehearsal network (see rehearsal/sim/).
//
// A flag day on ten simulated nodes starts this program some forty times at once (stop, migrate, start, the
// node itself), so its own start-up is part of what the rehearsal measures: it runs rehearsal/sim/ as a bundle
// cached in .engine/sim/ (bin/bundle.js; measured: 0.12 s to 0.06 s of user time a start).
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { loadBundled } = require("./bundle");

function load() {
  // The daemon starts the node by running this file again (rehearsal/sim/daemon.ts).
  process.env.FLAGDAY_SIM_BIN = __filename;
  return loadBundled("rehearsal/sim/cli.ts", ".engine/sim/consensus-service-sim.cjs");
}

/**
 * `stop --dir <dir>` of a node that is not running (no pid file), answered without loading the simulator: a flag
 * day's start step runs it on every node at once for the server it replaces, whose stop step already stopped
 * it. Prints and exits as the simulator's own `stop` does then; anything else goes to the simulator.
 */
function stoppedAlready(argv) {
  const dir = argv.length === 3 && argv[0] === "stop" && argv[1] === "--dir" ? argv[2] : undefined;
  if (!dir || fs.existsSync(path.join(path.resolve(dir), "node.pid"))) return false;
  console.log(`consensus-service-sim ${path.basename(path.resolve(dir))}: already stopped`);
  return true;
}

if (stoppedAlready(process.argv.slice(2))) process.exit(0);

load()
  .main(process.argv.slice(2))
  .then(
    (code) => process.exit(code),
    (e) => {
      console.error(e && e.stack ? e.stack : e);
      process.exit(1);
    },
  );
