#!/usr/bin/env node
// flagday: checks for the MobileCoin consensus flag-day upgrade (see checks/).
//
// Every network stage of a flag day (ingress, quiesce, attest, txtest, live) and every barrier runs this
// program, inside the window: it runs checks/ as a bundle cached in .engine/checks/ (bin/bundle.js), about half
// the CPU a start costs through tsx.
"use strict";
const { loadBundled } = require("./bundle");

loadBundled("checks/cli.ts", ".engine/checks/flagday.cjs")
  .main(process.argv.slice(2))
  .then(
    (code) => process.exit(code),
    (e) => {
      console.error(e && e.stack ? e.stack : e);
      process.exit(1);
    },
  );
