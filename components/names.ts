/**
 * The step-name convention, built and parsed here only. Every resource a flag day registers is named
 *
 *   <network>-<ordinal>-<stage>            a network stage:  rehearsal-u2-quiesce
 *   <network>-<ordinal>-<node>-<stage>     a node stage:     rehearsal-u2-node1-migrate
 *   <network>-<node>-server                a node's server (the `start` stage; it outlives transitions)
 *   <network>-<node>-healthy               a node's health check after its server changed
 *
 * where the ordinal (`u2`) is the transition's place in the history, so each transition's steps are its own.
 * The policy pack, the rehearsal's fault hooks and timings, and the tests read names with `parseStepName`.
 */
import { StageName, STAGE_NAMES } from "./stages";

export type StepWord = StageName | "server" | "healthy" | "ingress";
const STEP_WORDS: readonly StepWord[] = [...STAGE_NAMES, "server", "healthy", "ingress"];

export interface StepNameParts {
  readonly network: string;
  /** The transition's ordinal (`u3`); absent on servers, health checks and the gate. */
  readonly ordinal?: string;
  readonly node?: string;
  readonly step: StepWord;
}

export function stepName(p: StepNameParts): string {
  return [p.network, p.ordinal, p.node, p.step].filter((x) => x !== undefined && x !== "").join("-");
}

export const stageStepName = (network: string, ordinal: string, stage: StageName, node?: string) =>
  stepName({ network, ordinal, node, step: stage });
export const serverName = (network: string, node: string) => stepName({ network, node, step: "server" });
export const healthyName = (network: string, node: string) => stepName({ network, node, step: "healthy" });
export const gateName = (network: string) => stepName({ network, step: "ingress" });

/** The parts of a step name of `network`, or undefined when the name is not one of its steps. */
export function parseStepName(name: string, network: string): StepNameParts | undefined {
  if (!name.startsWith(`${network}-`)) return undefined;
  let rest = name.slice(network.length + 1);
  // Longest word first: `ingress-reject` before `ingress`.
  const step = [...STEP_WORDS]
    .sort((a, b) => b.length - a.length)
    .find((w) => rest === w || rest.endsWith(`-${w}`));
  if (!step) return undefined;
  rest = rest === step ? "" : rest.slice(0, -(step.length + 1));
  const m = /^(u\d+)(?:-(.+))?$/.exec(rest);
  const ordinal = m?.[1];
  const node = m ? m[2] : rest || undefined;
  return { network, ...(ordinal ? { ordinal } : {}), ...(node ? { node } : {}), step };
}

/** A step's name without its network and ordinal (`node2-migrate`, `quiesce`, `node2-server`). */
export function stepKey(name: string, network: string): string {
  const p = parseStepName(name, network);
  return p ? [p.node, p.step].filter(Boolean).join("-") : name;
}

/** The stage a step belongs to, from its name: a server is the `start` stage. */
export function stageOfStep(name: string, network: string): StageName | undefined {
  const p = parseStepName(name, network);
  if (!p) return undefined;
  if (p.step === "server") return "start";
  return (STAGE_NAMES as readonly string[]).includes(p.step) ? (p.step as StageName) : undefined;
}
