import { DateTime } from "luxon";
import { Deployed, Plan } from "./plan";
import { EnclaveRelease, releaseKey } from "./release";

/**
 * The maintenance window the operators agreed on the call. A flag day may only start inside it; `pulumi preview`
 * always works, and an explicit override (recorded in the history) exists for the day the window moves.
 */
export interface MaintenanceWindow {
  /** Local wall-clock start in `timeZone`, ISO 8601 without offset, e.g. `2026-12-01T14:00`. */
  readonly start: string;
  /** Local wall-clock end in `timeZone`, e.g. `2026-12-01T18:00`. */
  readonly end: string;
  /** IANA time zone of start and end, e.g. `America/New_York` or `UTC`. */
  readonly timeZone: string;
}

export interface WindowBounds {
  readonly start: DateTime;
  readonly end: DateTime;
}

/** Parses a window; throws an error naming the field and the fix. */
export function windowBounds(w: Partial<MaintenanceWindow>, where = "flagday:window"): WindowBounds {
  const zone = w.timeZone ?? "";
  // Only named IANA zones: "local" or "UTC+3" would make the window depend on the machine or ignore DST.
  if (
    (zone !== "UTC" && !/^[A-Za-z_]+\/[A-Za-z0-9_+\-/]+$/.test(zone)) ||
    !DateTime.now().setZone(zone).isValid
  ) {
    throw new Error(
      `${where}.timeZone must be an IANA time zone such as UTC or Europe/Zurich (got "${zone}").`,
    );
  }
  const parse = (field: "start" | "end") => {
    const v = w[field];
    const t = typeof v === "string" ? DateTime.fromISO(v, { zone, setZone: false }) : undefined;
    if (!t || !t.isValid || typeof v !== "string" || /([zZ]|[+-]\d\d(:?\d\d)?)$/.test(v)) {
      throw new Error(
        `${where}.${field} must be a local date and time like 2026-12-01T14:00 (no offset: the zone is ` +
          `${where}.timeZone), got ${JSON.stringify(v)}.`,
      );
    }
    return t;
  };
  const start = parse("start");
  const end = parse("end");
  if (end <= start) throw new Error(`${where}.end (${w.end}) must be after ${where}.start (${w.start}).`);
  return { start, end };
}

/** How the window reads on the call: both ends in the window's zone and in UTC. */
export function describeWindow(b: WindowBounds): string {
  const fmt = (t: DateTime) => t.toFormat("yyyy-MM-dd HH:mm ZZZZ");
  return `${fmt(b.start)} to ${fmt(b.end)} (${fmt(b.start.toUTC())} to ${fmt(b.end.toUTC())})`;
}

/**
 * Why this update may not start now, or undefined if it may. Only a flag day is held to the window: a preview
 * is always allowed, and a rollback restores service, so it is never blocked by the clock.
 */
export function windowRefusal(
  plan: Plan,
  window: MaintenanceWindow | undefined,
  now: Date,
  opts: { dryRun: boolean; override?: string },
): string | undefined {
  // A malformed window is bad input: it fails every run, previews included, before anything changes.
  if (window) windowBounds(window);
  if (opts.dryRun || plan.kind !== "transition" || plan.transition.sequence !== "flag-day") return undefined;
  if (!window) {
    return opts.override
      ? undefined
      : `flagday: ${plan.transition.id} is a flag day but no maintenance window is set. Set flagday:window ` +
          `{start, end, timeZone} to the window agreed on the call, or set flagday:windowOverride to the reason ` +
          `for going ahead without one (it is recorded in the history).`;
  }
  const b = windowBounds(window);
  const t = DateTime.fromJSDate(now);
  if (t >= b.start && t < b.end) return undefined;
  if (opts.override) return undefined;
  return (
    `flagday: the flag day ${plan.transition.from.version} -> ${plan.transition.to.version} may only start in ` +
    `the maintenance window ${describeWindow(b)}; it is now ${t.toUTC().toFormat("yyyy-MM-dd HH:mm 'UTC'")}. ` +
    `Nothing was changed. Wait for the window, move flagday:window, or set flagday:windowOverride to the reason ` +
    `(recorded in the history).`
  );
}

/**
 * Why the target release may not go to this (mainnet) stack yet, or undefined: it must have completed a flag
 * day on the testnet stack first, as the runbook asks. `testnet` is that stack's `flagday` output.
 */
export function testnetRefusal(
  plan: Plan,
  target: EnclaveRelease,
  testnet: Deployed | undefined,
  testnetStack: string,
  override?: string,
): string | undefined {
  if (plan.kind !== "transition" || plan.transition.sequence !== "flag-day" || override) return undefined;
  // By release tag: testnet and mainnet run the same release with different measurements (each chain has its
  // own signed enclave, `testnet-signed.so-<tag>` and `mainnet-signed.so-<tag>`), so their MRENCLAVEs differ.
  const done = testnet?.history.some(
    (h) => h.sequence === "flag-day" && h.outcome === "completed" && h.to.startsWith(`${target.version}-`),
  );
  if (done) return undefined;
  const seen = testnet
    ? `its last recorded release is ${releaseKey(testnet.release)}`
    : "it has no flagday record (never deployed, or the name is wrong)";
  return (
    `flagday: release ${target.version} has not completed a flag day on ` +
    `the testnet stack ${testnetStack}; ${seen}. Run the flag day on testnet first, or set ` +
    `flagday:testnetOverride to the reason (recorded in the history).`
  );
}
