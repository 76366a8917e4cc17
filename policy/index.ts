/**
 * The flagday policy pack: `npm run pulumi -- up -s <stack> --policy-pack policy` (or `preview`). Constructing the
 * pack starts serving the engine at once, so the policies live in policies.ts, where tests call them directly.
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("flagday", {
  description:
    "Flag-day safety for MobileCoin consensus networks: peers pin MRENCLAVE, one enclave per network, ledger " +
    "volumes protected and independent of the release, a snapshot of every node a flag day upgrades.",
  enforcementLevel: "mandatory",
  policies,
});
