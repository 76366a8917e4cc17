import { isIP } from "node:net";
import { Operator, operatorProblems } from "./coordination/proposal";
import { EnclaveRelease, describe, releaseProblems, CONSENSUS_FIELDS, sgxModeOf } from "./release";
import { ledgerArchiveProblems } from "./mobilecoin/ledgerArchive";

/** How peers verify each other's enclave. Only MRENCLAVE is safe between peers (see the seed runbook). */
export interface PeerAttestation {
  /** @default "mrenclave" */
  readonly mode?: "mrenclave" | "mrsigner";
  /** Only meaningful (and refused) with `mode: mrsigner`. */
  readonly productId?: number;
  /** Only meaningful (and refused) with `mode: mrsigner`. */
  readonly minimumSvn?: number;
}

/** One consensus node as the operator describes it. Settings other than `release` roll out node by node. */
export interface NodeSpec {
  /** The node's name, also its responder id host part: `node1.test.mobilecoin.com`. */
  readonly name: string;
  /**
   * The release this node runs; must equal the network's. Stated per node only so that a stack file that
   * drifts is caught at preview instead of stalling the network.
   * @default the network's release
   */
  readonly release?: EnclaveRelease;
  /** Non-consensus settings (instance type, AMI, log level, ...): changing one rolls nodes one at a time. */
  readonly settings?: Readonly<Record<string, string | number | boolean>>;
  /**
   * The operator (organisation) that runs this node, one of the network's `operators`.
   * @default none (a network with no operators is run by one)
   */
  readonly operator?: string;
  /**
   * The host (DNS name or IP address) other operators' nodes reach this node's peer port (8443) on, e.g.
   * `peer1.mainnet.example.com`: no scheme, no port, no path. Every node's network.json lists every other node as
   * a broadcast peer and quorum member, and a stack cannot see the addresses of another operator's nodes (they
   * run in that operator's own account or cluster), so it is required for a node of another operator on AWS and
   * Kubernetes. A node's own platform ignores it for its own nodes (they reach each other by the platform's own
   * addresses).
   * @default none
   */
  readonly peerHost?: string;
}

/** A whole consensus network: the unit of a flag day. */
export interface NetworkSpec {
  /** e.g. `testnet`, `mainnet`, `rehearsal`. */
  readonly name: string;
  /** MC_CHAIN_ID, e.g. `test` or `main`. */
  readonly chainId: string;
  /** The release every node runs. Changing a consensus field of it is a flag day. */
  readonly release: EnclaveRelease;
  /** Quorum set threshold: how many nodes (counting a node itself) must agree. Mainnet 7 of 10, testnet 3 of 5. */
  readonly quorumThreshold: number;
  /** @default { mode: "mrenclave" } */
  readonly peerAttestation?: PeerAttestation;
  readonly nodes: readonly NodeSpec[];
  /**
   * The ledger archive the network publishes to, `{node}` standing for the publishing node's name: every node
   * lists the others' archives as its network.json `tx_source_urls`, so a node that falls behind (after a
   * reboot, a restore or a replacement) fetches the blocks it missed there. Either the S3 archive
   * ledger-distribution writes each node's blocks to (`00/00/…/<index:016x>.pb` under it), in
   * ledger-distribution's own `--dest` form `s3://<bucket>/<path with {node}>?region=<region>` (read over HTTPS
   * from that region's S3 endpoint, so its objects must be publicly readable, as ledger-distribution's
   * `public-read` uploads make them), or an HTTPS URL serving it (`https://ledger.example.com/{node}/`; without
   * `{node}`, one archive every node reads). consensus-service fetches over HTTPS only.
   * @default none: `tx_source_urls` is empty, and a node that falls behind has nowhere to fetch blocks from
   */
  readonly ledgerArchive?: string;
  /**
   * The independent operators who run the network's nodes, each with its Ed25519 public key: a flag day then
   * starts only once every one of them signed the same proposal on the coordination board
   * (components/coordination). @default none (one operator runs every node)
   */
  readonly operators?: readonly Operator[];
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/;
/** A DNS name (letters, digits and dashes between dots) as it stands in a peer URI's host part. */
const HOST = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/**
 * Why `peerHost` cannot stand in a peer URI (`insecure-mcp://<host>:8443/`), or undefined. `at` is its config key.
 * The platform adds the port and the scheme, so a value with either (or a path) is refused with the host it
 * probably meant.
 */
export function peerHostProblem(host: unknown, at: string): string | undefined {
  const fix = `the host name or IP address other operators' nodes reach the node's peer port (8443) on, like "peer1.mainnet.example.com"`;
  if (typeof host !== "string" || host.length === 0) return `${at} must be ${fix} (got ${describe(host)}).`;
  if (isIP(host) === 4 || (isIP(host) === 0 && HOST.test(host))) return undefined;
  if (isIP(host) === 6) {
    return (
      `${at} is the IPv6 address ${describe(host)}, which a peer URI cannot carry without brackets: give a DNS ` +
      `name for it instead.`
    );
  }
  let meant: string | undefined;
  try {
    meant = new URL(host.includes("://") ? host : `insecure-mcp://${host}`).hostname || undefined;
  } catch {
    meant = undefined;
  }
  return (
    `${at} must be ${fix}: only the host, with no scheme, port or path (the platform writes ` +
    `insecure-mcp://<host>:8443/ itself) (got ${describe(host)}).` +
    (meant && meant !== host && (isIP(meant) === 4 || HOST.test(meant)) ? ` Use "${meant}".` : "")
  );
}

/**
 * Every problem with a network description, each naming the field and the fix. Empty means valid. Run at
 * preview, before any resource is registered, so that bad input changes nothing.
 */
export function networkProblems(net: Partial<NetworkSpec> | undefined, where = "flagday:network"): string[] {
  if (!net || typeof net !== "object") return [`${where} is missing: describe the network (see stacks/).`];
  const problems: string[] = [];
  if (typeof net.name !== "string" || !NAME.test(net.name)) {
    problems.push(`${where}.name must be lowercase letters, digits and dashes (got ${describe(net.name)}).`);
  }
  if (typeof net.chainId !== "string" || net.chainId.length === 0) {
    problems.push(`${where}.chainId is required (MC_CHAIN_ID, e.g. "test" or "main").`);
  }
  problems.push(...releaseProblems(net.release, `${where}.release`));

  const att = net.peerAttestation;
  if (att && (att.mode ?? "mrenclave") !== "mrenclave") {
    problems.push(
      `${where}.peerAttestation.mode is ${describe(att.mode)}: peers must pin MRENCLAVE. Checking MRSIGNER ` +
        `(with product id and SVN) between peers would let a key holder be forced to sign a malicious enclave ` +
        `that any existing member could attach to the network and leak all inbound user traffic. Remove the ` +
        `setting or set mode: mrenclave (clients, not peers, check MRSIGNER).`,
    );
  }

  const nodes = net.nodes;
  if (!Array.isArray(nodes) || nodes.length === 0) {
    problems.push(`${where}.nodes is empty: list at least one node (a quorum needs a majority of nodes).`);
    return problems;
  }
  const seen = new Map<string, number>();
  nodes.forEach((n, i) => {
    if (!n || typeof n.name !== "string" || !NAME.test(n.name)) {
      problems.push(
        `${where}.nodes[${i}].name must be lowercase letters, digits and dashes (got ${describe(n?.name)}).`,
      );
      return;
    }
    if (seen.has(n.name)) {
      problems.push(
        `${where}.nodes[${i}].name "${n.name}" duplicates nodes[${seen.get(n.name)}]: node names must be unique.`,
      );
    } else {
      seen.set(n.name, i);
    }
    if (n.peerHost !== undefined) {
      const problem = peerHostProblem(n.peerHost, `${where}.nodes[${i}].peerHost`);
      if (problem) problems.push(problem);
    }
    if (n.release !== undefined && net.release) {
      const differs = CONSENSUS_FIELDS.filter((f) => n.release?.[f] !== net.release?.[f]);
      if (differs.length > 0) {
        problems.push(
          `${where}.nodes[${i}] ("${n.name}") is on a different release than the network ` +
            `(${differs.join(", ")} differ): all nodes must run the same enclave or they cannot attest to ` +
            `each other. Remove the node's release or change it together with ${where}.release.`,
        );
      } else if (n.release && sgxModeOf(n.release) !== sgxModeOf(net.release)) {
        problems.push(
          `${where}.nodes[${i}] ("${n.name}") states sgxMode ${sgxModeOf(n.release)} but the network's release is ` +
            `${sgxModeOf(net.release)}: a hardware-mode and a software-mode enclave never attest to each other. ` +
            `Remove the node's release or make its sgxMode match.`,
        );
      }
    }
  });

  if (net.operators !== undefined) {
    problems.push(...operatorProblems(net.operators, nodes, where));
  } else {
    nodes.forEach((n, i) => {
      if (n?.operator !== undefined) {
        problems.push(
          `${where}.nodes[${i}].operator names "${n.operator}" but ${where}.operators lists no operators: ` +
            `list every operator with its public key, or remove the node's operator.`,
        );
      }
    });
  }

  problems.push(...ledgerArchiveProblems(net.ledgerArchive, `${where}.ledgerArchive`));

  const t = net.quorumThreshold;
  const count = nodes.length;
  if (!Number.isInteger(t) || (t as number) < 1) {
    problems.push(`${where}.quorumThreshold must be a positive integer (got ${describe(t)}).`);
  } else if ((t as number) > count) {
    problems.push(
      `${where}.quorumThreshold is ${t} but there are only ${count} nodes: the network could never agree. ` +
        `Lower it to at most ${count}.`,
    );
  } else if ((t as number) * 2 <= count) {
    problems.push(
      `${where}.quorumThreshold ${t} of ${count} is not a majority: two halves could each commit different ` +
        `blocks. Use at least ${Math.floor(count / 2) + 1} (mainnet uses 7 of 10, testnet 3 of 5).`,
    );
  }
  return problems;
}

/** Throws one error listing every problem, or returns the network typed as valid. */
export function validateNetwork(
  net: Partial<NetworkSpec> | undefined,
  where = "flagday:network",
): NetworkSpec {
  const problems = networkProblems(net, where);
  if (problems.length > 0) {
    throw new Error(
      `flagday: invalid network description (nothing was changed):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
  }
  return net as NetworkSpec;
}

/**
 * Node settings a platform does not understand, or that are not non-empty strings: caught before anything is
 * registered. `platform` is how the message names it ("an AWS", "a Kubernetes"). `operator` is the stack's
 * operator in a network of several (`ownedBy`): another operator's nodes run on that operator's platform, with
 * that platform's settings, which are its business; of their settings only `msgPublicKey`, which this stack's
 * network.json carries, is checked here.
 */
export function nodeSettingsProblems(
  network: NetworkSpec,
  allowed: readonly string[],
  platform: string,
  where = "flagday:network",
  operator?: string,
): string[] {
  const problems: string[] = [];
  network.nodes.forEach((n, i) => {
    const own = ownedBy(n, operator);
    for (const [k, v] of Object.entries(n.settings ?? {})) {
      if (!own && k !== "msgPublicKey") continue;
      if (!allowed.includes(k)) {
        problems.push(
          `${where}.nodes[${i}].settings.${k} is not ${platform} node setting: use one of ${allowed.join(", ")}.`,
        );
      } else if (typeof v !== "string" || v.length === 0) {
        problems.push(`${where}.nodes[${i}].settings.${k} must be a non-empty string (got ${describe(v)}).`);
      }
    }
  });
  return problems;
}

/**
 * Whether a stack of `operator` runs `node`: every node when the network has one operator (`operator`
 * undefined), else the operator's own (as consensusNetwork.ts's ownNodes chooses them). A platform learns its
 * stack's operator from the first node it is asked to create.
 */
export function ownedBy(node: NodeSpec, operator: string | undefined): boolean {
  return operator === undefined || node.operator === operator;
}

/**
 * Why a stack cannot name node `index` in its nodes' network.json: the node is not one this stack runs and
 * states no `peerHost`.
 */
export function missingPeerHost(network: NetworkSpec, index: number, where = "flagday:network"): string {
  const n = network.nodes[index];
  const owner = n.operator !== undefined ? `operator ${n.operator}` : "another operator";
  return (
    `${where}.nodes[${index}].peerHost is missing: node ${n.name} belongs to ${owner}, whose peer address this ` +
    `stack cannot know (the node runs in ${owner}'s own account or cluster), yet every node's network.json lists ` +
    `it as a broadcast peer and quorum member. Ask ${owner} for the host its node's peer port (8443) is reached ` +
    `on and set it, like peerHost: peer.${n.name}.example.com.`
  );
}

/**
 * For a stack of `operator`: every node of another operator that states no `peerHost`, each naming the key and
 * why. Empty for a network of one operator (`operator` undefined), whose stack runs every node.
 */
export function peerHostProblems(
  network: NetworkSpec,
  operator: string | undefined,
  where = "flagday:network",
): string[] {
  return network.nodes.flatMap((n, i) =>
    ownedBy(n, operator) || n.peerHost ? [] : [missingPeerHost(network, i, where)],
  );
}

/**
 * The host a stack's nodes reach `node` on when the stack's platform did not create it (another operator's
 * node): its `peerHost`. Throws naming the key when there is none, at preview, while the graph is built.
 */
export function foreignPeerHost(network: NetworkSpec, node: NodeSpec, where = "flagday:network"): string {
  if (node.peerHost) return node.peerHost;
  const index = network.nodes.findIndex((n) => n.name === node.name);
  throw new Error(`flagday: ${missingPeerHost(network, index, where)} Nothing was changed.`);
}
