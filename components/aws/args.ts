import * as pulumi from "@pulumi/pulumi";
import { describe, EnclaveRelease, sgxModeOf } from "../release";
import { NetworkSpec, nodeSettingsProblems } from "../network";
import { RESTORE_INITIALIZATION_RATE_RANGE } from "./snapshots";
import { SSH_PUBLIC_KEY } from "./sshKey";

/** Where a node's subnet is: the ledger volume must be created in the subnet's availability zone. */
export interface AwsSubnet {
  /** e.g. `subnet-0abc…`. */
  readonly id: string;
  /**
   * e.g. `us-west-2a`. The node's ledger volume is created in the subnet's own zone, which the platform reads
   * from EC2 at preview (a volume in another zone cannot attach); given here, it must be that zone, or the
   * preview fails naming both. @default the subnet's zone, as EC2 reports it
   */
  readonly availabilityZone?: string;
}

/** The client-facing load balancer: the ingress gate. Peers never go through it. */
export interface AwsIngressArgs {
  /** At least two subnets in different zones (an ALB needs two). */
  readonly subnetIds: readonly string[];
  /** Must allow 443 from clients; the nodes' group must allow 3223 from this group. */
  readonly securityGroupIds: readonly string[];
  /** ACM certificate for the client endpoint (gRPC over TLS). */
  readonly certificateArn: string;
  /** @default false (internet-facing) */
  readonly internal?: boolean;
}

/**
 * Everything the AWS platform needs, read from the stack config `flagday:aws` by `awsPlatformArgs` (the SSH key
 * is not in it: it comes from the secret `flagday:sshPrivateKey`).
 */
export interface AwsPlatformArgs {
  /** AWS region every resource and CLI call uses, e.g. `us-west-2`. */
  readonly region: string;
  /**
   * The AWS CLI profile the operator's commands (the ingress gate, the pre-flight, the stop step's EC2 lookup)
   * run with, as `--profile`. @default the stack's `aws:profile`, else the CLI's default credentials
   */
  readonly profile?: string;
  /**
   * The 12-digit account the stack's resources are in: the pre-flight fails unless the aws CLI acts on it.
   * @default the AWS provider's own account (sts:GetCallerIdentity at preview)
   */
  readonly accountId?: string;
  /** The VPC the nodes and the ingress gate's target group are in. */
  readonly vpcId: string;
  /** Node subnets; node i goes into subnet i mod n, so listing several zones spreads the quorum. */
  readonly subnets: readonly AwsSubnet[];
  /**
   * Security groups of the nodes: 8443 from the other nodes only, 3223 from the gate's group, 8000 and 22 from
   * the operators' network (the checks and the flag-day steps run from there).
   */
  readonly securityGroupIds: readonly string[];
  /**
   * An AMI with systemd, docker as the unit docker.service (not a snap: user data orders it after the ledger
   * mount) and the AWS CLI (the node's default; `settings.ami` overrides per node). EC2 has no SGX: the nodes
   * run software-mode enclaves (awsReleaseProblems).
   */
  readonly ami: string;
  /** @default "m5.2xlarge" (per node: `settings.instanceType`) */
  readonly instanceType?: string;
  /**
   * ARN of a Capacity Reservation group (AWS Resource Groups, `arn:aws:resource-groups:<region>:<account>:group/…`)
   * every node's instance targets. A node's instance (its host) is replaced only when the host changes (AMI,
   * instance type, SSH key, a ledger restored by a rollback; an enclave change swaps containers on it), and the
   * replacement starts only after the old one is terminated (the ENI and the ledger volume attach to one
   * instance at a time), so with no free capacity in its zone the node would have no host meanwhile. Before
   * such a change or a rollback window, put `targeted` On-Demand Capacity Reservations in the group, one per
   * instance type and zone, as many instances as nodes there: the running instances move into them, and each
   * replacement takes the place its old instance frees. Otherwise the group may be empty: instances then run as plain On-Demand (EC2 falls back when no reservation
   * in a targeted group matches). @default none (instances run On-Demand, in any open reservation that matches)
   */
  readonly capacityReservationGroupArn?: string;
  /**
   * Instance profile allowed to read the message-signer key (`ssm:GetParameter` + `kms:Decrypt`, or
   * `secretsmanager:GetSecretValue`) and `tokensConfigUri` (`s3:GetObject`).
   */
  readonly iamInstanceProfile: string;
  /** EC2 key pair for break-glass SSH. @default none */
  readonly keyName?: string;
  /** Node image repository; the tag is `<version>-<chainId>` unless the release names a full image. @default "mobilecoin/node_hw" */
  readonly imageRepository?: string;
  /** Size of each ledger volume. @default 512 (MobileCoin's Helm chart) */
  readonly ledgerSizeGiB?: number;
  /** KMS key for the ledger volumes and their snapshots. @default the account's EBS default key */
  readonly ledgerKmsKeyId?: string;
  /**
   * The rate (MiB/s, 100 to 300) at which a ledger volume a rollback restores from a snapshot downloads the
   * whole snapshot from S3 (EBS Provisioned Rate for Volume Initialization). Without it EBS loads each block on
   * its first read, which can push the first LMDB reads after a rollback past the attest and txtest timeouts.
   * AWS bills a provisioned initialization rate per restored volume, on top of the volume (see the EBS pricing
   * page); 0 leaves the volumes to EBS's default lazy loading, or to fast snapshot restore if you enabled it on
   * the snapshots (billed per hour per zone while enabled). @default 300
   */
  readonly restoreInitializationRateMiBps?: number;
  /**
   * How long the long AWS operations may take before the update fails (minutes). Defaults are sized for a
   * 512 GiB ledger volume: a first (full) snapshot at an assumed 100 MiB/s is about 90 minutes (AWS documents
   * no snapshot throughput, only that large first snapshots "can take several hours"); a later one, after the
   * prepare stage's warm snapshot, copies only the blocks changed since.
   * @default { snapshotMinutes: 240, volumeMinutes: 30, instanceMinutes: 30 }
   */
  readonly timeouts?: AwsTimeouts;
  /**
   * ARN of each node's message-signer key (base64 DER Ed25519), with `{node}` standing for the node's name: an
   * SSM SecureString (`arn:aws:ssm:…:parameter/…`) or a Secrets Manager secret (`arn:aws:secretsmanager:…`).
   * The instance reads it at boot, so the key is never in user data, stack config or Pulumi state.
   */
  readonly msgSignerKeyArn: string;
  /** `s3://…/tokens.signed.json`; checked at boot against the release's `tokensConfigDigest`. */
  readonly tokensConfigUri: string;
  /** SSH user for the flag-day steps; user data installs the SSH key for it. @default "ubuntu" */
  readonly sshUser?: string;
  /**
   * The public half of `sshPrivateKey` (`ssh-ed25519 AAAA…`), which user data writes to sshUser's
   * authorized_keys. Only needed when it cannot be derived (an encrypted PEM key): it is derived from an
   * OpenSSH or unencrypted PEM private key, and checked against it when both are given.
   * @default derived from sshPrivateKey
   */
  readonly sshPublicKey?: string;
  /**
   * SSH private key for the flag-day steps (stop, migrate): a Pulumi secret, from `flagday:sshPrivateKey` read
   * with `requireSecret`. Only needed once a flag day runs. @default none (a flag day then fails at preview)
   */
  readonly sshPrivateKey?: pulumi.Input<string>;
  /** RUST_LOG of every node (per node: `settings.logLevel`). @default "info" */
  readonly logLevel?: string;
  /**
   * Each node's public client host, `{node}` standing for its name, e.g. `{node}.dev.example.com`: the gate
   * routes that host (and only it) to that node, and the node's client responder id is `<host>:443`, since an
   * attested client session belongs to one node (as MobileCoin's per-node client ingress does). Each host needs
   * a DNS record for the load balancer and a name on ingress.certificateArn (a `*.dev.example.com` certificate).
   */
  readonly clientHost: string;
  readonly ingress: AwsIngressArgs;
}

/** Per-node settings (`flagday:network.nodes[i].settings`) the AWS platform understands. */
/** Custom timeouts of the long AWS operations, minutes. */
export interface AwsTimeouts {
  /** A snapshot until completed: the warm one (before the window), the window's, and its seal. @default 240 */
  readonly snapshotMinutes?: number;
  /** A ledger volume created (or restored from a snapshot). @default 30 */
  readonly volumeMinutes?: number;
  /** An instance launched or terminated. @default 30 */
  readonly instanceMinutes?: number;
}

/** The timeouts in effect, defaults filled in. */
export function awsTimeouts(t: AwsTimeouts | undefined): Required<AwsTimeouts> {
  return { snapshotMinutes: 240, volumeMinutes: 30, instanceMinutes: 30, ...(t ?? {}) };
}

export const AWS_NODE_SETTINGS = ["instanceType", "ami", "logLevel", "msgPublicKey"] as const;

const ID = (prefix: string) => new RegExp(`^${prefix}-[0-9a-f]{8,17}$`);
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
const ZONE = /^[a-z]{2}(-[a-z]+)+-\d[a-z]$/;
/**
 * A client host with `{node}`: what an ALB host-header condition takes (letters, digits, dashes and dots, at
 * least one dot, only letters after the last).
 */
const CLIENT_HOST = /^\{node\}(\.[a-z0-9-]+)*\.[a-z]+$/;

/** The region an ARN names (its fourth field), or undefined for one without (or not an ARN). */
export const arnRegion = (arn: unknown): string | undefined =>
  typeof arn === "string" ? arn.split(":")[3] || undefined : undefined;

/**
 * Reads and checks `flagday:aws`. Throws one error listing every problem, each naming the field and the fix, so
 * a bad stack config fails the preview before anything is registered.
 */
export function awsPlatformArgs(raw: unknown, where: string): AwsPlatformArgs {
  const problems = awsArgsProblems(raw, where);
  if (problems.length > 0) {
    throw new Error(
      `flagday: invalid AWS settings (nothing was changed):\n` + problems.map((p) => `  - ${p}`).join("\n"),
    );
  }
  return raw as AwsPlatformArgs;
}

export function awsArgsProblems(raw: unknown, where: string): string[] {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) {
    return [`${where} is missing: set it to the AWS settings (see stacks/Pulumi.devnet.yaml).`];
  }
  const a = raw as Record<string, unknown>;
  const problems: string[] = [];
  if (a.timeouts !== undefined) {
    const t = a.timeouts as Record<string, unknown>;
    if (typeof t !== "object" || t === null || Array.isArray(t)) {
      problems.push(
        `${where}.timeouts must be {snapshotMinutes, volumeMinutes, instanceMinutes} (got ${describe(t)}).`,
      );
    } else {
      for (const [k, v] of Object.entries(t)) {
        if (!["snapshotMinutes", "volumeMinutes", "instanceMinutes"].includes(k)) {
          problems.push(
            `${where}.timeouts.${k} is not a timeout: use snapshotMinutes, volumeMinutes or instanceMinutes.`,
          );
        } else if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
          problems.push(
            `${where}.timeouts.${k} must be a whole number of minutes, at least 1 (got ${describe(v)}).`,
          );
        }
      }
    }
  }
  const str = (field: string, test: RegExp | undefined, fix: string, optional = false) => {
    const v = a[field];
    if (optional && v === undefined) return;
    if (typeof v !== "string" || v.length === 0 || (test && !test.test(v))) {
      problems.push(`${where}.${field} ${fix} (got ${describe(v)}).`);
    }
  };
  const ids = (v: unknown, path: string, prefix: string, min: number, fix: string) => {
    if (!Array.isArray(v) || v.length < min || v.some((x) => typeof x !== "string" || !ID(prefix).test(x))) {
      problems.push(`${path} ${fix} (got ${describe(v)}).`);
    }
  };

  if ("sshPrivateKey" in a) {
    problems.push(
      `${where}.sshPrivateKey must not be in plain config: remove it and run ` +
        `\`pulumi config set --secret flagday:sshPrivateKey < key\`.`,
    );
  }
  str("region", REGION, "must be an AWS region like us-west-2");
  str("vpcId", ID("vpc"), "must be the nodes' VPC id, like vpc-0123456789abcdef0");
  if (!Array.isArray(a.subnets) || a.subnets.length === 0) {
    problems.push(
      `${where}.subnets must list the node subnets as { id: subnet-… } (got ${describe(a.subnets)}).`,
    );
  } else {
    a.subnets.forEach((s: { id?: unknown; availabilityZone?: unknown } | undefined, i: number) => {
      if (typeof s?.id !== "string" || !ID("subnet").test(s.id)) {
        problems.push(
          `${where}.subnets[${i}].id must be a subnet id like subnet-0123456789abcdef0 (got ${describe(s?.id)}).`,
        );
      }
      if (
        s?.availabilityZone !== undefined &&
        (typeof s.availabilityZone !== "string" || !ZONE.test(s.availabilityZone))
      ) {
        problems.push(
          `${where}.subnets[${i}].availabilityZone must be the subnet's zone like us-west-2a, or be removed (the ` +
            `platform reads it from EC2): the ledger volume is created there (got ${describe(s?.availabilityZone)}).`,
        );
      }
    });
  }
  ids(
    a.securityGroupIds,
    `${where}.securityGroupIds`,
    "sg",
    1,
    "must list the nodes' security group ids (sg-…)",
  );
  str("ami", ID("ami"), "must be an AMI id like ami-0123456789abcdef0");
  str("instanceType", /^[a-z][a-z0-9-]*\.[a-z0-9]+$/, "must be an EC2 instance type like m5.2xlarge", true);
  str("iamInstanceProfile", undefined, "must name the nodes' instance profile (it reads the signer key)");
  str("keyName", undefined, "must name an EC2 key pair, or be removed", true);
  str(
    "imageRepository",
    undefined,
    "must be an image repository like mobilecoin/node_hw, or be removed",
    true,
  );
  str("ledgerKmsKeyId", /^arn:aws[a-z-]*:kms:/, "must be a KMS key ARN, or be removed", true);
  str("sshUser", /^[a-z_][a-z0-9_-]*$/, "must be a login name like ubuntu", true);
  str(
    "sshPublicKey",
    SSH_PUBLIC_KEY,
    "must be one OpenSSH public key line like `ssh-ed25519 AAAA… comment` (ssh-keygen -y -f key), or be removed",
    true,
  );
  str("profile", /^[\w.@+-]+$/, "must name a profile of the AWS CLI's config, or be removed", true);
  str("accountId", /^\d{12}$/, "must be the 12-digit AWS account id, or be removed", true);
  str("logLevel", undefined, "must be a RUST_LOG value like info", true);
  if (
    a.ledgerSizeGiB !== undefined &&
    (!Number.isInteger(a.ledgerSizeGiB) || (a.ledgerSizeGiB as number) < 1)
  ) {
    problems.push(`${where}.ledgerSizeGiB must be a whole number of GiB (got ${describe(a.ledgerSizeGiB)}).`);
  }
  const rate = a.restoreInitializationRateMiBps;
  const { min, max } = RESTORE_INITIALIZATION_RATE_RANGE;
  if (
    rate !== undefined &&
    !(rate === 0 || (Number.isInteger(rate) && (rate as number) >= min && (rate as number) <= max))
  ) {
    problems.push(
      `${where}.restoreInitializationRateMiBps must be a whole number of MiB/s from ${min} to ${max} (EBS's ` +
        `range), or 0 for EBS's default lazy loading of restored volumes (got ${describe(rate)}).`,
    );
  }
  const key = a.msgSignerKeyArn;
  if (
    typeof key !== "string" ||
    !/^arn:aws[a-z-]*:(ssm|secretsmanager):[a-z0-9-]+:\d{12}:(parameter\/|secret:)/.test(key) ||
    !key.includes("{node}")
  ) {
    problems.push(
      `${where}.msgSignerKeyArn must be the ARN of an SSM SecureString or Secrets Manager secret with {node} ` +
        `for the node's name, e.g. arn:aws:ssm:us-west-2:123456789012:parameter/flagday/testnet/{node}/msg-signer-key ` +
        `(got ${describe(key)}). Each node has its own key; never put the key itself in config.`,
    );
  }
  str("tokensConfigUri", /^s3:\/\/[^/]+\/.+/, "must be the s3://bucket/key of tokens.signed.json");
  str(
    "clientHost",
    CLIENT_HOST,
    "must be each node's public client host with {node} for the node, like {node}.dev.example.com: the gate " +
      "routes it to that node only, and clients attest the node by it",
  );
  str(
    "capacityReservationGroupArn",
    /^arn:aws[a-z-]*:resource-groups:[a-z0-9-]+:\d{12}:group\/[\w.-]+$/,
    "must be the ARN of a Capacity Reservation group (arn:aws:resource-groups:<region>:<account>:group/<name>), " +
      "or be removed",
    true,
  );
  problems.push(...regionMismatches(a, where));

  const ing = a.ingress as Partial<AwsIngressArgs> | undefined;
  if (!ing || typeof ing !== "object") {
    problems.push(
      `${where}.ingress is missing: give subnetIds, securityGroupIds and certificateArn of the client gate.`,
    );
  } else {
    ids(
      ing.subnetIds,
      `${where}.ingress.subnetIds`,
      "subnet",
      2,
      "must list at least two subnets in different zones (an ALB needs two)",
    );
    ids(
      ing.securityGroupIds,
      `${where}.ingress.securityGroupIds`,
      "sg",
      1,
      "must list the gate's security group ids (sg-…)",
    );
    if (typeof ing.certificateArn !== "string" || !/^arn:aws[a-z-]*:acm:/.test(ing.certificateArn)) {
      problems.push(
        `${where}.ingress.certificateArn must be an ACM certificate ARN for the client endpoint (got ${describe(ing.certificateArn)}).`,
      );
    }
    if (ing.internal !== undefined && typeof ing.internal !== "boolean") {
      problems.push(`${where}.ingress.internal must be true or false (got ${describe(ing.internal)}).`);
    }
  }
  return problems;
}

/**
 * Why a subnet's configured zone cannot be used, once EC2 said which zone the subnet is in: a ledger volume
 * created in the configured zone would not attach to the node's instance (it runs in the subnet's zone).
 */
export function subnetZoneProblem(
  subnet: AwsSubnet,
  actualZone: string | undefined,
  where: string,
): string | undefined {
  if (!actualZone) {
    return (
      `flagday: EC2 does not report an availability zone for ${where} (${subnet.id}) in this region: check the ` +
      `subnet id and flagday:aws.region. Nothing was changed.`
    );
  }
  if (subnet.availabilityZone !== undefined && subnet.availabilityZone !== actualZone) {
    return (
      `flagday: ${where}.availabilityZone is ${subnet.availabilityZone}, but EC2 says ${subnet.id} is in ` +
      `${actualZone}: the node's ledger volume would be created in ${subnet.availabilityZone} and could not ` +
      `attach to its instance in ${actualZone}. Remove availabilityZone (the platform reads the subnet's), or ` +
      `set it to ${actualZone}. Nothing was changed.`
    );
  }
  return undefined;
}

/**
 * ARNs that name another region than `region`: each is used from `region` and fails at apply time otherwise
 * (the instance reads the signer key with the region's endpoint; EBS, the ALB and instances only take a KMS
 * key, a certificate or a reservation group of their own region).
 */
function regionMismatches(a: Record<string, unknown>, where: string): string[] {
  const region = a.region;
  if (typeof region !== "string" || !REGION.test(region)) return [];
  const ing = (a.ingress ?? {}) as Record<string, unknown>;
  const arns: [string, unknown, string][] = [
    ["msgSignerKeyArn", a.msgSignerKeyArn, "the instances read the key from their own region's endpoint"],
    ["ledgerKmsKeyId", a.ledgerKmsKeyId, "EBS encrypts a volume only with a key of its own region"],
    [
      "ingress.certificateArn",
      ing.certificateArn,
      "a load balancer only takes a certificate of its own region",
    ],
    [
      "capacityReservationGroupArn",
      a.capacityReservationGroupArn,
      "an instance only targets reservations of its own region",
    ],
  ];
  return arns.flatMap(([field, arn, why]) => {
    const other = arnRegion(arn);
    return other !== undefined && other !== region
      ? [
          `${where}.${field} is in region ${other}, but ${where}.region is ${region}: ${why}. Use the one in ` +
            `${region} (or move the stack to ${other}).`,
        ]
      : [];
  });
}

/**
 * Node settings the AWS platform does not understand: caught before anything is registered. With `operator`
 * (the stack's, in a network of several) only that operator's nodes; of the others only msgPublicKey.
 */
export function awsNodeSettingsProblems(
  network: NetworkSpec,
  where = "flagday:network",
  operator?: string,
): string[] {
  return nodeSettingsProblems(network, AWS_NODE_SETTINGS, "an AWS", where, operator);
}

/**
 * Why the AWS platform cannot run the network's enclave, if it cannot: EC2 offers no Intel SGX on any instance
 * type, so a hardware-mode release would start no node. Checked with the node settings, before anything is
 * registered. The per-node releases are checked too: each must equal the network's (networkProblems).
 */
export function awsReleaseProblems(network: NetworkSpec, where = "flagday:network"): string[] {
  const refuse = (field: string, r: EnclaveRelease | undefined): string[] =>
    r === undefined || sgxModeOf(r) !== "hardware"
      ? []
      : [
          `${field} (${r.version}) is a hardware-mode SGX enclave` +
            `${r.sgxMode === undefined ? " (sgxMode defaults to hardware)" : ""}, which the AWS platform cannot ` +
            `run: EC2 offers no Intel SGX on any instance type (AWS's confidential computing is Nitro Enclaves, ` +
            `which cannot load an SGX enclave), so no node would start. Run it on the Kubernetes platform ` +
            `(flagday:platform: kubernetes) on an SGX node pool, for example AKS DCsv3 nodes with the SGX device ` +
            `plugin and sgx.intel.com/epc requests (flagday:kubernetes.sgxResources), which is how MobileCoin ` +
            `runs its own nodes, or on SGX bare metal. For a development network only, use a software-mode build ` +
            `of the enclave and set sgxMode: software on that release in flagday:releases (it cannot attest to ` +
            `hardware-mode peers).`,
        ];
  return [
    ...refuse(`${where}.release`, network.release),
    ...network.nodes.flatMap((n, i) => refuse(`${where}.nodes[${i}].release`, n.release)),
  ];
}
