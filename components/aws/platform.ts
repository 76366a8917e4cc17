import { createHash } from "node:crypto";
import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import {
  ADMIN_PORT,
  CLIENT_PORT,
  LEDGER_PATH,
  nodeImage,
  noopUpdate,
  snapshotContents,
  txSourceUrls,
} from "../mobilecoin";
import { foreignPeerHost, NetworkSpec, peerHostProblems } from "../network";
import { operatorCommand } from "../operatorCommand";
import {
  IngressGate,
  NodeHandle,
  NodeStepArgs,
  Platform,
  snapshotRecord,
  SnapshotRecord,
  Step,
  unsealedSnapshotProblem,
} from "../platform";
import { Transition } from "../plan";
import { EnclaveRelease, hasDistributionStateFile, releaseKey, sgxModeOf } from "../release";
import { sequenceHas } from "../stages";
import {
  AwsPlatformArgs,
  awsNodeSettingsProblems,
  awsReleaseProblems,
  AwsSubnet,
  awsTimeouts,
  subnetZoneProblem,
} from "./args";
import {
  AwsCliTarget,
  awsCliFlags,
  callerIdentityCheck,
  GATE_ROUTE_PRIORITY,
  gateAcceptCommand,
  gateRejectCommand,
  migrateScript,
  nodePreflightScript,
  onNode,
  pullScript,
  removeContainersScript,
  reverseMigrateScript,
  sealScript,
  snapshotScript,
  CUT_TIMEOUT_SECONDS,
  SSH_KEY_ENV,
  SshStepArgs,
  sshStepScript,
  stopScript,
} from "./scripts";
import { authorizedKeyLine } from "./sshKey";
import { renderServerScript, renderUserData } from "./userData";
import {
  restoreInitializationRate,
  snapshotLookupFilters,
  snapshotLookupProblem,
  warmSnapshotTags,
  windowSnapshotTags,
} from "./snapshots";

/** A snapshot step's answer: the id its script prints last (progress goes to stderr). */
const lastLine = (stdout: pulumi.Output<string> | undefined): pulumi.Output<string> =>
  pulumi.output(stdout ?? "").apply((t) => t.trim().split("\n").pop() ?? "");

/** A resource's `dependsOn` as a list (orchestrate.ts passes lists; a single resource is one too). */
const dependsOnList = (d: pulumi.CustomResourceOptions["dependsOn"]): pulumi.Input<pulumi.Resource>[] =>
  d === undefined ? [] : Array.isArray(d) ? d : [d as pulumi.Input<pulumi.Resource>];

/** The node's long-lived pieces, kept by the platform between `node()` and the calls that use them. */
interface AwsNode {
  readonly eni: aws.ec2.NetworkInterface;
  readonly ledger: aws.ebs.Volume;
  readonly subnet: AwsPlatformArgs["subnets"][number];
  /** The subnet's availability zone as EC2 reports it: where the node's ledger volumes are created. */
  readonly zone: pulumi.Output<string>;
  /** Set by a restore step: the node's server attaches this volume instead of `ledger`. */
  restored?: aws.ebs.Volume;
}

/**
 * A node's client target group name. AWS takes at most 32 characters, which Pulumi's own autoname (the resource
 * name, a dash and 7 random characters) exceeds for most names (`devnet-gate-node1-clients-…` is 33), failing
 * the create. So the name is the network and node (cut to fit) and a digest of them and of every input that
 * replaces a target group: a replacement gets a new name, so the new group exists before the old one is deleted.
 */
export function targetGroupName(network: string, node: string, replacedBy: readonly unknown[]): string {
  const digest = createHash("sha256")
    .update(JSON.stringify([network, node, ...replacedBy]))
    .digest("hex")
    .slice(0, 6);
  const base = `${network}-${node}`.slice(0, 25).replace(/-+$/, "");
  return `${base}-${digest}`;
}

/**
 * The zone of a node's ledger volumes: a volume attaches only to an instance in its own zone, so it is the
 * subnet's, as EC2 reports it, and a zone the config states must be that one. The lookup resolves at preview,
 * so a mismatch fails the preview, naming both.
 */
export function ledgerZone(region: string, subnet: AwsSubnet, where: string): pulumi.Output<string> {
  return aws.ec2.getSubnetOutput({ id: subnet.id, region }).apply((found) => {
    const problem = subnetZoneProblem(subnet, found.availabilityZone, where);
    if (problem) throw new Error(problem);
    return found.availabilityZone;
  });
}

/**
 * MobileCoin consensus nodes on EC2. A node is a persistent ENI (its peer address) and an encrypted gp3 ledger
 * volume, both protected and independent of the release; its server is an instance on that ENI running the
 * release's container, replaced old-first whenever the release or a node setting changes. Flag-day steps run
 * over SSH on the node (stop, migrate), snapshot the ledger volume with EBS, and gate clients at an ALB.
 */
export function awsPlatform(args: AwsPlatformArgs): Platform {
  const nodes = new Map<string, AwsNode>();
  const checked = new Set<string>();
  const key = (network: NetworkSpec, name: string) => `${network.name}/${name}`;
  const stateOf = (network: NetworkSpec, node: NodeHandle): AwsNode => {
    const s = nodes.get(key(network, node.spec.name));
    if (!s) throw new Error(`flagday: AWS node ${node.spec.name} was not created by this platform's node()`);
    return s;
  };
  // One Output of every node's address per network, shared by all servers: a per-server `all` over its peers
  // would make n^2 Outputs, which dominates graph construction at 100 nodes. Only the nodes node() created (by
  // the time a server starts, all of this stack's): another operator's node has no ENI here.
  const addresses = new Map<string, pulumi.Output<Record<string, string>>>();
  const addressesOf = (network: NetworkSpec): pulumi.Output<Record<string, string>> => {
    let out = addresses.get(network.name);
    if (!out) {
      const names = network.nodes.map((n) => n.name).filter((n) => nodes.has(key(network, n)));
      out = pulumi
        .all(names.map((n) => nodes.get(key(network, n))!.eni.privateIp))
        .apply((ips) => Object.fromEntries(names.map((n, i) => [n, ips[i]])));
      addresses.set(network.name, out);
    }
    return out;
  };
  /** A node's public client host: the gate routes it to that node, which clients attest by it. */
  const clientHostOf = (node: string) => args.clientHost.replace(/\{node\}/g, node);
  const baseTags = (network: NetworkSpec, node?: string) => ({
    "flagday:network": network.name,
    ...(node ? { "flagday:node": node } : {}),
  });
  const sshKey = (): pulumi.Output<string> => {
    if (args.sshPrivateKey === undefined) {
      throw new Error(
        "flagday: a flag day runs commands on the nodes over SSH, but flagday:sshPrivateKey is not set: run " +
          "`pulumi config set --secret flagday:sshPrivateKey < key` and pass it to awsPlatform as sshPrivateKey.",
      );
    }
    return pulumi.secret(args.sshPrivateKey);
  };
  // Every aws command the platform runs acts with the stack's region and profile: the provider's (aws:profile)
  // unless flagday:aws.profile says otherwise.
  const profile = args.profile ?? new pulumi.Config("aws").get("profile");
  const cli: AwsCliTarget = { region: args.region, ...(profile ? { profile } : {}) };
  const timeouts = awsTimeouts(args.timeouts);
  const minutes = (m: number) => `${m}m`;
  // The account the stack's resources are in: flagday:aws.accountId, or the provider's own, asked once.
  let account: pulumi.Output<string> | undefined;
  const expectedAccount = (): pulumi.Output<string> =>
    (account ??= args.accountId
      ? pulumi.output(args.accountId)
      : aws.getCallerIdentityOutput().apply((id) => {
          if (!id.accountId) {
            throw new Error(
              "flagday: the AWS provider did not say which account it acts on (sts:GetCallerIdentity), so the " +
                "pre-flight cannot check the aws CLI's: set flagday:aws.accountId. Nothing was changed.",
            );
          }
          return id.accountId;
        }));
  // The public half of the SSH key, for user data: derived from the private key, or flagday:aws.sshPublicKey
  // (which must then match it). Plain, not secret: it is a public key.
  let publicKey: pulumi.Output<string | undefined> | undefined;
  const authorizedKey = (): pulumi.Output<string | undefined> =>
    (publicKey ??= pulumi.unsecret(
      pulumi
        .output(args.sshPrivateKey)
        .apply((priv) => authorizedKeyLine(priv, args.sshPublicKey, args.sshUser ?? "ubuntu")),
    ));

  /**
   * The text of a step run on a node over the system's ssh from the operator's machine (sshStepScript): unlike
   * remote.Command it can ask EC2 what it means when SSH cannot connect, with the key only in its environment.
   */
  const sshScript = (
    network: NetworkSpec,
    node: NodeHandle,
    remoteScript: pulumi.Input<string>,
    noInstance: SshStepArgs["noInstance"],
    more: { readonly before?: pulumi.Input<string>; readonly connectWaitSeconds?: number } = {},
  ): pulumi.Output<string> => {
    const s = stateOf(network, node);
    return pulumi
      .all([s.eni.privateIp, s.eni.id, remoteScript, more.before ?? ""])
      .apply(([host, eniId, remoteText, first]) =>
        [
          ...(first ? [first] : []),
          sshStepScript({
            node: node.spec.name,
            host,
            user: args.sshUser ?? "ubuntu",
            eniId,
            cli,
            remote: remoteText,
            noInstance,
            ...(more.connectWaitSeconds ? { connectWaitSeconds: more.connectWaitSeconds } : {}),
          }),
        ].join("\n"),
      );
  };
  /** A transition's step on a node over SSH (sshScript), once per transition. */
  const sshStep = (
    step: NodeStepArgs,
    remoteScript: string,
    noInstance: SshStepArgs["noInstance"],
    opts: pulumi.CustomResourceOptions,
    before?: pulumi.Input<string>,
  ): Step =>
    operatorCommand(
      step.name,
      {
        create: sshScript(step.network, step.node, remoteScript, noInstance, { before }),
        triggers: [step.transition.id],
        environment: { [SSH_KEY_ENV]: sshKey() },
      },
      opts,
    );

  const remote = (
    name: string,
    s: AwsNode,
    what: string,
    create: pulumi.Input<string>,
    transition: Transition,
    opts: pulumi.CustomResourceOptions,
  ): Step => {
    const cmd = new command.remote.Command(
      name,
      {
        connection: { host: s.eni.privateIp, user: args.sshUser ?? "ubuntu", privateKey: sshKey() },
        create,
        update: noopUpdate(what),
        triggers: [transition.id],
      },
      opts,
    );
    return { resource: cmd, output: cmd.stdout };
  };

  const imageOf = (release: NodeStepArgs["transition"]["to"], network: NetworkSpec) =>
    nodeImage(release, network.chainId, args.imageRepository);
  const transitionTags = ({ network, node, transition }: NodeStepArgs) => ({
    ...baseTags(network, node.spec.name),
    "flagday:transition": transition.id,
    "flagday:from": releaseKey(transition.from),
    "flagday:to": releaseKey(transition.to),
  });

  /**
   * A node's host: an instance on its ENI whose user data holds nothing of the release, and its ledger volume
   * attached (the server step waits for the attachment). Replaced, old first, only when it changes itself.
   */
  const hostFor = (
    name: string,
    network: NetworkSpec,
    node: NodeHandle,
    opts: pulumi.CustomResourceOptions,
  ) => {
    const s = stateOf(network, node);
    const settings = node.spec.settings ?? {};
    const prefix = `${network.name}-${node.spec.name}`;
    const ledger = s.restored ?? s.ledger;
    const userData = pulumi.all([ledger.id, authorizedKey()]).apply(([volumeId, sshKeyLine]) =>
      renderUserData({
        region: args.region,
        ledgerVolumeId: volumeId,
        msgSignerKeyArn: args.msgSignerKeyArn.replace(/\{node\}/g, node.spec.name),
        // The node's own ledger volume was created empty by node(); a restored one holds a snapshot.
        ledgerCreatedEmpty: s.restored === undefined,
        sshUser: args.sshUser ?? "ubuntu",
        ...(sshKeyLine ? { sshAuthorizedKey: sshKeyLine } : {}),
      }),
    );
    // Old instance first: the ENI and the ledger volume attach to one instance at a time, and a new enclave
    // must never run beside the old one. (It was `<name>` when the instance ran the release: the alias
    // replaces that one, old first, instead of launching a second instance on the same ENI.)
    const host = new aws.ec2.Instance(
      `${name}-host`,
      {
        region: args.region,
        ami: String(settings.ami ?? args.ami),
        instanceType: String(settings.instanceType ?? args.instanceType ?? "m5.2xlarge"),
        iamInstanceProfile: args.iamInstanceProfile,
        ...(args.keyName ? { keyName: args.keyName } : {}),
        primaryNetworkInterface: { networkInterfaceId: s.eni.id },
        metadataOptions: { httpTokens: "required" },
        // The replacement starts only once the old instance is gone: a reservation group holds its place.
        ...(args.capacityReservationGroupArn
          ? {
              capacityReservationSpecification: {
                capacityReservationTarget: {
                  capacityReservationResourceGroupArn: args.capacityReservationGroupArn,
                },
              },
            }
          : {}),
        userData,
        userDataReplaceOnChange: true,
        tags: { ...baseTags(network, node.spec.name), Name: prefix, "flagday:role": "host" },
      },
      // An instance type change is an in-place stop/start for EC2; replacing instead keeps one rule: any
      // change is a new host, which the rolling path's health check then waits for.
      {
        ...opts,
        aliases: [...(opts.aliases ?? []), { name }],
        deleteBeforeReplace: true,
        replaceOnChanges: ["instanceType"],
        customTimeouts: {
          create: minutes(timeouts.instanceMinutes),
          delete: minutes(timeouts.instanceMinutes),
        },
      },
    );
    // The host has its ledger only once this exists: the server step waits for it.
    const attachment = new aws.ec2.VolumeAttachment(
      `${name}-ledger`,
      {
        region: args.region,
        instanceId: host.id,
        volumeId: ledger.id,
        deviceName: "/dev/sdf",
        stopInstanceBeforeDetaching: true,
      },
      {
        ...opts,
        deleteBeforeReplace: true,
        customTimeouts: {
          create: minutes(timeouts.volumeMinutes),
          delete: minutes(timeouts.volumeMinutes),
        },
      },
    );
    return { host, attachment };
  };

  /** The start step's script on the host (renderServerScript): the release's containers with the node's config. */
  const serverScriptFor = (
    network: NetworkSpec,
    node: NodeHandle,
    release: EnclaveRelease,
    generation: string,
  ) => {
    const settings = node.spec.settings ?? {};
    const image = nodeImage(release, network.chainId, args.imageRepository);
    // This stack's nodes by their ENIs' addresses; another operator's (no ENI here) by its peerHost, known
    // now, so a missing one fails while the graph is built.
    const others = network.nodes
      .filter((n) => n.name !== node.spec.name)
      .map((n) => ({
        name: n.name,
        // A node's peerHost, when stated, is its name everywhere: its own peer responder id and every
        // network.json, this operator's included, or SCP would not match its votes to the quorum member.
        host: n.peerHost ?? (nodes.has(key(network, n.name)) ? undefined : foreignPeerHost(network, n)),
        ...(n.settings?.msgPublicKey ? { msgPublicKey: String(n.settings.msgPublicKey) } : {}),
      }));
    const serverScript = addressesOf(network).apply((ips) =>
      onNode(
        renderServerScript({
          region: args.region,
          node: node.spec.name,
          chainId: network.chainId,
          blockVersion: release.blockVersion,
          image,
          enclaveSha256: release.enclaveSha256,
          logLevel: String(settings.logLevel ?? args.logLevel ?? "info"),
          ip: ips[node.spec.name],
          clientHost: clientHostOf(node.spec.name),
          ...(node.spec.peerHost ? { peerHost: node.spec.peerHost } : {}),
          peers: others.map(({ host: peer, ...p }) =>
            peer !== undefined ? { ...p, host: peer } : { ...p, ip: ips[p.name] },
          ),
          threshold: network.quorumThreshold,
          txSourceUrls: txSourceUrls(
            network.ledgerArchive,
            network.nodes.map((n) => n.name),
            node.spec.name,
          ),
          tokensConfigUri: args.tokensConfigUri,
          tokensConfigDigest: release.tokensConfigDigest,
          generation,
          sgxMode: sgxModeOf(release),
        }),
      ),
    );
    // The node's server as the orchestration sees it: the release's containers on the host. Any change of
    // what it runs (release, generation, a setting, a peer's address, a new host) replaces it, old first:
    // its delete removes the old containers.
    return serverScript;
  };

  return {
    name: "aws",

    node(spec, network, opts) {
      if (!checked.has(network.name)) {
        // Checked on the first node, for all of them, so a bad setting, an enclave EC2 cannot run or another
        // operator's node without a peer address registers nothing. The first node's operator is the stack's.
        const problems = [
          ...awsReleaseProblems(network),
          ...awsNodeSettingsProblems(network, undefined, spec.operator),
          ...peerHostProblems(network, spec.operator),
        ];
        if (problems.length > 0) {
          throw new Error(
            `flagday: this network cannot run on the AWS platform as described (nothing was changed):\n  - ` +
              problems.join("\n  - "),
          );
        }
        checked.add(network.name);
      }
      const index = network.nodes.findIndex((n) => n.name === spec.name);
      const subnet = args.subnets[index % args.subnets.length];
      const prefix = `${network.name}-${spec.name}`;
      const zone = ledgerZone(args.region, subnet, `flagday:aws.subnets[${index % args.subnets.length}]`);
      // The peer address other nodes' network.json names: an ENI outlives every instance replacement.
      const eni = new aws.ec2.NetworkInterface(
        `${prefix}-identity`,
        {
          region: args.region,
          subnetId: subnet.id,
          securityGroups: [...args.securityGroupIds],
          description: `MobileCoin consensus ${network.name}/${spec.name}: peer and client address`,
          tags: { ...baseTags(network, spec.name), Name: prefix },
        },
        { ...opts, protect: true },
      );
      // Nothing of the release may reach these inputs: an enclave change must never replace the ledger.
      const ledger = new aws.ebs.Volume(
        `${prefix}-ledger`,
        {
          region: args.region,
          availabilityZone: zone,
          size: args.ledgerSizeGiB ?? 512,
          type: "gp3",
          encrypted: true,
          ...(args.ledgerKmsKeyId ? { kmsKeyId: args.ledgerKmsKeyId } : {}),
          tags: { ...baseTags(network, spec.name), Name: `${prefix}-ledger`, "flagday:mount": LEDGER_PATH },
        },
        { ...opts, protect: true },
      );
      nodes.set(key(network, spec.name), { eni, ledger, subnet, zone });
      return {
        spec,
        adminUrl: pulumi.interpolate`http://${eni.privateIp}:${ADMIN_PORT}`,
        clientUrl: pulumi.interpolate`insecure-mc://${eni.privateIp}:${CLIENT_PORT}/`,
        parent: opts.parent as pulumi.Resource,
      };
    },

    nodeSteps: {
      // The node's host (an instance on its ENI with its ledger attached) runs the release's containers. Nothing
      // of the release is in the host, so an enclave change swaps the containers on the running host (the
      // server step, over SSH), with the image the prepare stage pulled there: the window neither boots nor
      // pulls. The host is replaced only when it changes itself (AMI, type, key, a restored ledger volume).
      start({ name, node, release, network, generation }, opts) {
        const { host, attachment } = hostFor(name, network, node, opts);
        const serverScript = serverScriptFor(network, node, release, generation);
        const create = sshScript(
          network,
          node,
          serverScript,
          {
            fail:
              "its host instance does not run, so the release cannot start there: bring the node back (a " +
              "pulumi up outside a flag day replaces its host), then run pulumi up again",
          },
          { connectWaitSeconds: timeouts.instanceMinutes * 60 },
        );
        const triggers = [create, host.id];
        const server = operatorCommand(
          name,
          {
            create,
            delete: sshScript(network, node, onNode(removeContainersScript()), {
              ok: "nothing runs there, so nothing is left to remove",
            }),
            triggers,
            environment: { [SSH_KEY_ENV]: sshKey() },
          },
          { ...opts, dependsOn: [...dependsOnList(opts.dependsOn), attachment], deleteBeforeReplace: true },
        );
        return { ...server, replacedWhen: triggers };
      },

      // Prepare (clients still served): a warm snapshot of the live ledger volume, so the window's is incremental.
      "warm-snapshot": (step, opts) => {
        const s = stateOf(step.network, step.node);
        const cmd = operatorCommand(
          step.name,
          {
            create: (s.restored ?? s.ledger).id.apply((volumeId) =>
              snapshotScript({
                cli,
                volumeId,
                find: warmSnapshotTags(step.network.name, step.transition.id, step.node.spec.name),
                tags: {
                  "flagday:from": releaseKey(step.transition.from),
                  "flagday:to": releaseKey(step.transition.to),
                },
                description: `flagday ${step.transition.id}: warm snapshot of ${step.network.name}/${step.node.spec.name}, taken while serving`,
                waitFor: "completed",
                timeoutSeconds: timeouts.snapshotMinutes * 60,
              }),
            ),
            triggers: [step.transition.id],
          },
          opts,
        );
        return { resource: cmd.resource, output: lastLine(cmd.output) };
      },

      // Prepare: the target image pulled on the node's instance and its enclave checked, before the window.
      pull: (step, opts) =>
        remote(
          step.name,
          stateOf(step.network, step.node),
          "pull",
          onNode(pullScript(imageOf(step.transition.to, step.network), step.transition.to.enclaveSha256)),
          step.transition,
          opts,
        ),

      // After the cut, beside the migration, the start and the checks: the snapshot completed before the
      // ingress reopens (sized for hours by flagday:aws.timeouts.snapshotMinutes).
      seal: (step, opts) => {
        const snapshotId = pulumi.output(step.snapshot ?? "");
        return operatorCommand(
          step.name,
          {
            create: snapshotId.apply((id) =>
              sealScript({ cli, snapshotId: id, timeoutSeconds: timeouts.snapshotMinutes * 60 }),
            ),
            triggers: [step.transition.id],
          },
          opts,
        );
      },

      // Before the ingress closes, on every node: the aws CLI acts on the stack's account, and the node takes
      // the SSH key and runs docker for the SSH user (and has its ledger mounted, when the sequence migrates on
      // it). A node with no running instance passes only when the sequence needs none on it (a restore: stop
      // counts it as stopped, and restore and start act through EC2).
      preflight: (step, opts) => {
        const migrates =
          sequenceHas(step.transition.sequence, "migrate") ||
          sequenceHas(step.transition.sequence, "reverse-migrate");
        return sshStep(
          step,
          onNode(nodePreflightScript({ node: step.node.spec.name, ledgerMounted: migrates })),
          migrates
            ? {
                fail:
                  "the migration runs on the node's instance, and none runs: bring the node back (a pulumi up " +
                  "outside a flag day replaces its server), then run the flag day. Nothing was closed.",
              }
            : {
                ok: "nothing runs there: the stop counts it as stopped; the restore and start need no instance",
              },
          opts,
          expectedAccount().apply((acct) => callerIdentityCheck(cli, acct)),
        );
      },

      // A node whose instance never launched (or is stopped) has nothing to stop: that must not block the way
      // back after a failed start. One that runs and cannot be reached fails.
      // (The stop step was a remote.Command before: the alias keeps a stack whose last flag day registered
      // one from creating, and so running, this stop again on its next steady update; it is updated, which
      // runs the no-op `update`.)
      stop: (step, opts) =>
        sshStep(
          step,
          onNode(stopScript()),
          { ok: "nothing runs there, so it counts as stopped" },
          {
            ...opts,
            aliases: [...(opts.aliases ?? []), { type: "command:remote:Command" }],
          },
        ),

      // Inside the window: the snapshot cut (EBS lists it `pending`: its point in time is taken), not copied. The
      // migration may write the volume from then on; the seal waits for `completed` before the ingress reopens.
      // Taken by a command, not an aws.ebs.Snapshot (which waits for completion, hours for a first snapshot).
      // Nothing deletes it: it is the way back from this flag day.
      snapshot(step, opts) {
        const { node, transition, network } = step;
        const s = stateOf(network, node);
        const cmd = operatorCommand(
          step.name,
          {
            create: pulumi
              .all([(s.restored ?? s.ledger).id, pulumi.output(step.height ?? "")])
              .apply(([volumeId, height]) =>
                snapshotScript({
                  cli,
                  volumeId,
                  find: windowSnapshotTags(network.name, transition.id, node.spec.name),
                  tags: {
                    "flagday:from": releaseKey(transition.from),
                    "flagday:to": releaseKey(transition.to),
                    // The height the quiesce stage agreed on: a rollback's guard compares the ledgers against it.
                    "flagday:height": height || "unknown",
                    // ledger-distribution's state file sits on the same volume up to v6.0.0: one snapshot holds both.
                    "flagday:contents": snapshotContents(hasDistributionStateFile(transition.from)),
                  },
                  description: `flagday ${transition.id}: ${network.name}/${node.spec.name} before ${transition.to.version}`,
                  waitFor: "cut",
                  timeoutSeconds: CUT_TIMEOUT_SECONDS,
                }),
              ),
            triggers: [transition.id],
          },
          // A stack whose flag day began with an aws.ebs.Snapshot here: the command finds that snapshot by its
          // tags and reuses it (the old resource was retainOnDelete, so replacing it deletes nothing in AWS).
          { ...opts, deleteBeforeReplace: true },
        );
        return { resource: cmd.resource, output: lastLine(cmd.output) };
      },

      migrate: (step, opts) =>
        remote(
          step.name,
          stateOf(step.network, step.node),
          "migrate",
          onNode(
            migrateScript(
              imageOf(step.transition.to, step.network),
              step.transition.to.migrations ?? [],
              step.transition.to.enclaveSha256,
            ),
          ),
          step.transition,
          opts,
        ),

      "reverse-migrate": (step, opts) =>
        remote(
          step.name,
          stateOf(step.network, step.node),
          "reverse-migrate",
          onNode(
            reverseMigrateScript(
              imageOf(step.transition.from, step.network),
              step.transition.from.reverseMigrations,
            ),
          ),
          step.transition,
          opts,
        ),

      restore(step, opts) {
        const { node, transition, network, name } = step;
        const s = stateOf(network, node);
        const tags = transitionTags(step);
        const restoreRate = restoreInitializationRate(args);
        if (!step.restoreFrom) {
          throw new Error(
            `flagday: cannot restore ${network.name}/${node.spec.name}: the flag day ${transition.undoes?.id ?? "being undone"} ` +
              `recorded no snapshot for it in the stack output flagday.history. Restore by hand, or roll back ` +
              `with reverse migrations (set the release's reverseMigrations).`,
          );
        }
        // EBS cannot restore in place: a new volume from the snapshot becomes the node's ledger, and the
        // migrated one stays (protected) for inspection.
        const volume = new aws.ebs.Volume(
          name,
          {
            region: args.region,
            availabilityZone: s.zone,
            // A node the undone flag day never snapshotted was never migrated either; an EBS volume without a
            // snapshot would be blank, so that case stops here with the way out instead.
            snapshotId: pulumi.output(step.restoreFrom).apply((id) => {
              if (!id) {
                throw new Error(
                  `flagday: ${network.name}/${node.spec.name} has no snapshot from ${transition.undoes?.id}: its ` +
                    `ledger volume was never migrated, so keep it (no restore is needed for this node).`,
                );
              }
              return id;
            }),
            size: args.ledgerSizeGiB ?? 512,
            type: "gp3",
            encrypted: true,
            ...(args.ledgerKmsKeyId ? { kmsKeyId: args.ledgerKmsKeyId } : {}),
            // A volume made from a snapshot loads its blocks from S3 on first read, which can push the first
            // LMDB reads after the rollback past attest's and txtest's timeouts: download it all at a set rate.
            ...(restoreRate ? { volumeInitializationRate: restoreRate } : {}),
            tags: {
              ...tags,
              Name: `${network.name}-${node.spec.name}-ledger`,
              "flagday:restored-from": step.restoreFrom,
            },
          },
          {
            ...opts,
            // The node's ledger from now on: protected like the one node() made, and kept if ever dropped.
            protect: true,
            retainOnDelete: true,
            // Its source is fixed once created (orchestrate.ts passes the snapshot the history recorded); if an
            // input ever differed, the engine must not replace the ledger for it. The rate only acts at creation.
            ignoreChanges: ["snapshotId", "volumeInitializationRate"],
            customTimeouts: { create: minutes(timeouts.volumeMinutes) },
          },
        );
        s.restored = volume;
        return { resource: volume, output: volume.id };
      },
    },

    snapshots(transition, snapNodes, network): pulumi.Output<SnapshotRecord> {
      // Only for a flag day that failed part-way (orchestrate.ts reads a completed one's from the history): its
      // snapshots are found by their tags, whatever point it reached. Only this account's snapshots of this
      // network, transition and node count (one still copying fails naming it: wait, then `up`); a copy with the same tags (AWS Backup, DLM) makes it
      // ambiguous, and the operator decides (snapshotLookupProblem), never the newest silently.
      const lookups = snapNodes.map((n) =>
        aws.ebs.getSnapshotIdsOutput({
          region: args.region,
          owners: ["self"],
          filters: snapshotLookupFilters(network.name, transition.id, n.spec.name),
        }),
      );
      // One apply over every node's answer: every ambiguity is named at once, and one error is raised.
      return pulumi.all(lookups).apply(async (results) => {
        const ids = results.map((r) => [...new Set(r.ids ?? [])]);
        const problems = snapNodes.flatMap(
          (n, i) => snapshotLookupProblem(transition.id, n.spec.name, ids[i]) ?? [],
        );
        if (problems.length > 0) throw new Error(problems.join("\n"));
        const out: Record<string, { id: string; height?: number }> = {};
        const unsealed: string[] = [];
        await Promise.all(
          snapNodes.map(async (n, i) => {
            const id = ids[i][0];
            if (!id) return;
            const snap = await aws.ebs.getSnapshot({
              region: args.region,
              owners: ["self"],
              snapshotIds: [id],
            });
            if (snap.state !== "completed") {
              const wait = `aws ec2 wait snapshot-completed ${awsCliFlags(cli)} --snapshot-ids ${id}`;
              unsealed.push(
                unsealedSnapshotProblem(transition, n.spec.name, id, `state ${snap.state}`, wait),
              );
            }
            const height = Number(snap.tags?.["flagday:height"]);
            out[n.spec.name] = { id, ...(Number.isInteger(height) ? { height } : {}) };
          }),
        );
        if (unsealed.length > 0) throw new Error(unsealed.join("\n"));
        return snapshotRecord(transition, out, "the snapshot's tag flagday:height");
      });
    },

    ingressGate(network, gateNodes, opts): IngressGate {
      const gate = new pulumi.ComponentResource("flagday:aws:IngressGate", `${network.name}-gate`, {}, opts);
      const child = { parent: gate };
      const prefix = `${network.name}-gate`;
      const lb = new aws.lb.LoadBalancer(
        `${prefix}-lb`,
        {
          region: args.region,
          loadBalancerType: "application",
          internal: args.ingress.internal ?? false,
          subnets: [...args.ingress.subnetIds],
          securityGroups: [...args.ingress.securityGroupIds],
          tags: baseTags(network),
        },
        child,
      );
      // A host no node has gets a 404: no request reaches a node it did not name. Pulumi owns this default
      // outright: the gate never switches it (it adds and removes its own rule, gateRejectCommand).
      const listener = new aws.lb.Listener(
        `${prefix}-listener`,
        {
          region: args.region,
          loadBalancerArn: lb.arn,
          port: 443,
          protocol: "HTTPS",
          certificateArn: args.ingress.certificateArn,
          defaultActions: [
            {
              type: "fixed-response",
              fixedResponse: { statusCode: "404", contentType: "text/plain", messageBody: "unknown host" },
            },
          ],
          tags: baseTags(network),
        },
        child,
      );
      // One route per node: its client host to its own target group, so every request of a client's attested
      // session reaches the node it attested (its client responder id is that host). Client port only: peers
      // reach each other directly on 8443, so closing the gate never splits the quorum.
      for (const n of gateNodes) {
        const node = n.spec.name;
        const target = {
          vpcId: args.vpcId,
          targetType: "ip",
          port: CLIENT_PORT,
          protocol: "HTTP",
          protocolVersion: "GRPC",
        };
        const clients = new aws.lb.TargetGroup(
          `${prefix}-${node}-clients`,
          {
            region: args.region,
            name: targetGroupName(network.name, node, [args.region, ...Object.values(target)]),
            ...target,
            // Any gRPC answer (even UNIMPLEMENTED) means the client API is up.
            healthCheck: { path: "/grpc.health.v1.Health/Check", matcher: "0-99" },
            tags: baseTags(network, node),
          },
          child,
        );
        new aws.lb.TargetGroupAttachment(
          `${prefix}-${node}`,
          {
            region: args.region,
            targetGroupArn: clients.arn,
            targetId: stateOf(network, n).eni.privateIp,
            port: CLIENT_PORT,
          },
          child,
        );
        new aws.lb.ListenerRule(
          `${prefix}-${node}-route`,
          {
            region: args.region,
            listenerArn: listener.arn,
            // By the node's place in the network: adding a node at the end moves no other route.
            priority: GATE_ROUTE_PRIORITY + network.nodes.findIndex((x) => x.name === node),
            conditions: [{ hostHeader: { values: [clientHostOf(node)] } }],
            actions: [{ type: "forward", targetGroupArn: clients.arn }],
            tags: baseTags(network, node),
          },
          child,
        );
      }
      // The gate closes every route at once with one rule of its own before them all, outside Pulumi's view,
      // with the stack's region and profile (cli): no resource here changes, so a `pulumi refresh` or `up`
      // while it rejects reopens nothing. It always ends a flag day open again.
      return {
        resource: gate,
        reject: listener.arn.apply((arn) => gateRejectCommand(cli, arn)),
        accept: () => listener.arn.apply((arn) => gateAcceptCommand(cli, arn)),
      };
    },

    command: operatorCommand,
  };
}
