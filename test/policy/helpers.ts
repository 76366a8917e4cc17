/**
 * Calls the pack's policies the way @pulumi/policy's server does: props behind its unknown-checking proxy (so a
 * policy that reads a value the engine does not know yet fails as it would in a preview), `notApplicable` that
 * throws, and every reported violation collected.
 */
import type {
  PolicyResource,
  PolicyResourceOptions,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { unknownCheckingProxy } from "@pulumi/policy";

/** The engine's marker for a value not known during a preview, as @pulumi/policy receives it. */
export const UNKNOWN: string = (require("@pulumi/policy/proxy") as { unknownStringValue: string })
  .unknownStringValue;

export interface Outcome {
  /** Violations in the order reported: the message and the URN it was reported against (stack policies). */
  readonly violations: readonly { readonly message: string; readonly urn?: string }[];
  /** Set when the policy said it does not apply. */
  readonly notApplicable?: string;
}

class NotApplicable extends Error {}

const options = (o: Partial<PolicyResourceOptions> = {}): PolicyResourceOptions => ({
  protect: false,
  ignoreChanges: [],
  aliases: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
  additionalSecretOutputs: [],
  ...o,
});

export const urnOf = (type: string, name: string, parentType?: string) =>
  `urn:pulumi:test::flagday::${parentType ? `${parentType}$` : ""}${type}::${name}`;

export async function runResourcePolicy(
  policy: ResourceValidationPolicy,
  type: string,
  name: string,
  props: Record<string, unknown>,
  opts: Partial<PolicyResourceOptions> = {},
): Promise<Outcome> {
  const violations: { message: string }[] = [];
  const args: ResourceValidationArgs = {
    type,
    name,
    urn: urnOf(type, name),
    props: unknownCheckingProxy(props),
    opts: options(opts),
    stackTags: new Map(),
    isType: () => false,
    asType: () => undefined,
    getConfig: <T extends object>() => ({}) as T,
    notApplicable: (reason?: string): never => {
      throw new NotApplicable(reason ?? "");
    },
  };
  const validations = [policy.validateResource ?? []].flat();
  if (validations.length === 0) throw new Error(`${policy.name} is not a resource policy`);
  try {
    for (const v of validations) await v(args, (message) => violations.push({ message }));
  } catch (e) {
    if (e instanceof NotApplicable) return { violations, notApplicable: e.message };
    throw e;
  }
  return { violations };
}

/** A resource of a crafted stack: its outputs, and its parent by name. */
export interface StackEntry {
  readonly type: string;
  readonly name: string;
  readonly props?: Record<string, unknown>;
  readonly parent?: string;
  readonly protect?: boolean;
}

export function stackResources(entries: readonly StackEntry[]): PolicyResource[] {
  const byName = new Map<string, PolicyResource>();
  const resources = entries.map((e) => {
    const r: PolicyResource = {
      type: e.type,
      name: e.name,
      urn: urnOf(e.type, e.name),
      props: unknownCheckingProxy(e.props ?? {}),
      opts: options({ protect: e.protect ?? false }),
      dependencies: [],
      propertyDependencies: {},
      isType: () => false,
      asType: () => undefined,
    };
    byName.set(e.name, r);
    return r;
  });
  entries.forEach((e, i) => {
    if (e.parent) {
      const p = byName.get(e.parent);
      if (!p) throw new Error(`no parent ${e.parent} for ${e.name}`);
      resources[i].parent = p;
    }
  });
  return resources;
}

export async function runStackPolicy(
  policy: StackValidationPolicy,
  resources: readonly PolicyResource[] | readonly StackEntry[],
): Promise<Outcome> {
  const list =
    resources.length > 0 && "urn" in resources[0]
      ? (resources as PolicyResource[])
      : stackResources(resources as StackEntry[]);
  const violations: { message: string; urn?: string }[] = [];
  const args: StackValidationArgs = {
    resources: list,
    stackTags: new Map(),
    getConfig: <T extends object>() => ({}) as T,
    notApplicable: (reason?: string): never => {
      throw new NotApplicable(reason ?? "");
    },
  };
  try {
    await policy.validateStack(args, (message, urn) => violations.push({ message, urn }));
  } catch (e) {
    if (e instanceof NotApplicable) return { violations, notApplicable: e.message };
    throw e;
  }
  return { violations };
}
