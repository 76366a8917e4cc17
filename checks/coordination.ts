/**
 * What the live board (`flagday board`) and `flagday progress` read from the operators' coordination board:
 * where every operator is at each barrier of one flag day. Only verified entries count (CoordinationBoard.read
 * checks each against the network's operator keys, as the barriers do); an entry that fails comes back as a
 * warning naming it and why, and is never counted as an arrival.
 *
 * The keys come from the network description, never from the board: `-s <stack>` reads them from the stack
 * file (flagday:network.operators, with flagday:board), or `--operator-key name=<public key>` gives them as
 * `flagday barrier` takes them. A usage error of these flags is a BarrierUsageError, as `flagday barrier`'s.
 */
import { CHECKOUT } from "./checkout";
import { openBoard } from "../components/coordination/agreement";
import { BarrierStatus, barrierStatus } from "../components/coordination/barrier";
import {
  BoardEntry,
  BoardReading,
  CoordinationBoard,
  describeRejected,
  operatorKeys,
} from "../components/coordination/board";
import { FlagDayProposal, NetworkOperators, networkOperators } from "../components/coordination/proposal";
import { BarrierName, BarrierStage, COORDINATED_SEQUENCES, SequenceName } from "../components/stages";
import { BarrierUsageError, operatorKeyFlags, parseJson } from "./barrier";
import { readStackFile, stackConfig } from "./plan";

/** One barrier as the board shows it: who arrived, who is missing, and when each arrived. */
export interface BarrierView {
  readonly status: BarrierStatus;
  /** Seconds since the epoch at which each arrived operator signed its arrival. */
  readonly arrivedAt: Readonly<Record<string, number>>;
}

export interface CoordinationView {
  /** Unset when the board could not be read (the warnings say why). */
  readonly network?: string;
  /** The flag day shown: the one asked for, else the one of the newest verified entry; none before any. */
  readonly flagDayId?: string;
  /** The sequence of the proposal the operators signed; undefined when no verified agreement is on the board. */
  readonly sequence?: SequenceName;
  /** Every operator in the network description's order, with its nodes (as the signed proposal lists them). */
  readonly operators: readonly { readonly name: string; readonly nodes: readonly string[] }[];
  /** Every barrier, verified arrivals only. */
  readonly barriers: Partial<Record<BarrierName, BarrierView>>;
  /** The entries of this flag day that failed verification, in words: ignored, shown so that someone looks. */
  readonly warnings: readonly string[];
}

/** Every barrier stage once, with what its reports must agree on (all-quiesced: one height). */
const BARRIERS: readonly BarrierStage[] = [
  ...new Map(
    Object.values(COORDINATED_SEQUENCES)
      .flat()
      .filter((s): s is BarrierStage => s.scope === "operators")
      .map((s) => [s.name, s]),
  ).values(),
];

const epochSeconds = (at: string) => Date.parse(at) / 1000;

/** The flag day of the newest verified entry (by its signing time): the one the operators are running. */
export function newestFlagDay(entries: readonly BoardEntry[]): string | undefined {
  return [...entries].sort((a, b) => epochSeconds(b.signedAt) - epochSeconds(a.signedAt))[0]?.flagDayId;
}

/**
 * Where every operator is at each barrier of a flag day, from a verified board reading (CoordinationBoard.read
 * against `operators`' keys). `flagDayId` picks the flag day; by default the newest on the board.
 */
export function coordinationView(
  reading: BoardReading,
  network: string,
  operators: NetworkOperators,
  flagDayId = newestFlagDay(reading.entries),
): CoordinationView {
  const mine = reading.entries.filter((e) => e.flagDayId === flagDayId);
  const proposal = mine.find((e) => e.kind === "agree")?.payload as { proposal: FlagDayProposal } | undefined;
  const sequence = proposal?.proposal.sequence;
  const nodesOf = (op: string) =>
    proposal?.proposal.operators[op]?.nodes ??
    Object.keys(operators.nodeOperators).filter((n) => operators.nodeOperators[n] === op);
  const barrier = (stage: BarrierStage): BarrierView => {
    const status = barrierStatus(
      {
        flagDayId: flagDayId ?? "",
        sequence: sequence ?? "flag-day",
        stage: stage.name,
        operators: operators.operators,
        agreeOn: stage.agreeOn,
      },
      mine,
    );
    const arrivals = mine.filter((e) => e.kind === "progress" && e.stage === stage.name);
    return {
      status,
      arrivedAt: Object.fromEntries(arrivals.map((e) => [e.operator, epochSeconds(e.signedAt)])),
    };
  };
  return {
    network,
    ...(flagDayId ? { flagDayId } : {}),
    ...(sequence ? { sequence } : {}),
    operators: operators.operators.map((o) => ({ name: o.name, nodes: nodesOf(o.name) })),
    barriers: flagDayId ? Object.fromEntries(BARRIERS.map((s) => [s.name, barrier(s)])) : {},
    warnings: reading.rejected
      .filter(
        (r) => flagDayId === undefined || r.flagDayId === flagDayId || r.key.split("/")[2] === flagDayId,
      )
      .map(describeRejected),
  };
}

/** Whom `operator` waits for at `stage`: every other operator that has not arrived (sorted). */
export function waitingFor(view: CoordinationView, stage: BarrierName, operator?: string): string[] {
  return (view.barriers[stage]?.status.missing ?? []).map((m) => m.operator).filter((o) => o !== operator);
}

/** The operator whose nodes these are, or undefined when they name none of the view's operators' nodes. */
export function operatorOfNodes(view: CoordinationView, nodes: readonly string[]): string | undefined {
  return view.operators.find((o) => nodes.some((n) => o.nodes.includes(n)))?.name;
}

/** Where the coordination board is and whose keys it is read with. */
export interface CoordinationSource {
  readonly board: CoordinationBoard;
  readonly operators: NetworkOperators;
  /** From the stack file; else the event logs name it. */
  readonly network?: string;
  readonly flagDayId?: string;
}

/** The command line's way to the coordination board, as `flagday board` and `flagday progress` take it. */
export interface CoordinationFlags {
  readonly stack?: string;
  readonly board?: string;
  readonly operatorKey?: readonly string[];
  readonly flagDay?: string;
}

type Described = Parameters<typeof networkOperators>[0] & { readonly name: string };

/**
 * The board and the operators' keys from the flags: `-s <stack>` reads both from the stack file, `--board`
 * overrides its board, `--operator-key` gives the keys without a stack file. Undefined when no flag names a
 * board (one stack's event log alone). Throws BarrierUsageError naming the flag to give.
 */
export function coordinationSource(o: CoordinationFlags): CoordinationSource | undefined {
  if (o.flagDay !== undefined && !/^[0-9a-f]{64}$/.test(o.flagDay)) {
    throw new BarrierUsageError(`--flag-day must be the 64-hex flag-day id (got "${o.flagDay}")`);
  }
  const cfg = o.stack === undefined ? undefined : stackConfig(readStackFile(o.stack));
  const described = cfg?.getObject<Described>("network");
  if (cfg && !networkOperators(described ?? { nodes: [] })) {
    throw new BarrierUsageError(
      `stack ${o.stack} lists no operators (flagday:network.operators): one operator, no coordination ` +
        `board to read. Give only --events <file>.`,
    );
  }
  const operators = operatorsOf(o.operatorKey, described);
  const boardConfig = o.board === undefined ? cfg?.getObject("board") : parseJson(o.board, "--board");
  if (boardConfig === undefined && !operators) return undefined;
  return {
    board: boardOf(boardConfig, o.stack),
    operators: operators ?? missing("--board needs the operators' public keys to verify its entries"),
    ...(described ? { network: described.name } : {}),
    ...(o.flagDay ? { flagDayId: o.flagDay } : {}),
  };
}

function missing(what: string): never {
  throw new BarrierUsageError(
    `${what}: -s <stack> (its flagday:network), or --operator-key name=<public key> for every operator`,
  );
}

/** The operators `--operator-key` names, else the stack file's; their keys checked (a bad one is named). */
function operatorsOf(flags: readonly string[] | undefined, described: Described | undefined) {
  const fromStack = described && networkOperators(described);
  const keys = operatorKeyFlags(flags);
  const operators = keys.length
    ? { operators: keys, nodeOperators: fromStack?.nodeOperators ?? {} }
    : fromStack;
  try {
    if (operators) operatorKeys(operators.operators);
  } catch (e) {
    throw new BarrierUsageError((e as Error).message);
  }
  return operators;
}

/** The board `flagday:board` (or `--board`) names. */
function boardOf(config: unknown, stack: string | undefined): CoordinationBoard {
  if (config === undefined) {
    throw new BarrierUsageError(
      stack === undefined
        ? "--operator-key needs --board <json>: the coordination board, as flagday:board gives it"
        : `stack ${stack} names no coordination board (flagday:board): give --board <json>`,
    );
  }
  try {
    return openBoard(config, CHECKOUT);
  } catch (e) {
    throw new BarrierUsageError((e as Error).message);
  }
}

/** The coordination board as it is now, verified, for `network`. */
export async function readCoordination(
  source: CoordinationSource,
  network: string,
): Promise<CoordinationView> {
  const reading = await source.board.read({ network, operators: source.operators.operators });
  return coordinationView(reading, network, source.operators, source.flagDayId);
}
