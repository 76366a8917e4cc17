import * as path from "node:path";

/**
 * The checkout the checks run from: where `.engine/` (the Pulumi CLI) is, and what a file board's relative
 * folder is relative to. bin/flagday.js runs the checks as a bundle in `.engine/checks/`, whose `__dirname` is
 * not checks/, so it names the checkout in FLAGDAY_CHECKOUT; run through tsx (tests), this file's folder's parent.
 */
export const CHECKOUT = process.env.FLAGDAY_CHECKOUT || path.resolve(__dirname, "..");
