/**
 * `flagday plan` (issue 11, first slice): the runbook generated from the stack files and the stage data.
 *
 * Golden files: the runbooks of the rehearsal, testnet and mainnet stacks, under test/golden/. Any difference
 * fails; after an intended change, regenerate them with `FLAGDAY_UPDATE_GOLDEN=1 node --import tsx --test
 * test/unit/runbook.test.ts` and review the diff. Testnet and mainnet list one release each, so their runbooks
 * are for a made-up next release (TARGET below) added to the stack file's catalogue, as an operator adds it
 * before the flag day.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import * as os from "node:os";
import { planFromConfig, planInput, PlanUsageError, readSignatures, readStackFile } from "../../checks/plan";
import { agreeEntry, CoordinationBoard, entryKey } from "../../components/coordination/board";
import { DirectoryBoardBackend } from "../../components/coordination/boardDir";
import { flagDayId } from "../../components/coordination/proposal";
import { generateOperatorKey, privateKeyFrom } from "../../components/coordination/signing";
import { runbookProposal, STAGE_TEXT, stageGraph } from "../../components/runbook";
import type { EnclaveRelease } from "../../components/release";
import { SEQUENCES, STAGE_NAMES, stagesOf, type SequenceName } from "../../components/stages";

const GOLDEN = path.resolve(__dirname, "../golden");
const UPDATE = process.env.FLAGDAY_UPDATE_GOLDEN === "1";

/** A stand-in for the next release: the shape of the stack's own, every measurement changed. */
function withTarget(stack: string): Record<string, unknown> {
  const config = readStackFile(stack);
  const releases = config["flagday:releases"] as Record<string, EnclaveRelease>;
  const current = releases["v6.0.2"];
  const target: EnclaveRelease = {
    ...current,
    version: "v6.1.0",
    mrenclave: "1".repeat(64),
    enclaveUri: current.enclaveUri.replace(/v6\.0\.2|REPLACE-commit/g, "v6.1.0"),
    enclaveSha256: "2".repeat(64),
  };
  return { ...config, "flagday:releases": { ...releases, "v6.1.0": target } };
}

const CASES: { stack: string; config: () => Record<string, unknown>; to: string }[] = [
  { stack: "rehearsal", config: () => readStackFile("rehearsal"), to: "v2.0.0" },
  { stack: "testnet", config: () => withTarget("testnet"), to: "v6.1.0" },
  { stack: "mainnet", config: () => withTarget("mainnet"), to: "v6.1.0" },
];

const runbookOf = (c: (typeof CASES)[number]) => planFromConfig(c.config(), { stack: c.stack, to: c.to });

/** The stage names of the numbered entries (`### 3. \`quiesce\`` or `3. \`quiesce\``) in one section. */
function stagesIn(section: string): string[] {
  return [...section.matchAll(/^(?:### )?\d+\. `([a-z-]+)`/gm)].map((m) => m[1]);
}

/** The text from `heading` to the next heading of the same or a higher level. */
function section(md: string, heading: RegExp): string {
  const m = heading.exec(md);
  assert.ok(m, `no heading ${heading}`);
  const level = /^#+/.exec(m[0])![0];
  const rest = md.slice(m.index + m[0].length);
  const end = rest.search(new RegExp(`^#{1,${level.length}} `, "m"));
  return end < 0 ? rest : rest.slice(0, end);
}

describe("flagday plan: the runbook", () => {
  for (const c of CASES) {
    test(`${c.stack}: the runbook is the golden file`, () => {
      const file = path.join(GOLDEN, `runbook-${c.stack}.md`);
      const text = runbookOf(c);
      if (UPDATE) fs.writeFileSync(file, text);
      assert.ok(fs.existsSync(file), `${file} is missing: run with FLAGDAY_UPDATE_GOLDEN=1 to create it`);
      assert.equal(text, fs.readFileSync(file, "utf8"), `${c.stack}: differs from ${file}`);
      assert.equal(runbookOf(c), text, "the same input gives the same text");
    });
  }

  test("every stage of every sequence appears, in order, with its runbook step", () => {
    for (const c of CASES) {
      const md = runbookOf(c);
      const sections: Record<SequenceName, string> = {
        "flag-day": section(md, /^## The stages of the flag day$/m),
        "rollback-restore": section(md, /^### Sequence `rollback-restore`.*$/m),
        "rollback-reverse": section(md, /^### Sequence `rollback-reverse`.*$/m),
      };
      // A network with operators runs the sequences with the cross-operator barriers.
      const operators = (c.config()["flagday:network"] as { operators?: unknown[] }).operators ?? [];
      for (const seq of Object.keys(SEQUENCES) as SequenceName[]) {
        const stages = stagesOf(seq, operators.length > 0);
        assert.deepEqual(
          stagesIn(sections[seq]),
          stages.map((s) => s.name),
          `${c.stack} ${seq}`,
        );
        for (const s of stages) assert.ok(sections[seq].includes(s.runbook), `${c.stack} ${seq} ${s.name}`);
      }
    }
  });

  test("every stage says what it runs, checks, and what to do when it fails", () => {
    for (const name of STAGE_NAMES) {
      const t = STAGE_TEXT[name];
      for (const k of ["runs", "checks", "ifItFails"] as const)
        assert.ok(t[k].trim().length > 10, `${name}.${k}`);
    }
  });

  test("the Mermaid graph has one box per stage and an edge between each stage and the next", () => {
    const cases = (Object.keys(SEQUENCES) as SequenceName[]).flatMap((q) => [
      [q, false] as const,
      [q, true] as const,
    ]);
    for (const [seq, coordinated] of cases) {
      const g = stageGraph(seq, 5, coordinated);
      const stages = stagesOf(seq, coordinated);
      assert.match(g, /^flowchart TD\n/);
      stages.forEach((s, i) => {
        assert.match(
          g,
          new RegExp(`^  s${i}\\W+"${i + 1}\\. ${s.name}(<br/>per node, 5 nodes|<br/>every operator)?"`, "m"),
        );
        // Every stage is reached from the one before it, or (a branch) from the stage it branches from.
        const from = s.scope === "node" && s.after ? stages.findIndex((x) => x.name === s.after) : i - 1;
        if (i > 0) assert.match(g, new RegExp(`^  s${from} --> ?(\\|"[^"]+"\\| )?s${i}$`, "m"));
      });
      // A branch adds one edge: it joins the stage after it, which is also reached from the stage before it.
      const branches = stages.filter((s) => s.scope === "node" && s.after).length;
      assert.equal(g.split("\n").filter((l) => l.includes("-->")).length, stages.length - 1 + branches);
    }
  });

  test("the window in UTC, its own zone and each operator's zone; the proposal id", () => {
    const config = readStackFile("rehearsal");
    const key = () =>
      generateKeyPairSync("ed25519").publicKey.export({ type: "spki", format: "der" }).toString("base64");
    const net = config["flagday:network"] as { nodes: { name: string }[] };
    const network = {
      ...net,
      operators: [
        { name: "alpha", publicKey: key(), timeZone: "America/New_York" },
        { name: "beta", publicKey: key(), timeZone: "Europe/Zurich" },
        { name: "coord", publicKey: key() },
      ],
      nodes: net.nodes.map((n, i) => ({ ...n, operator: i === 0 ? "beta" : "alpha" })),
    };
    const md = planFromConfig(
      {
        ...config,
        "flagday:network": network,
        "flagday:window": { start: "2026-12-01T14:00", end: "2026-12-01T16:00", timeZone: "UTC" },
      },
      { stack: "rehearsal", to: "v2.0.0" },
    );
    const w = section(md, /^### Window$/m);
    assert.match(w, /^\| UTC \| UTC, the window's zone \| 2026-12-01 14:00 UTC \| 2026-12-01 16:00 UTC \|$/m);
    assert.match(
      w,
      /^\| America\/New_York \| operator alpha \| 2026-12-01 09:00 EST \| 2026-12-01 11:00 EST \|$/m,
    );
    assert.match(
      w,
      /^\| Europe\/Zurich \| operator beta \| 2026-12-01 15:00 GMT\+1 \| 2026-12-01 17:00 GMT\+1 \|$/m,
    );
    assert.match(md, /^- Proposal id `[0-9a-f]{64}`/m);
    assert.match(md, /^\| beta \| [0-9a-f]{16} \| Europe\/Zurich \| node1 \|$/m);
    assert.match(md, /^\| coord \| [0-9a-f]{16} \| - \| none \(coordinator\) \|$/m);
  });

  test("a plan that changes no consensus field, or names an unknown release, is a usage error", () => {
    const config = readStackFile("rehearsal");
    assert.throws(
      () => planFromConfig(config, { stack: "rehearsal" }),
      (e: Error) => e instanceof PlanUsageError && /not a flag day.*--to <release>.*v2\.0\.0/.test(e.message),
    );
    assert.throws(
      () => planFromConfig(config, { stack: "rehearsal", to: "v9.9.9" }),
      (e: Error) => e instanceof PlanUsageError && /--to names the release "v9\.9\.9"/.test(e.message),
    );
    assert.throws(
      () => readStackFile("nosuch"),
      /no stack file stacks\/Pulumi\.nosuch\.yaml \(stacks: .*rehearsal/,
    );
  });
  test("--board: who has signed, from verified agree entries only; a forged signature is reported, not counted", async (t) => {
    const config = readStackFile("rehearsal");
    const [alpha, beta, coord, mallory] = [0, 1, 2, 3].map(() => generateOperatorKey());
    const net = config["flagday:network"] as { nodes: { name: string }[] };
    const withOperators = {
      ...config,
      "flagday:network": {
        ...net,
        operators: [
          { name: "alpha", publicKey: alpha.publicKey },
          { name: "beta", publicKey: beta.publicKey },
          { name: "coord", publicKey: coord.publicKey },
        ],
        nodes: net.nodes.map((n, i) => ({ ...n, operator: i === 0 ? "beta" : "alpha" })),
      },
      "flagday:window": { start: "2026-12-01T14:00", end: "2026-12-01T16:00", timeZone: "UTC" },
    };
    const o = { stack: "rehearsal", to: "v2.0.0" };
    const input = planInput(withOperators, o);
    const p = runbookProposal(input);
    assert.ok("proposal" in p, "the network has operators and a window: there is a proposal");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flagday-plan-board-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const board = new CoordinationBoard(new DirectoryBoardBackend(dir));
    const signed = agreeEntry(p.proposal, "alpha", privateKeyFrom(alpha.privateKeyPem));
    await board.put(signed);
    // Mallory writes beta's signature with her own key, where beta's would be.
    const forged = agreeEntry(p.proposal, "beta", privateKeyFrom(mallory.privateKeyPem));
    await board.backend.create(entryKey(forged), JSON.stringify(forged));

    const md = planFromConfig(withOperators, o, await readSignatures(input, { directory: dir }));
    const ops = section(md, /^## Nodes and operators$/m);
    assert.match(ops, /^\| operator \| key id \| time zone \| nodes \| signature \|$/m);
    assert.match(
      ops,
      new RegExp(`^\\| alpha \\| [0-9a-f]{16} \\| - \\| [^|]+ \\| signed at ${signed.signedAt} \\|$`, "m"),
    );
    assert.match(ops, /^\| beta \| [0-9a-f]{16} \| - \| node1 \| not signed \|$/m);
    assert.match(ops, /^\| coord \| [0-9a-f]{16} \| - \| none \(coordinator\) \| not signed \|$/m);
    assert.match(ops, new RegExp(`1 of 3 operators signed flag day ${flagDayId(p.proposal).slice(0, 12)}`));
    assert.match(
      ops,
      /^- ignored board entry rehearsal\/beta\/[0-9a-f]{64}\/agree: forged: signed by a key that is not/m,
    );
    assert.doesNotMatch(ops, /Who has signed is on the coordination board, not in this file/);

    // Offline (no --board): the golden's wording, and no signature column.
    const offline = section(planFromConfig(withOperators, o), /^## Nodes and operators$/m);
    assert.match(offline, /^\| operator \| key id \| time zone \| nodes \|$/m);
    assert.match(
      offline,
      /Who has signed is on the coordination board, not in this file: `flagday agree -s <stack> --dry-run`\./,
    );
    // No window, no proposal: nothing to read signatures of, and the runbook says so.
    const { "flagday:window": _, ...noWindow } = withOperators;
    const unread = await readSignatures(planInput(noWindow, o), { directory: dir });
    assert.deepEqual(unread, {
      read: false,
      why: "No proposal id yet: the proposal includes the window, which is not set.",
    });
    assert.match(
      planFromConfig(noWindow, o, unread),
      /^Signatures not read: No proposal id yet: the proposal includes the window/m,
    );
  });
});
