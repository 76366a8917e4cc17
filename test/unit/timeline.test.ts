/** The timeline's SVG and Mermaid gantt: lanes, bars, barrier waits, the downtime, deterministic output. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { downtimeOf, lanesOf, Timeline, timelineGantt, timelineSvg } from "../../components/timeline";
import { recordedTimeline, updateStartOf } from "../../checks/timeline";

const T0 = Date.UTC(2026, 11, 4, 14, 0, 0);
const at = (s: number) => T0 + s * 1000;
const DAY: Timeline = {
  title: "flag-day v1.0.0 -> v2.0.0 on stack practice",
  steps: [
    { stage: "warm-snapshot", node: "node10", start: at(0), end: at(2) },
    { stage: "warm-snapshot", node: "node2", start: at(0), end: at(3) },
    { stage: "ingress-reject", start: at(4), end: at(4.2) },
    { stage: "all-quiesced", start: at(4.2), end: at(6) },
    { stage: "stop", node: "node2", start: at(6), end: at(7) },
    { stage: "migrate", node: "node10", start: at(6), end: at(8), failed: true },
    { stage: "ingress-accept", start: at(11), end: at(11.5) },
  ],
};

test("lanes: the network's first, then the nodes in natural order", () => {
  assert.deepEqual(lanesOf(DAY.steps), ["network", "node2", "node10"]);
});

test("several operators: a lane per operator and per node, the downtime from the first close to the last reopening", () => {
  const of = (operator: string, shift: number) =>
    DAY.steps.map((st) => ({ ...st, operator, start: st.start + shift * 1000, end: st.end + shift * 1000 }));
  const steps = [...of("bob", 1), ...of("alice", 0)];
  assert.deepEqual(lanesOf(steps), [
    "alice",
    "alice/node2",
    "alice/node10",
    "bob",
    "bob/node2",
    "bob/node10",
  ]);
  assert.deepEqual(downtimeOf(steps), { start: at(4), end: at(12.5) });
  const svg = timelineSvg({ title: "flag-day, 2 operators", steps });
  assert.equal((svg.match(/<g class="step"/g) ?? []).length, steps.length);
  assert.match(svg, /data-stage="stop" data-lane="bob\/node2"><title>bob\/node2 stop: 7\.0-8\.0 s<\/title>/);
  assert.match(svg, /data-stage="ingress-reject" data-lane="alice"><title>alice ingress-reject: /);
  const gantt = timelineGantt({ title: "flag-day, 2 operators", steps });
  assert.match(gantt, /section alice\/node10\n/);
});

test("downtime: from the reject's start to the accept's end; none without a reopening", () => {
  assert.deepEqual(downtimeOf(DAY.steps), { start: at(4), end: at(11.5) });
  assert.equal(downtimeOf(DAY.steps.filter((s) => s.stage !== "ingress-accept")), undefined);
});

test("the SVG: one bar per step in its lane, waits hatched, failure red, the downtime shaded and labelled", () => {
  const svg = timelineSvg(DAY);
  assert.equal(svg, timelineSvg(DAY), "deterministic");
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.equal((svg.match(/<g class="step"/g) ?? []).length, DAY.steps.length);
  assert.equal((svg.match(/<g /g) ?? []).length, (svg.match(/<\/g>/g) ?? []).length, "groups closed");
  assert.match(
    svg,
    /data-stage="all-quiesced" data-lane="network"><title>all-quiesced \(wait\): 4\.2-6\.0 s<\/title><rect [^>]*fill="url\(#wait\)"/,
  );
  assert.match(
    svg,
    /data-stage="migrate" data-lane="node10"><title>node10 migrate FAILED: 6\.0-8\.0 s<\/title><rect [^>]*fill="#d62728"/,
  );
  assert.match(svg, /downtime 7\.5 s \(ingress closed\)/);
  assert.ok(!/<script|href="http/.test(svg), "standalone: no scripts, no external references");
  const escaped = timelineSvg({ ...DAY, title: `a <b> & "c"` });
  assert.match(escaped, /a &lt;b&gt; &amp; &quot;c&quot;/);
});

test("the gantt: a section per lane, times in ms from the first step, failures crit, waits active", () => {
  const g = timelineGantt(DAY);
  assert.ok(g.startsWith("```mermaid\ngantt\n"));
  assert.ok(g.endsWith("```\n"));
  assert.match(g, /section downtime\n {2}ingress closed : crit, 4000, 11500\n/);
  assert.match(
    g,
    /section network\n {2}ingress-reject : 4000, 4200\n {2}all-quiesced : active, 4200, 6000\n/,
  );
  assert.match(g, /section node10\n {2}warm-snapshot : done, 0, 2000\n {2}migrate : crit, 6000, 8000\n/);
  assert.ok(g.indexOf("section node2") < g.indexOf("section node10"));
});

test("from a stack export: the last transition's steps, each from the end of what it waited for", () => {
  const urn = (name: string, type = "flagday:index:LocalCommand") =>
    `urn:pulumi:s::flagday::${type}::${name}`;
  const res = (name: string, created: number, deps: string[] = []) => ({
    urn: urn(name),
    type: "flagday:index:LocalCommand",
    created: new Date(at(created)).toISOString(),
    dependencies: deps.map((d) => urn(d)),
  });
  const exported = {
    deployment: {
      resources: [
        {
          urn: urn("flagday-s", "pulumi:pulumi:Stack"),
          type: "pulumi:pulumi:Stack",
          outputs: {
            flagday: {
              lastTransition: {
                id: "u2-upgrade-v1.0.0-to-v2.0.0-abcd",
                sequence: "flag-day",
                from: { version: "v1.0.0" },
                to: { version: "v2.0.0" },
              },
            },
          },
        },
        res("rehearsal-u1-ingress-reject", 1),
        res("rehearsal-u2-ingress-reject", 10),
        res("rehearsal-u2-node1-stop", 12, ["rehearsal-u2-ingress-reject"]),
        res("rehearsal-u2-node1-snapshot", 15, ["rehearsal-u2-node1-stop", "rehearsal-node1-data"]),
      ],
    },
  };
  const t = recordedTimeline(exported, at(8), "s");
  assert.equal(t.title, "flag-day v1.0.0 -> v2.0.0 on stack s (recorded step times)");
  assert.deepEqual(t.steps, [
    { stage: "ingress-reject", start: at(8), end: at(10) },
    { stage: "stop", node: "node1", start: at(10), end: at(12) },
    { stage: "snapshot", node: "node1", start: at(12), end: at(15) },
  ]);
  assert.throws(() => recordedTimeline({ deployment: { resources: [] } }, 0, "s"), /records no flag day/);
  assert.equal(updateStartOf([{ startTime: "2026-12-04T14:00:08Z" }]), at(8));
  assert.equal(updateStartOf([{ startTime: at(8) / 1000 }]), at(8));
});
