#!/usr/bin/env node
// consensus-service-sim: SIMULATED consensus node of the flag-day rehearsal network (see rehearsal/sim/).
//
// A flag day on ten simulated nodes starts this program some forty times at once (stop, migrate, start, the
// node itself), so its own start-up is part of what the rehearsal measures: it runs rehearsal/sim/ as a bundle
// cached in .engine/sim/ (bin/bundle.js; measured: 0.12 s to 0.06 s of user time a start).
"use strict";
const { loadBundled } = require("./bundle");

function load() {
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
