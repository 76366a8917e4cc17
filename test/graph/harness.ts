/**
 * Runs a Pulumi program in-process under mocks and captures the resource graph the engine would receive: for
 * every registration its type, name, URN, parent, dependencies and resource options. The mock arguments Pulumi
 * hands to `Mocks.newResource` lack parents and dependencies; the registration requests have them, so this
 * wraps the SDK's MockMonitor and records each request before answering it (see PULUMI-OFFLINE.md).
 *
 * Programs run one after another in the same process (the SDK's settings are global): `captureGraph` is not
 * re-entrant, and callers must await one capture before starting the next.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import * as settings from "@pulumi/pulumi/runtime/settings";

/** A secret input as it crossed the wire: the value is kept so tests can check what is (and isn't) secret. */
export interface SecretValue {
  readonly secret: true;
  readonly value: unknown;
}

export interface CapturedResource {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  /** The id the mocks assigned (custom resources only). */
  readonly id: string;
  readonly custom: boolean;
  readonly parent?: string;
  /**
   * URNs this registration waits for, as the SDK sends them: explicit `dependsOn` plus every resource an input
   * came from, with components already expanded to the custom resources below them.
   */
  readonly dependencies: readonly string[];
  /**
   * Per input, the URNs its value came from. The engine deletes a resource ahead of one it depends on this way
   * when that one is replaced old-first (deleteBeforeReplace); `dependsOn` alone does not.
   */
  readonly propertyDependencies: Readonly<Record<string, readonly string[]>>;
  readonly deleteBeforeReplace: boolean;
  readonly replaceOnChanges: readonly string[];
  readonly ignoreChanges: readonly string[];
  readonly protect: boolean;
  readonly retainOnDelete: boolean;
  /** The aliases the registration names (old names it takes over), as the SDK sends them (URNs or alias specs). */
  readonly aliases: readonly unknown[];
  /** Inputs with secrets as `{ secret: true, value }` and unknowns as `undefined`. */
  readonly inputs: Readonly<Record<string, unknown>>;
}

export interface Graph {
  readonly resources: readonly CapturedResource[];
  readonly byUrn: ReadonlyMap<string, CapturedResource>;
  /** The resource with this name (names are unique in the programs under test); throws if absent. */
  named(name: string): CapturedResource;
  ofType(type: string): CapturedResource[];
  /**
   * Whether `from` waits for `to`, directly or through other resources. An edge is what makes the engine wait:
   * every URN in a registration's dependency list (the SDK has already expanded `dependsOn` on a component to
   * the custom resources under it, which is how Pulumi counts "waits for a component"), and a custom parent
   * (a child's registration needs the parent's URN, which a custom resource only has once created). A
   * component parent is not an edge: its URN exists before its children are created.
   */
  dependsOn(from: CapturedResource | string, to: CapturedResource | string): boolean;
}

export interface CaptureOptions {
  /** Extra outputs per resource type, merged over the default mock state. */
  readonly outputs?: (type: string, name: string, inputs: Record<string, unknown>) => Record<string, unknown>;
  readonly project?: string;
  readonly stack?: string;
  /**
   * Sees every provider call (invoke) the program makes, before the fake cloud answers it: return an answer to
   * override the fake cloud's, or undefined to keep it. Tests count lookups with it, or make them ambiguous.
   */
  readonly call?: (token: string, inputs: Record<string, unknown>) => Record<string, unknown> | undefined;
}

export interface Capture<T> {
  readonly graph: Graph;
  /** What the program returned, with outputs resolved. */
  readonly result: T;
}

/** A stable, input-derived id: equal inputs give equal ids, changed inputs (a replacement) a new one. */
export function mockId(name: string, inputs: unknown): string {
  return `${name}-${createHash("sha256").update(stableJson(inputs)).digest("hex").slice(0, 10)}`;
}

/** The EBS snapshot id a snapshot command named `name` prints under the mocks (AWS cuts snapshots by command). */
export function mockSnapshotId(name: string): string {
  return `snap-${createHash("sha256").update(name).digest("hex").slice(0, 17)}`;
}

/** Default state the mocks return: the inputs, plus the outputs the programs under test read. */
function defaultOutputs(type: string, name: string): Record<string, unknown> {
  const h = createHash("sha256").update(name).digest();
  switch (type) {
    case "aws:ec2/networkInterface:NetworkInterface":
      return { privateIp: `10.${h[0]}.${h[1]}.${(h[2] % 250) + 4}` };
    case "aws:lb/loadBalancer:LoadBalancer":
    case "aws:lb/targetGroup:TargetGroup":
    case "aws:lb/listener:Listener":
      return { arn: `arn:aws:elasticloadbalancing:mock:${name}`, dnsName: `${name}.elb.mock` };
    case "command:local:Command":
    case "command:remote:Command":
      // The quiesce check reports the common height, a snapshot step the snapshot's id (the record reads both).
      if (name.endsWith("-quiesce")) return { stdout: "height=4242", stderr: "" };
      if (/-(warm-)?snapshot$/.test(name)) return { stdout: mockSnapshotId(name), stderr: "" };
      return { stdout: `ran ${name}`, stderr: "" };
    default:
      return {};
  }
}

class RecordingMonitor extends MockMonitor {
  readonly captured: CapturedResource[] = [];
  constructor(
    mocks: pulumi.runtime.Mocks,
    private readonly urnOf: (parent: string, type: string, name: string) => string,
  ) {
    super(mocks);
  }
  // The request is the generated protobuf class; only its getters are used.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override async registerResource(req: any, callback: (err: any, response: any) => void): Promise<void> {
    const inputs = toPlain(rpc.deserializeProperties(req.getObject(), true)) as Record<string, unknown>;
    const type: string = req.getType();
    const name: string = req.getName();
    const custom: boolean = req.getCustom();
    this.captured.push({
      type,
      name,
      urn: this.urnOf(req.getParent(), type, name),
      id: custom ? mockId(name, inputs) : "",
      custom,
      parent: req.getParent() || undefined,
      dependencies: [...req.getDependenciesList()],
      propertyDependencies: Object.fromEntries(
        // Each entry is [input, PropertyDependencies as an array], whose first field is the URN list.
        req
          .getPropertydependenciesMap()
          .toArray()
          .map(([k, v]: [string, [string[]?]]) => [k, v[0] ?? []]),
      ),
      deleteBeforeReplace: req.getDeletebeforereplace() === true,
      replaceOnChanges: [...req.getReplaceonchangesList()],
      ignoreChanges: [...req.getIgnorechangesList()],
      protect: req.getProtect() === true,
      retainOnDelete: req.getRetainondelete() === true,
      aliases: [
        ...(req.getAliasurnsList?.() ?? []),
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        ...(req.getAliasesList?.() ?? []).map((a: any) => a.toObject()),
      ],
      inputs,
    });
    return super.registerResource(req, callback);
  }
  // A program that failed part-way may still send its components' outputs after the next capture began; they
  // belong to a finished run, so they are dropped instead of failing the next one.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  override registerResourceOutputs(req: any, callback: (err: any, response: any) => void): void {
    if (!this.resources.has(req.getUrn())) return callback(null, {});
    return super.registerResourceOutputs(req, callback);
  }
}

/** Mirrors MockMonitor's URN scheme, which it keeps private. */
function urnFor(parent: string, type: string, name: string): string {
  if (parent) {
    const parentType = parent.split("::")[2].split("$").pop();
    type = `${parentType}$${type}`;
  }
  return `urn:pulumi:${pulumi.getStack()}::${pulumi.getProject()}::${type}::${name}`;
}

/** Unwraps the SDK's wire markers: secrets become `{ secret: true, value }`, unknowns `undefined`. */
function toPlain(v: unknown): unknown {
  if (v === rpc.unknownValue) return undefined;
  if (Array.isArray(v)) return v.map(toPlain);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o[rpc.specialSigKey] === rpc.specialSecretSig) return { secret: true, value: toPlain(o.value) };
    if (o[rpc.specialSigKey] !== undefined && typeof o.urn === "string") return { resource: o.urn };
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, toPlain(x)]));
  }
  return v;
}

/**
 * "no error", or an Output's error's message. Outputs are promises inside (internal to the SDK): a failed one
 * rejects its value and its isKnown and isSecret alike, and every one must be handled, or node:test reports
 * the rejection it was not shown as a failure of whatever test runs next.
 */
export async function settled(o: pulumi.Output<unknown>): Promise<string> {
  const inner = o as unknown as {
    promise(): Promise<unknown>;
    isKnown: Promise<boolean>;
    isSecret: Promise<boolean>;
  };
  const [value] = await Promise.allSettled([inner.promise(), inner.isKnown, inner.isSecret]);
  return value.status === "fulfilled" ? "no error" : (value.reason as Error).message;
}

/** The value with secrets replaced by their plain values, for tests that read inputs. */
export function revealed(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(revealed);
  if (v && typeof v === "object") {
    const o = v as Record<string, unknown>;
    if (o.secret === true && "value" in o && Object.keys(o).length === 2) return revealed(o.value);
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, revealed(x)]));
  }
  return v;
}

/** JSON with sorted keys, so equal inputs give equal text whatever the order they were built in. */
export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(
          Object.keys(x)
            .sort()
            .map((k) => [k, (x as Record<string, unknown>)[k]]),
        )
      : x,
  );
}

let running = false;

/**
 * What the mocked cloud holds across captures in one process: every custom resource a capture created, so a
 * later run's lookups (a rollback finding the snapshots a flag day took, by tag) see what an account would.
 */
const fakeCloud: { type: string; name: string; id: string; inputs: Record<string, unknown> }[] = [];

/** The account the mocked AWS provider acts on (sts:GetCallerIdentity). */
export const MOCK_ACCOUNT = "123456789012";

/** The subnets the mocked EC2 knows, with their zones (the AWS fixtures' node subnets); others are not found. */
export const MOCK_SUBNET_ZONES: Readonly<Record<string, string>> = {
  "subnet-0aaaaaaaaaaaaaaa1": "us-west-2a",
  "subnet-0bbbbbbbbbbbbbbb2": "us-west-2b",
};

/**
 * The EBS snapshots in the fake cloud: the snapshot resources, and the snapshots AWS's snapshot commands create
 * (with the tags their `create-snapshot` text gives, and the id the mocks make them print).
 */
function fakeSnapshots(): { id: string; tags: Record<string, unknown> }[] {
  return fakeCloud.flatMap((r) => {
    if (r.type === "aws:ebs/snapshot:Snapshot") {
      return [{ id: r.id, tags: (r.inputs.tags ?? {}) as Record<string, unknown> }];
    }
    const spec = /--tag-specifications '([^']+)'/.exec(String(r.inputs.create ?? ""));
    if (r.type !== "command:local:Command" || !spec) return [];
    const tags = (JSON.parse(spec[1]) as { Tags: { Key: string; Value: string }[] }[])[0].Tags;
    return [{ id: mockSnapshotId(r.name), tags: Object.fromEntries(tags.map((t) => [t.Key, t.Value])) }];
  });
}

/** Answers the provider lookups the platforms make, from the fake cloud. */
function answerCall(token: string, inputs: Record<string, unknown>): Record<string, unknown> {
  if (token === "aws:ebs/getSnapshotIds:getSnapshotIds") {
    const filters = (inputs.filters ?? []) as { name: string; values: string[] }[];
    const ids = fakeSnapshots()
      .filter((r) =>
        filters.every(
          (f) => !f.name.startsWith("tag:") || f.values.includes(String(r.tags[f.name.slice(4)])),
        ),
      )
      .map((r) => r.id);
    // One snapshot per id, as in an account (the same program run twice registers the same one twice here).
    return { ids: [...new Set(ids)] };
  }
  if (token === "aws:index/getCallerIdentity:getCallerIdentity") {
    // The provider's account, as the fixtures' ARNs name it.
    return { accountId: MOCK_ACCOUNT, arn: `arn:aws:iam::${MOCK_ACCOUNT}:user/flagday-mock`, userId: "MOCK" };
  }
  if (token === "aws:ec2/getSubnet:getSubnet") {
    const zone = MOCK_SUBNET_ZONES[String(inputs.id)];
    return zone ? { ...inputs, availabilityZone: zone } : { ...inputs };
  }
  if (token === "aws:ebs/getSnapshot:getSnapshot") {
    const wanted = (inputs.snapshotIds ?? []) as string[];
    const snap = fakeSnapshots().find((r) => wanted.includes(r.id));
    // The fake cloud's snapshots are complete (EBS `completed`): a test that needs one still copying says so.
    return snap ? { id: snap.id, state: "completed", tags: snap.tags } : {};
  }
  return inputs;
}

/**
 * Runs `program` under mocks (not a preview: outputs are known, as in `pulumi up`) and returns the graph it
 * registered and its result with outputs resolved.
 */
export async function captureGraph<T>(
  program: () => T | pulumi.Output<T> | Promise<T>,
  opts: CaptureOptions = {},
): Promise<Capture<T>> {
  if (running) throw new Error("captureGraph: programs share the SDK's global settings; await one at a time");
  running = true;
  try {
    const mocks: pulumi.runtime.Mocks = {
      newResource: (args) => {
        const state = {
          ...args.inputs,
          ...defaultOutputs(args.type, args.name),
          ...(opts.outputs?.(args.type, args.name, args.inputs) ?? {}),
        };
        const id = args.custom ? mockId(args.name, toPlain(args.inputs)) : undefined;
        if (id)
          fakeCloud.push({
            type: args.type,
            name: args.name,
            id,
            inputs: toPlain(args.inputs) as Record<string, unknown>,
          });
        return { id, state };
      },
      call: (args) => opts.call?.(args.token, args.inputs) ?? answerCall(args.token, args.inputs),
    };
    const monitor = new RecordingMonitor(mocks, urnFor);
    pulumi.runtime.setMockOptions(monitor, opts.project ?? "flagday", opts.stack ?? "test", false);
    enableMockFeatures();

    let returned: T | pulumi.Output<T>;
    try {
      returned = await program();
    } catch (e) {
      // Let what the program registered before it failed finish, so it does not leak into the next capture.
      await waitForRegistrations().catch(() => undefined);
      throw e;
    }
    const result = await new Promise<T>((resolve) =>
      pulumi.output(returned as T).apply((v) => resolve(v as T)),
    );
    await waitForRegistrations();
    return { graph: makeGraph(monitor.captured), result };
  } finally {
    running = false;
  }
}

/**
 * setMockOptions resets the runtime's feature flags; `setMocks` would turn these on for its own monitor. Without
 * them secrets would reach the monitor as plain values and the secret checks would prove nothing.
 */
function enableMockFeatures(): void {
  // getStore is internal to the SDK (not in its typings) but exported at run time.
  const state = require("@pulumi/pulumi/runtime/state") as { getStore(): Record<string, boolean> };
  const store = state.getStore();
  for (const f of [
    "supportsSecrets",
    "supportsResourceReferences",
    "supportsDeletedWith",
    "supportsReplaceWith",
    "supportsAliasSpecs",
    "supportsParameterization",
    "supportsResourceHooks",
    "supportsErrorHooks",
  ]) {
    store[f] = true;
  }
}

/** Waits until the SDK's queue of outstanding RPCs (registrations included) is empty. */
async function waitForRegistrations(): Promise<void> {
  // waitForRPCs is internal to the SDK (not in its typings) but exported at run time: it is what
  // `pulumi.runtime.disconnect` awaits before a program exits.
  const wait = (settings as unknown as { waitForRPCs?: () => Promise<void> }).waitForRPCs;
  if (!wait) throw new Error("captureGraph: this @pulumi/pulumi has no runtime.settings.waitForRPCs");
  await wait();
}

export function makeGraph(resources: readonly CapturedResource[]): Graph {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const byName = new Map<string, CapturedResource>();
  for (const r of resources) byName.set(r.name, r);
  const edges = new Map<string, readonly string[]>();
  for (const r of resources) {
    const parent = r.parent ? byUrn.get(r.parent) : undefined;
    edges.set(r.urn, parent?.custom ? [...r.dependencies, parent.urn] : r.dependencies);
  }
  const reach = new Map<string, Set<string>>();
  const reachable = (urn: string): Set<string> => {
    let seen = reach.get(urn);
    if (seen) return seen;
    seen = new Set();
    const stack = [...(edges.get(urn) ?? [])];
    while (stack.length > 0) {
      const u = stack.pop() as string;
      if (seen.has(u)) continue;
      seen.add(u);
      const known = reach.get(u);
      if (known) for (const k of known) seen.add(k);
      else stack.push(...(edges.get(u) ?? []));
    }
    reach.set(urn, seen);
    return seen;
  };
  const urnOf = (r: CapturedResource | string) => (typeof r === "string" ? r : r.urn);
  return {
    resources,
    byUrn,
    named(name) {
      const r = byName.get(name);
      if (!r) throw new Error(`no resource named ${name}; have: ${[...byName.keys()].join(", ")}`);
      return r;
    },
    ofType: (type) => resources.filter((r) => r.type === type),
    dependsOn: (from, to) => reachable(urnOf(from)).has(urnOf(to)),
  };
}
