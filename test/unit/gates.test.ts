import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  describeWindow,
  testnetRefusal,
  windowBounds,
  windowRefusal,
  type MaintenanceWindow,
} from "../../components/gates";
import { historyEntry, planUpgrade, type Plan, type Transition } from "../../components/plan";
import { deployedOn, V1, V2, V3 } from "./fixtures";

const transitionOf = (plan: Plan): Transition => {
  assert.equal(plan.kind, "transition");
  return (plan as Extract<Plan, { kind: "transition" }>).transition;
};

const flagDay = planUpgrade(V2, deployedOn(V1));
const fdId = transitionOf(flagDay).id;
const completed = deployedOn(V2, [historyEntry(transitionOf(flagDay), {})], transitionOf(flagDay));
const rollback = planUpgrade(V1, completed);
const steady = planUpgrade(V1, deployedOn(V1));

/** The night US clocks spring forward: 01:00 EST (06:00Z) to 04:00 EDT (08:00Z) is only two hours long. */
const NY: MaintenanceWindow = {
  start: "2026-03-08T01:00",
  end: "2026-03-08T04:00",
  timeZone: "America/New_York",
};
const NY_TEXT = "2026-03-08 01:00 EST to 2026-03-08 04:00 EDT (2026-03-08 06:00 UTC to 2026-03-08 08:00 UTC)";
const up = { dryRun: false };
const at = (iso: string) => new Date(iso);

describe("windowBounds", () => {
  test("a valid window is read in its zone", () => {
    const b = windowBounds(NY);
    assert.equal(b.start.toUTC().toISO(), "2026-03-08T06:00:00.000Z");
    assert.equal(b.end.toUTC().toISO(), "2026-03-08T08:00:00.000Z");
    assert.equal(b.start.zoneName, "America/New_York");
    const z = windowBounds({ start: "2026-12-01T14:00", end: "2026-12-01T18:00", timeZone: "Europe/Zurich" });
    assert.equal(z.start.toUTC().toISO(), "2026-12-01T13:00:00.000Z");
  });

  test("a summer date in New York is UTC-4, not UTC-5", () => {
    const b = windowBounds({
      start: "2026-07-01T14:00",
      end: "2026-07-01T18:00",
      timeZone: "America/New_York",
    });
    assert.equal(b.start.toUTC().toISO(), "2026-07-01T18:00:00.000Z");
  });

  test("a bad or missing zone names timeZone", () => {
    assert.throws(() => windowBounds({ ...NY, timeZone: "Mars/Olympus_Mons" }), {
      message:
        'flagday:window.timeZone must be an IANA time zone such as UTC or Europe/Zurich (got "Mars/Olympus_Mons").',
    });
    assert.throws(() => windowBounds({ start: NY.start, end: NY.end }, "flagday:mainnetWindow"), {
      message:
        'flagday:mainnetWindow.timeZone must be an IANA time zone such as UTC or Europe/Zurich (got "").',
    });
  });

  test("an offset in start or end is refused", () => {
    for (const start of ["2026-03-08T01:00Z", "2026-03-08T01:00+01:00", "2026-03-08T01:00-0500"]) {
      assert.throws(() => windowBounds({ ...NY, start }), {
        message:
          `flagday:window.start must be a local date and time like 2026-12-01T14:00 (no offset: the zone is ` +
          `flagday:window.timeZone), got ${JSON.stringify(start)}.`,
      });
    }
    assert.throws(
      () => windowBounds({ ...NY, end: "2026-03-08T04:00z" }),
      /^Error: flagday:window\.end must be/,
    );
  });

  test("an hour-only offset (-05) in start is refused: it would shift the window", () => {
    assert.throws(
      () =>
        windowBounds({ start: "2026-12-01T14:00-05", end: "2026-12-01T23:00", timeZone: "Europe/Zurich" }),
      /flagday:window\.start must be a local date and time/,
    );
  });

  test("missing or unparsable start/end are refused", () => {
    assert.throws(() => windowBounds({ end: NY.end, timeZone: NY.timeZone }), {
      message:
        "flagday:window.start must be a local date and time like 2026-12-01T14:00 (no offset: the zone is " +
        "flagday:window.timeZone), got undefined.",
    });
    assert.throws(
      () => windowBounds({ ...NY, end: "tomorrow 4pm" }),
      /flagday:window\.end must be .* got "tomorrow 4pm"\.$/,
    );
  });

  test("end at or before start is refused", () => {
    assert.throws(() => windowBounds({ ...NY, end: "2026-03-08T00:30" }), {
      message: "flagday:window.end (2026-03-08T00:30) must be after flagday:window.start (2026-03-08T01:00).",
    });
    assert.throws(() => windowBounds({ ...NY, end: NY.start }), /must be after flagday:window\.start/);
  });
});

describe("describeWindow", () => {
  test("both ends in the window's zone and in UTC", () => {
    assert.equal(describeWindow(windowBounds(NY)), NY_TEXT);
    assert.equal(
      describeWindow(windowBounds({ start: "2026-12-01T14:00", end: "2026-12-01T18:30", timeZone: "UTC" })),
      "2026-12-01 14:00 UTC to 2026-12-01 18:30 UTC (2026-12-01 14:00 UTC to 2026-12-01 18:30 UTC)",
    );
  });
});

describe("windowRefusal", () => {
  test("inside the window (start inclusive, end exclusive, across the DST change): allowed", () => {
    for (const now of ["2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:59:59Z"]) {
      assert.equal(windowRefusal(flagDay, NY, at(now), up), undefined, now);
    }
  });

  test("outside the window: refused, naming both ends and the time now", () => {
    assert.equal(
      windowRefusal(flagDay, NY, at("2026-03-08T08:00:00Z"), up),
      `flagday: the flag day v5.2.3 -> v6.0.0 may only start in the maintenance window ${NY_TEXT}; it is now ` +
        `2026-03-08 08:00 UTC. Nothing was changed. Wait for the window, move flagday:window, or set ` +
        `flagday:windowOverride to the reason (recorded in the history).`,
    );
    // 08:30Z would be inside if 04:00 were read as EST (09:00Z): the DST change must shorten the window.
    assert.match(
      windowRefusal(flagDay, NY, at("2026-03-08T08:30:00Z"), up) ?? "",
      /it is now 2026-03-08 08:30 UTC/,
    );
    assert.match(
      windowRefusal(flagDay, NY, at("2026-03-08T05:59:00Z"), up) ?? "",
      /it is now 2026-03-08 05:59 UTC/,
    );
  });

  test("a preview is always allowed, even outside the window or with none", () => {
    assert.equal(windowRefusal(flagDay, NY, at("2026-01-01T00:00:00Z"), { dryRun: true }), undefined);
    assert.equal(windowRefusal(flagDay, undefined, at("2026-01-01T00:00:00Z"), { dryRun: true }), undefined);
  });

  test("a rollback (and anything that is not a flag day) is never held to the window", () => {
    assert.equal(transitionOf(rollback).sequence, "rollback-restore");
    assert.equal(windowRefusal(rollback, NY, at("2026-01-01T00:00:00Z"), up), undefined);
    assert.equal(windowRefusal(rollback, undefined, at("2026-01-01T00:00:00Z"), up), undefined);
    assert.equal(windowRefusal(steady, undefined, at("2026-01-01T00:00:00Z"), up), undefined);
    assert.equal(windowRefusal({ kind: "initial" }, undefined, at("2026-01-01T00:00:00Z"), up), undefined);
  });

  test("a flag day with no window and no override: refused, naming the transition and both settings", () => {
    assert.equal(
      windowRefusal(flagDay, undefined, at("2026-03-08T07:00:00Z"), up),
      `flagday: ${fdId} is a flag day but no maintenance window is set. Set flagday:window {start, end, timeZone} ` +
        `to the window agreed on the call, or set flagday:windowOverride to the reason for going ahead without ` +
        `one (it is recorded in the history).`,
    );
  });

  test("an override allows a flag day outside the window or without one", () => {
    const opts = { dryRun: false, override: "window moved by a day, agreed on the call" };
    assert.equal(windowRefusal(flagDay, NY, at("2026-03-09T12:00:00Z"), opts), undefined);
    assert.equal(windowRefusal(flagDay, undefined, at("2026-03-09T12:00:00Z"), opts), undefined);
    // Without it, the same moment is refused and the message tells the window and the override setting.
    const refused = windowRefusal(flagDay, NY, at("2026-03-09T12:00:00Z"), up) ?? "";
    assert.ok(refused.includes(NY_TEXT), refused);
    assert.ok(refused.includes("flagday:windowOverride"), refused);
  });

  test("a malformed window on a flag day up throws the field error", () => {
    assert.throws(
      () => windowRefusal(flagDay, { ...NY, timeZone: "America/New York" }, at("2026-03-08T07:00:00Z"), up),
      /flagday:window\.timeZone must be an IANA time zone .*"America\/New York"/,
    );
  });
});

describe("testnetRefusal", () => {
  const stack = "mobilecoin/flagday/testnet";
  const testnetDone = completed; // testnet completed the flag day V1 -> V2

  test("a completed flag day to the same release key on testnet: allowed", () => {
    assert.equal(testnetRefusal(flagDay, V2, testnetDone, stack), undefined);
    // The release key is version and MRENCLAVE: a different image on mainnet is still the same release.
    assert.equal(testnetRefusal(flagDay, { ...V2, image: "mainnet:tag" }, testnetDone, stack), undefined);
  });

  test("a different release: refused, naming the testnet stack and what it last recorded", () => {
    assert.equal(
      testnetRefusal(planUpgrade(V3, completed), V3, testnetDone, stack),
      `flagday: release v6.0.1 has not completed a flag day on the testnet stack ` +
        `${stack}; its last recorded release is v6.0.0-${"b2".repeat(4)}. Run the flag day on testnet first, or ` +
        `set flagday:testnetOverride to the reason (recorded in the history).`,
    );
  });

  test("same version, different MRENCLAVE: allowed (each chain signs its own enclave of a release)", () => {
    const other = { ...V2, mrenclave: "ff".repeat(32) };
    assert.equal(testnetRefusal(flagDay, other, testnetDone, stack), undefined);
  });

  test("an aborted flag day to the release on testnet: refused", () => {
    const t = transitionOf(flagDay);
    const aborted = deployedOn(V1, [{ ...historyEntry(t, {}), outcome: "aborted" }]);
    const msg = testnetRefusal(flagDay, V2, aborted, stack) ?? "";
    assert.ok(
      msg.includes(`on the testnet stack ${stack}; its last recorded release is v5.2.3-${"a1".repeat(4)}.`),
      msg,
    );
  });

  test("a rollback that ended on the release is not a completed flag day to it", () => {
    // testnet went V2 -> V3 and rolled back to V2; the V2 flag day itself is not in this record.
    const fd = transitionOf(planUpgrade(V3, deployedOn(V2)));
    const rb = transitionOf(planUpgrade(V2, deployedOn(V3, [historyEntry(fd, {})], fd)));
    const record = deployedOn(V2, [historyEntry(fd, {}), historyEntry(rb, {})], rb);
    assert.ok(testnetRefusal(planUpgrade(V2, deployedOn(V1)), V2, record, stack));
  });

  test("no testnet record: refused, saying so", () => {
    assert.equal(
      testnetRefusal(flagDay, V2, undefined, "org/flagday/testnt"),
      `flagday: release v6.0.0 has not completed a flag day on the testnet stack ` +
        `org/flagday/testnt; it has no flagday record (never deployed, or the name is wrong). Run the flag day ` +
        `on testnet first, or set flagday:testnetOverride to the reason (recorded in the history).`,
    );
  });

  test("an override, a rollback or a steady update is not checked", () => {
    assert.equal(
      testnetRefusal(flagDay, V2, undefined, stack, "testnet is down; agreed on the call"),
      undefined,
    );
    assert.equal(testnetRefusal(rollback, V1, undefined, stack), undefined);
    assert.equal(testnetRefusal(steady, V1, undefined, stack), undefined);
    assert.equal(testnetRefusal({ kind: "initial" }, V1, undefined, stack), undefined);
  });
});
