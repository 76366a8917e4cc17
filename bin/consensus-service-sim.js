#!/usr/bin/env node
// consensus-service-sim: SIMULATED consensus node of the flag-day rehearsal network (see rehearsal/sim/).
"use strict";
require("tsx/cjs");
require("../rehearsal/sim/cli.ts")
  .main(process.argv.slice(2))
  .then(
    (code) => process.exit(code),
    (e) => {
      console.error(e && e.stack ? e.stack : e);
      process.exit(1);
    },
  );
