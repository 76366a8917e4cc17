/**
 * The timeline of a flag day, rollback or abort, for the call's notes: one lane for the network's own steps
 * (the gate, the checks, the barriers) and one per node, one bar per step, barrier waits hatched and the
 * downtime (ingress closed) shaded. As a standalone SVG (no scripts, no external references) and as a Mermaid
 * gantt. Plain functions of the steps' times; the rehearsal feeds them the engine's events and `flagday
 * timeline` the stack's recorded step times.
 */
import { NODE_STAGE_NAMES, PREPARE, StageName, isBarrierName } from "./stages";

export interface TimelineStep {
  readonly stage: StageName;
  /** The node a node stage ran on; none for the network's own steps and barriers. */
  readonly node?: string;
  /** Whose stack ran it, on a timeline of several operators' stacks. @default one stack: no operator lanes */
  readonly operator?: string;
  /** Milliseconds since the epoch. */
  readonly start: number;
  readonly end: number;
  readonly failed?: boolean;
}

export interface Timeline {
  /** e.g. `flag-day v1.0.0 -> v2.0.0 on stack practice`. */
  readonly title: string;
  readonly steps: readonly TimelineStep[];
}

const NETWORK_LANE = "network";
const isPrepare = (s: StageName) => PREPARE.some((p) => p.name === s);

const byName = (a: string, b: string) => a.localeCompare(b, "en", { numeric: true });

/** A step's lane: its node (`alice/node1` with operators), else its stack's own (`network`, or `alice`). */
export function laneOf(s: TimelineStep): string {
  if (s.operator === undefined) return s.node ?? NETWORK_LANE;
  return s.node ? `${s.operator}/${s.node}` : s.operator;
}

/**
 * The lanes in order: the network's first, then the nodes by name; with several operators, each operator's own
 * lane (its gate, checks and barriers) followed by its nodes', operators by name.
 */
export function lanesOf(steps: readonly TimelineStep[]): string[] {
  const groups = [...new Set(steps.map((s) => s.operator))].sort((a, b) => byName(a ?? "", b ?? ""));
  return groups.flatMap((operator) => {
    const mine = steps.filter((s) => s.operator === operator);
    const nodes = [...new Set(mine.flatMap((s) => (s.node ? [laneOf(s)] : [])))].sort(byName);
    return [operator ?? NETWORK_LANE, ...nodes];
  });
}

/** From the first ingress rejecting to the last accepting again (any operator's), if both happened. */
export function downtimeOf(steps: readonly TimelineStep[]): { start: number; end: number } | undefined {
  const rejects = steps.filter((s) => s.stage === "ingress-reject");
  const accepts = steps.filter((s) => s.stage === "ingress-accept" && !s.failed);
  if (rejects.length === 0 || accepts.length === 0) return undefined;
  return { start: Math.min(...rejects.map((s) => s.start)), end: Math.max(...accepts.map((s) => s.end)) };
}

/** Text for SVG and HTML: markup characters escaped. */
export const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** The bar's fill: prepare (clients served), barrier wait, failed, or a window step. */
function fillOf(s: TimelineStep): string {
  if (s.failed) return "#d62728";
  if (isBarrierName(s.stage)) return "url(#wait)";
  if (isPrepare(s.stage)) return "#2ca02c";
  return (NODE_STAGE_NAMES as readonly string[]).includes(s.stage) ? "#1f77b4" : "#9467bd";
}

/** A standalone SVG of the timeline: deterministic for the same steps. */
export function timelineSvg(t: Timeline): string {
  const lanes = lanesOf(t.steps);
  const t0 = Math.min(...t.steps.map((s) => s.start));
  const t1 = Math.max(...t.steps.map((s) => s.end), t0 + 1000);
  const left = 90;
  const width = 900;
  const laneH = 28;
  const top = 40;
  const height = top + lanes.length * laneH + 40;
  const x = (ms: number) => left + ((ms - t0) / (t1 - t0)) * width;
  const secs = (ms: number) => ((ms - t0) / 1000).toFixed(1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 20}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<defs><pattern id="wait" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
      `<rect width="6" height="6" fill="#ffbf80"/><line x1="0" y1="0" x2="0" y2="6" stroke="#ff7f0e" stroke-width="3"/></pattern></defs>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="18" font-size="14" font-weight="bold">${esc(t.title)}</text>`,
  ];
  const down = downtimeOf(t.steps);
  if (down) {
    out.push(
      `<rect class="downtime" x="${x(down.start).toFixed(1)}" y="${top - 6}" width="${(x(down.end) - x(down.start)).toFixed(1)}" height="${lanes.length * laneH + 6}" fill="#fde0e0"/>`,
      `<text x="${x(down.start).toFixed(1)}" y="${top - 9}" fill="#b00">downtime ${((down.end - down.start) / 1000).toFixed(1)} s (ingress closed)</text>`,
    );
  }
  lanes.forEach((lane, i) => {
    const y = top + i * laneH;
    out.push(
      `<text x="${left - 8}" y="${y + laneH / 2 + 4}" text-anchor="end">${esc(lane)}</text>`,
      `<line x1="${left}" y1="${y + laneH}" x2="${left + width}" y2="${y + laneH}" stroke="#ddd"/>`,
    );
  });
  const ordered = [...t.steps].sort((a, b) => a.start - b.start || a.stage.localeCompare(b.stage));
  for (const s of ordered) {
    const lane = lanes.indexOf(laneOf(s));
    const y = top + lane * laneH + 4;
    const w = Math.max(2, x(s.end) - x(s.start));
    const label = `${s.node || s.operator ? `${laneOf(s)} ` : ""}${s.stage}${isBarrierName(s.stage) ? " (wait)" : ""}${s.failed ? " FAILED" : ""}: ${secs(s.start)}-${secs(s.end)} s`;
    out.push(
      `<g class="step" data-stage="${s.stage}" data-lane="${esc(laneOf(s))}"><title>${esc(label)}</title>` +
        `<rect x="${x(s.start).toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${laneH - 8}" fill="${fillOf(s)}" stroke="#333" stroke-width="0.5"/>` +
        (w > 50
          ? `<text x="${(x(s.start) + 3).toFixed(1)}" y="${y + laneH / 2 + 1}" fill="${isBarrierName(s.stage) ? "#333" : "white"}">${esc(s.stage)}</text>`
          : "") +
        `</g>`,
    );
  }
  const axisY = top + lanes.length * laneH + 16;
  const tick = Math.max(1, Math.ceil((t1 - t0) / 1000 / 10));
  for (let sec = 0; sec * 1000 <= t1 - t0; sec += tick) {
    const tx = x(t0 + sec * 1000).toFixed(1);
    out.push(`<text x="${tx}" y="${axisY}" text-anchor="middle" fill="#555">${sec}s</text>`);
  }
  out.push(
    `<text x="${left}" y="${axisY + 16}" fill="#555">green: prepare (clients served) · blue: node steps · purple: network steps and checks · hatched: waiting at a barrier · red: failed</text>`,
    `</svg>`,
  );
  return out.join("\n") + "\n";
}

/** The same timeline as a Mermaid gantt (a section per lane), for Markdown notes. */
export function timelineGantt(t: Timeline): string {
  const lanes = lanesOf(t.steps);
  const t0 = Math.min(...t.steps.map((s) => s.start));
  const ms = (v: number) => Math.max(0, Math.round(v - t0));
  const lines = [
    "```mermaid",
    "gantt",
    `  title ${t.title.replace(/[:#;]/g, " ")}`,
    "  dateFormat x",
    "  axisFormat %M:%S",
  ];
  const down = downtimeOf(t.steps);
  if (down) {
    lines.push("  section downtime", `  ingress closed : crit, ${ms(down.start)}, ${ms(down.end)}`);
  }
  for (const lane of lanes) {
    const steps = t.steps.filter((s) => laneOf(s) === lane).sort((a, b) => a.start - b.start);
    if (steps.length === 0) continue;
    lines.push(`  section ${lane}`);
    for (const s of steps) {
      const tag = s.failed
        ? "crit, "
        : isBarrierName(s.stage)
          ? "active, "
          : isPrepare(s.stage)
            ? "done, "
            : "";
      // Mermaid needs an end after the start: a step under a millisecond is drawn as one.
      lines.push(`  ${s.stage} : ${tag}${ms(s.start)}, ${Math.max(ms(s.end), ms(s.start) + 1)}`);
    }
  }
  lines.push("```");
  return lines.join("\n") + "\n";
}
