#!/usr/bin/env node
// flagday: checks for the MobileCoin consensus flag-day upgrade (see checks/).
"use strict";
require("tsx/cjs");
require("../checks/cli.ts")
  .main(process.argv.slice(2))
  .then(
    (code) => process.exit(code),
    (e) => {
      console.error(e && e.stack ? e.stack : e);
      process.exit(1);
    },
  );
