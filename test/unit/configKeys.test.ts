/**
 * Every config key an error message names is a key the stack program reads (issue 9), so an operator who follows
 * a message sets or removes a key that does something.
 *
 * The keys the program reads: stacks/, components/ and checks/agree.ts (`flagday agree` reads a stack's config
 * too) are parsed with the TypeScript compiler, and each
 * `config.get*("x")` / `config.require*("x")` call on a `pulumi.Config` gives `flagday:x`, marked as an object
 * read (getObject, requireObject, getSecretObject, requireSecretObject) or a value read. A read whose key is not a
 * string literal fails the test rather than drop out of the list.
 *
 * The keys the messages name, collected twice:
 * - From the source: every `flagday:<key>` in the text of a string or template literal (comments are not
 *   literals) under components/, stacks/, checks/ and policy/. This reaches every message, branches no test
 *   exercises included, and the `where` defaults and arguments that messages are built from. What is not a
 *   config key is told by its syntax, not by a list of names: resource type tokens (a second colon,
 *   `flagday:index:ConsensusNode`), EC2 tag filters (`tag:flagday:transition`) and tag keys (a literal that is a
 *   property name or an element-access key, `{ "flagday:node": … }`, `tags["flagday:height"]`). A message may
 *   name a tag (`the snapshot's tag flagday:height`): a mention that is exactly a tag key the code uses is a tag,
 *   while a path (`flagday:x.y`) or any other name must be a config key.
 * - From the messages themselves: the functions behind the stack program's errors and refusals are called with
 *   bad input, the way the program calls them, and the keys are taken from what they throw or return. This
 *   reaches keys built by interpolation (`${where}.subnets[0].id`); each call must name at least one key, so a
 *   message that stops naming keys, or an input that stops being refused, is noticed.
 *
 * A key counts as read if it is `flagday:x` with x read, or a path into it (`flagday:x.y`, `flagday:x[0]`) with x
 * read as an object: the platform arg readers and validators get `flagday:aws`, `flagday:network`... as objects
 * from the program and name the fields in them. `flagday:rollback.abort` is not accepted because
 * `flagday:rollback` (a boolean) is read.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, test } from "node:test";
import ts from "typescript";
import { awsArgsProblems, awsNodeSettingsProblems, awsPlatformArgs } from "../../components/aws/args";
import { testnetRefusal, windowRefusal, type MaintenanceWindow } from "../../components/gates";
import {
  kubernetesArgsProblems,
  kubernetesNodeSettingsProblems,
  kubernetesPlatformArgs,
} from "../../components/kubernetes/args";
import { networkProblems, validateNetwork, type NetworkSpec } from "../../components/network";
import { historyEntry, planUpgrade, type Deployed, type Plan } from "../../components/plan";
import { deployedOn, V1, V2 } from "./fixtures";

const ROOT = join(__dirname, "..", "..");

type ReadKind = "object" | "value";

function sourceFiles(...dirs: string[]): string[] {
  return dirs
    .flatMap((d) =>
      readdirSync(join(ROOT, d), { recursive: true, encoding: "utf8" }).map((f) => join(ROOT, d, f)),
    )
    .filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && !f.includes("node_modules"))
    .sort();
}

function parse(file: string, text = readFileSync(file, "utf8")): ts.SourceFile {
  return ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}

function walk(node: ts.Node, visit: (n: ts.Node) => void): void {
  visit(node);
  node.forEachChild((c) => walk(c, visit));
}

const PROJECT = /^name:\s*(\S+)/m.exec(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8"))?.[1];
const CONFIG_METHOD = /^(get|require)(Secret)?(Boolean|Number|Object)?$/;
const isConfigType = (t: ts.TypeNode | undefined) =>
  !!t && ts.isTypeReferenceNode(t) && /^(pulumi\.)?Config$/.test(t.typeName.getText());

/**
 * The config keys a file reads, by full key (`flagday:network`). Receivers are `new pulumi.Config(ns)`, the
 * variables initialised with it and the parameters typed `pulumi.Config` (which take the file's one namespace).
 */
function configReads(sf: ts.SourceFile): { reads: Map<string, ReadKind>; unreadable: string[] } {
  const reads = new Map<string, ReadKind>();
  const unreadable: string[] = [];
  /** The namespace of `new pulumi.Config(ns)` (the project's without an argument), or undefined. */
  const newConfigNamespace = (e: ts.Expression): string | undefined => {
    if (!ts.isNewExpression(e) || !/^(pulumi\.)?Config$/.test(e.expression.getText())) return undefined;
    const arg = e.arguments?.[0];
    if (!arg) return PROJECT ?? "?";
    if (ts.isStringLiteralLike(arg)) return arg.text;
    unreadable.push(`${relative(ROOT, sf.fileName)}: ${e.getText()} (namespace not a literal)`);
    return "?";
  };
  const namespaces = new Map<string, string>();
  const params = new Set<string>();
  walk(sf, (n) => {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer) {
      const ns = newConfigNamespace(n.initializer);
      if (ns !== undefined) namespaces.set(n.name.text, ns);
    }
    if (ts.isParameter(n) && ts.isIdentifier(n.name) && isConfigType(n.type)) params.add(n.name.text);
  });
  const distinct = new Set(namespaces.values());
  if (params.size > 0 && distinct.size !== 1) {
    unreadable.push(
      `${relative(ROOT, sf.fileName)}: pulumi.Config parameters, but namespaces ${[...distinct]}`,
    );
  }
  const nsOf = (e: ts.Expression) =>
    ts.isIdentifier(e)
      ? (namespaces.get(e.text) ?? (params.has(e.text) ? [...distinct][0] : undefined))
      : newConfigNamespace(e);
  walk(sf, (n) => {
    if (!ts.isCallExpression(n) || !ts.isPropertyAccessExpression(n.expression)) return;
    const { expression: receiver, name: method } = n.expression;
    if (!CONFIG_METHOD.test(method.text)) return;
    const ns = nsOf(receiver);
    if (ns === undefined) return;
    const key = n.arguments[0];
    if (!key || !ts.isStringLiteralLike(key)) {
      unreadable.push(`${relative(ROOT, sf.fileName)}: ${n.getText()}`);
      return;
    }
    const full = `${ns}:${key.text}`;
    const kind: ReadKind = method.text.endsWith("Object") ? "object" : "value";
    if (reads.get(full) !== "object") reads.set(full, kind);
  });
  return { reads, unreadable };
}

/**
 * `flagday:<key>` with its path (`.field`, `[i]`); not a type token (`flagday:index:X`, a dynamic resource's
 * `pulumi-nodejs:dynamic/flagday:X`) or a tag filter.
 */
const KEY = /(?<![\w$:./-])flagday:[A-Za-z_$][\w$-]*(?:\.[A-Za-z_$][\w$]*|\[[^\]\s]*\])*(?![\w$:-])/g;

function keysIn(text: string): string[] {
  return [...text.matchAll(KEY)].map((m) => m[0]);
}

/**
 * The `flagday:` keys a file's string and template literals mention, with where they are, and the tag keys it
 * uses (literals that are property names or element-access keys).
 */
function keysInLiterals(sf: ts.SourceFile): { mentions: { key: string; at: string }[]; tagKeys: string[] } {
  const mentions: { key: string; at: string }[] = [];
  const tagKeys: string[] = [];
  const isTagKey = (n: ts.Node) =>
    (ts.isPropertyAssignment(n.parent) && n.parent.name === n) ||
    (ts.isElementAccessExpression(n.parent) && n.parent.argumentExpression === n);
  walk(sf, (n) => {
    let texts: string[] = [];
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) {
      if (isTagKey(n)) tagKeys.push(...keysIn(n.text));
      else texts = [n.text];
    } else if (ts.isTemplateExpression(n)) {
      texts = [n.head.text, ...n.templateSpans.map((s) => s.literal.text)];
    }
    // A key built at run time (`flagday:${name}`) cannot be checked here: it is reported as `flagday:${…}`.
    const hidden = ts.isTemplateExpression(n)
      ? texts.slice(0, -1).filter((t) => /(?<![\w$:.-])flagday:$/.test(t))
      : [];
    for (const key of [...texts.flatMap(keysIn), ...hidden.map(() => "flagday:${…}")]) {
      const line = sf.getLineAndCharacterOfPosition(n.getStart()).line + 1;
      mentions.push({ key, at: `${relative(ROOT, sf.fileName)}:${line}` });
    }
  });
  return { mentions, tagKeys };
}

function isRead(key: string, reads: ReadonlyMap<string, ReadKind>): boolean {
  const [, root, path] = /^([^:]+:[^.[]+)(.*)$/.exec(key) ?? [];
  const kind = reads.get(root);
  return kind !== undefined && (path === "" || kind === "object");
}

// `flagday agree` (checks/agree.ts) reads the stack's config too, with the very same keys.
const program = [...sourceFiles("stacks", "components"), join(ROOT, "checks", "agree.ts")].map((f) =>
  configReads(parse(f)),
);
const READS = new Map(program.flatMap((p) => [...p.reads]));

describe("config keys: what the stack program reads", () => {
  test("every config read has a literal key, and the reads are found with their kind", () => {
    assert.deepEqual(
      program.flatMap((p) => p.unreadable),
      [],
    );
    // The parser sees the program's reads: an object read and a value read that stacks/index.ts has always had.
    assert.equal(READS.get("flagday:network"), "object");
    assert.equal(READS.get("flagday:rollback"), "value");
  });

  test("the reader sees through parameters typed pulumi.Config and tells objects from values", () => {
    const { reads } = configReads(
      parse(
        "x.ts",
        `const config = new pulumi.Config("flagday");
         function f(c: pulumi.Config) { c.requireSecretObject("a"); c.getBoolean("b"); }
         config.get("c"); other.get("d"); new pulumi.Config().getNumber("e");`,
      ),
    );
    assert.deepEqual(
      [...reads],
      [
        ["flagday:a", "object"],
        ["flagday:b", "value"],
        ["flagday:c", "value"],
        ["flagday:e", "value"],
      ],
    );
  });
});

describe("config keys: what the messages name", () => {
  test("the literal scan passes over comments, type tokens and tag filters, tells tag keys apart and flags built keys", () => {
    const { mentions, tagKeys } = keysInLiterals(
      parse(
        "x.ts",
        `super("flagday:index:ConsensusNode", name);
         super("pulumi-nodejs:dynamic/flagday:LocalCommand", name);
         const tags = { "flagday:node": n, Name: "x" };
         tags["flagday:height"];
         filters: [{ name: "tag:flagday:transition", values: [id] }];
         throw new Error(\`flagday: \${where} names \${x}, not in flagday:releases. Remove flagday:rollback.\`);
         const hint = "set flagday:aws.subnets[0].id or flagday:network.nodes[";
         const why = "the snapshot's tag flagday:height";
         const built = \`set flagday:\${name} to \${value}\`;
         // a comment naming flagday:commented is not a literal`,
      ),
    );
    assert.deepEqual(
      mentions.map((m) => m.key),
      [
        "flagday:releases",
        "flagday:rollback",
        "flagday:aws.subnets[0].id",
        "flagday:network.nodes",
        "flagday:height",
        "flagday:${…}",
      ],
    );
    assert.deepEqual(tagKeys, ["flagday:node", "flagday:height"]);
  });

  test("a path is read only through a key read as an object", () => {
    const reads = new Map<string, ReadKind>([
      ["flagday:network", "object"],
      ["flagday:rollback", "value"],
    ]);
    assert.ok(isRead("flagday:network", reads));
    assert.ok(isRead("flagday:network.nodes[2].settings.cpu", reads));
    assert.ok(isRead("flagday:rollback", reads));
    assert.ok(!isRead("flagday:rollback.abort", reads));
    assert.ok(!isRead("flagday:abort", reads));
  });

  test("every flagday: key in a literal of components/, stacks/, checks/ and policy/ is read by the program", () => {
    const scanned = sourceFiles("components", "stacks", "checks", "policy").map((f) =>
      keysInLiterals(parse(f)),
    );
    const named = scanned.flatMap((s) => s.mentions);
    const tags = new Set(scanned.flatMap((s) => s.tagKeys));
    const unread = named
      .filter((n) => !isRead(n.key, READS) && !tags.has(n.key))
      .map((n) => `${n.at}: ${n.key}`);
    assert.deepEqual(
      unread,
      [],
      `keys named but not read by the stack program (reads: ${[...READS.keys()]})`,
    );
    // Not vacuous: the scan reaches the messages of the gates, the AWS platform and the checks.
    for (const key of ["flagday:windowOverride", "flagday:sshPrivateKey", "flagday:acceptDataLoss"]) {
      assert.ok(
        named.some((n) => n.key === key),
        `the scan should find ${key}`,
      );
    }
  });

  test("every flagday: key in the errors and refusals the program raises on bad input is read by it", () => {
    const deployed = deployedOn(V1);
    const fd = planUpgrade(V2, deployed);
    assert.equal(fd.kind, "transition");
    const fdT = (fd as Extract<Plan, { kind: "transition" }>).transition;
    const afterFlagDay: Deployed = deployedOn(V2, [historyEntry(fdT, {})], fdT);
    const rollback = planUpgrade(V1, afterFlagDay);
    const rolledBack = (rollback as Extract<Plan, { kind: "transition" }>).transition;
    const afterRollback = deployedOn(V1, [...afterFlagDay.history, historyEntry(rolledBack, {})], rolledBack);
    const window: MaintenanceWindow = { start: "2026-12-01T14:00", end: "2026-12-01T18:00", timeZone: "UTC" };
    const badNetwork = {
      name: "Bad Name",
      release: { ...V1, mrenclave: "x", version: "6", blockVersion: -1, migrations: [""] },
      peerAttestation: { mode: "mrsigner" },
      nodes: [
        { name: "a", settings: { bogus: "x", cpu: "", ami: "" } },
        { name: "a", release: V2 },
        { name: "B" },
      ],
      quorumThreshold: 1,
    } as unknown as NetworkSpec;

    const messageOf = (f: () => unknown): string => {
      try {
        const r = f();
        return Array.isArray(r) ? r.join("\n") : String(r ?? "");
      } catch (e) {
        return (e as Error).message;
      }
    };
    // What the program calls, with the `where` it passes (stacks/index.ts, ConsensusNetwork).
    const cases: Record<string, () => unknown> = {
      "plan: rollback on a stack never upgraded": () => planUpgrade(V1, undefined, { rollback: true }),
      "plan: abort on a stack never upgraded": () => planUpgrade(V1, undefined, { abort: V2 }),
      "plan: abort with a target that is not the deployed release": () =>
        planUpgrade(V2, deployed, { abort: V2 }),
      "plan: abort naming the deployed release": () => planUpgrade(V1, deployed, { abort: V1 }),
      "plan: rollback to the wrong release": () => planUpgrade(V2, afterFlagDay, { rollback: true }),
      "plan: rollback with nothing to undo": () => planUpgrade(V1, deployed, { rollback: true }),
      "plan: rollback after a rollback": () => planUpgrade(V1, afterRollback, { rollback: true }),
      "network: missing": () => networkProblems(undefined),
      "network: every field wrong": () => networkProblems(badNetwork),
      "network: threshold above the node count": () =>
        validateNetwork({ ...badNetwork, nodes: [{ name: "a" }], quorumThreshold: 3 }),
      "network: no nodes": () => networkProblems({ ...badNetwork, nodes: [] }),
      "aws: node settings": () => awsNodeSettingsProblems(badNetwork),
      "kubernetes: node settings": () => kubernetesNodeSettingsProblems(badNetwork),
      "aws: missing": () => awsArgsProblems(undefined, "flagday:aws"),
      "aws: every field wrong": () =>
        awsPlatformArgs(
          {
            sshPrivateKey: "key",
            subnets: [{ id: "x" }],
            ledgerSizeGiB: 0.5,
            instanceType: "big",
            ingress: { subnetIds: ["x"], internal: "yes" },
          },
          "flagday:aws",
        ),
      "aws: no subnets or ingress": () => awsArgsProblems({ subnets: [] }, "flagday:aws"),
      "kubernetes: missing": () => kubernetesArgsProblems(undefined, "flagday:kubernetes"),
      "kubernetes: every field wrong": () =>
        kubernetesPlatformArgs(
          { ingressClassName: "nginx", closedIngressClassName: "nginx", ledgerSize: "1GB", adminUrl: "x" },
          "flagday:kubernetes",
        ),
      "window: bad zone": () =>
        windowRefusal(fd, { ...window, timeZone: "Mars/Olympus" }, new Date(), { dryRun: true }),
      "window: bad start": () =>
        windowRefusal(fd, { ...window, start: "soon" }, new Date(), { dryRun: true }),
      "window: end before start": () =>
        windowRefusal(fd, { ...window, end: "2026-12-01T13:00" }, new Date(), { dryRun: true }),
      "window: none set": () => windowRefusal(fd, undefined, new Date(), { dryRun: false }),
      "window: outside it": () =>
        windowRefusal(fd, window, new Date("2026-12-02T00:00:00Z"), { dryRun: false }),
      "testnet: release not done there": () => testnetRefusal(fd, V2, undefined, "org/flagday/testnet"),
    };

    const silent: string[] = [];
    const unread: string[] = [];
    for (const [what, f] of Object.entries(cases)) {
      const message = messageOf(f);
      const keys = keysIn(message);
      if (keys.length === 0) silent.push(`${what}: ${JSON.stringify(message)}`);
      for (const key of keys.filter((k) => !isRead(k, READS))) unread.push(`${what}: ${key} in ${message}`);
    }
    assert.deepEqual(silent, [], "each bad input should be refused with a message naming a config key");
    assert.deepEqual(
      unread,
      [],
      `keys named but not read by the stack program (reads: ${[...READS.keys()]})`,
    );
  });
});
