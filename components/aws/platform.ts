import * as aws from "@pulumi/aws";
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ADMIN_PORT, CLIENT_PORT, LEDGER_PATH, nodeImage, noopUpdate, snapshotContents } from "../mobilecoin";
import { NetworkSpec } from "../network";
import { operatorCommand } from "../operatorCommand";
import {
  IngressGate,
  NodeHandle,
  NodeStepArgs,
  Platform,
  snapshotRecord,
  SnapshotRecord,
  Step,
} from "../platform";
import { Transition } from "../plan";
import { hasDistributionStateFile, releaseKey, sgxModeOf } from "../release";
import { AwsPlatformArgs, awsNodeSettingsProblems, awsReleaseProblems } from "./args";
import {
  CLOSED_ACTIONS,
  migrateScript,
  modifyListenerCommand,
  reverseMigrateScript,
  stopScript,
} from "./scripts";
import { renderUserData } from "./userData";

/** The node's long-lived pieces, kept by the platform between `node()` and the calls that use them. */
interface AwsNode {
  readonly eni: aws.ec2.NetworkInterface;
  readonly ledger: aws.ebs.Volume;
  readonly subnet: AwsPlatformArgs["subnets"][number];
  /** Set by a restore step: the node's server attaches this volume instead of `ledger`. */
  restored?: aws.ebs.Volume;
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
  // would make n^2 Outputs, which dominates graph construction at 100 nodes.
  const addresses = new Map<string, pulumi.Output<Record<string, string>>>();
  const addressesOf = (network: NetworkSpec): pulumi.Output<Record<string, string>> => {
    let out = addresses.get(network.name);
    if (!out) {
      const names = network.nodes.map((n) => n.name);
      out = pulumi
        .all(names.map((n) => nodes.get(key(network, n))!.eni.privateIp))
        .apply((ips) => Object.fromEntries(names.map((n, i) => [n, ips[i]])));
      addresses.set(network.name, out);
    }
    return out;
  };
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

  return {
    name: "aws",

    node(spec, network, opts) {
      if (!checked.has(network.name)) {
        // Checked on the first node, for all of them, so a bad setting or an enclave EC2 cannot run registers
        // nothing.
        const problems = [...awsReleaseProblems(network), ...awsNodeSettingsProblems(network)];
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
          availabilityZone: subnet.availabilityZone,
          size: args.ledgerSizeGiB ?? 512,
          type: "gp3",
          encrypted: true,
          ...(args.ledgerKmsKeyId ? { kmsKeyId: args.ledgerKmsKeyId } : {}),
          tags: { ...baseTags(network, spec.name), Name: `${prefix}-ledger`, "flagday:mount": LEDGER_PATH },
        },
        { ...opts, protect: true },
      );
      nodes.set(key(network, spec.name), { eni, ledger, subnet });
      return {
        spec,
        adminUrl: pulumi.interpolate`http://${eni.privateIp}:${ADMIN_PORT}`,
        clientUrl: pulumi.interpolate`insecure-mc://${eni.privateIp}:${CLIENT_PORT}/`,
        parent: opts.parent as pulumi.Resource,
      };
    },

    nodeSteps: {
      start({ name, node, release, network, generation }, opts) {
        const s = stateOf(network, node);
        const settings = node.spec.settings ?? {};
        const prefix = `${network.name}-${node.spec.name}`;
        const image = nodeImage(release, network.chainId, args.imageRepository);
        const ledger = s.restored ?? s.ledger;
        const others = network.nodes.filter((n) => n.name !== node.spec.name);
        const userData = pulumi.all([addressesOf(network), ledger.id]).apply(([ips, volumeId]) =>
          renderUserData({
            region: args.region,
            chainId: network.chainId,
            blockVersion: release.blockVersion,
            image,
            logLevel: String(settings.logLevel ?? args.logLevel ?? "info"),
            ip: ips[node.spec.name],
            peers: others.map((n) => ({
              name: n.name,
              ip: ips[n.name],
              ...(n.settings?.msgPublicKey ? { msgPublicKey: String(n.settings.msgPublicKey) } : {}),
            })),
            threshold: network.quorumThreshold,
            ledgerVolumeId: volumeId,
            msgSignerKeyArn: args.msgSignerKeyArn.replace(/\{node\}/g, node.spec.name),
            tokensConfigUri: args.tokensConfigUri,
            tokensConfigDigest: release.tokensConfigDigest,
            generation,
            sgxMode: sgxModeOf(release),
            // The node's own ledger volume was created empty by node(); a restored one holds a snapshot.
            ledgerCreatedEmpty: s.restored === undefined,
          }),
        );
        // Old instance first: the ENI and the ledger volume attach to one instance at a time, and a new enclave
        // must never run beside the old one.
        const instance = new aws.ec2.Instance(
          name,
          {
            region: args.region,
            ami: String(settings.ami ?? args.ami),
            instanceType: String(settings.instanceType ?? args.instanceType ?? "m5.2xlarge"),
            iamInstanceProfile: args.iamInstanceProfile,
            ...(args.keyName ? { keyName: args.keyName } : {}),
            primaryNetworkInterface: { networkInterfaceId: s.eni.id },
            metadataOptions: { httpTokens: "required" },
            userData,
            userDataReplaceOnChange: true,
            tags: {
              ...baseTags(network, node.spec.name),
              Name: prefix,
              "flagday:release": releaseKey(release),
              "flagday:mrenclave": release.mrenclave,
              "flagday:image": image,
              "flagday:generation": generation,
            },
          },
          // An instance type change is an in-place stop/start for EC2; replacing instead keeps one rule: any
          // change is a new server, which the rolling path's health check then waits for.
          { ...opts, deleteBeforeReplace: true, replaceOnChanges: ["instanceType"] },
        );
        // The attachment is the node's server as the orchestration sees it: it exists only once the instance
        // has its ledger, so the stages after `start` wait for both.
        const attachment = new aws.ec2.VolumeAttachment(
          `${name}-ledger`,
          {
            region: args.region,
            instanceId: instance.id,
            volumeId: ledger.id,
            deviceName: "/dev/sdf",
            stopInstanceBeforeDetaching: true,
          },
          { ...opts, deleteBeforeReplace: true },
        );
        return { resource: attachment };
      },

      stop: (step, opts) =>
        remote(step.name, stateOf(step.network, step.node), "stop", stopScript(), step.transition, opts),

      snapshot(step, opts) {
        const { node, transition, network, name } = step;
        const s = stateOf(network, node);
        const tags = transitionTags(step);
        const snapshot = new aws.ebs.Snapshot(
          name,
          {
            region: args.region,
            volumeId: (s.restored ?? s.ledger).id,
            description: `flagday ${transition.id}: ${network.name}/${node.spec.name} before ${transition.to.version}`,
            tags: {
              ...tags,
              // The height the quiesce stage agreed on: a rollback's guard compares the ledgers against it.
              "flagday:height": pulumi.output(step.height ?? "").apply((h) => h || "unknown"),
              // ledger-distribution's state file sits on the same volume up to v6.0.0, so one snapshot holds both.
              "flagday:contents": snapshotContents(hasDistributionStateFile(transition.from)),
            },
          },
          // Kept when a later transition drops this step: the snapshot is the way back from this flag day.
          { ...opts, retainOnDelete: true },
        );
        return { resource: snapshot, output: snapshot.id };
      },

      migrate: (step, opts) =>
        remote(
          step.name,
          stateOf(step.network, step.node),
          "migrate",
          migrateScript(imageOf(step.transition.to, step.network), step.transition.to.migrations),
          step.transition,
          opts,
        ),

      "reverse-migrate": (step, opts) =>
        remote(
          step.name,
          stateOf(step.network, step.node),
          "reverse-migrate",
          reverseMigrateScript(
            imageOf(step.transition.from, step.network),
            step.transition.from.reverseMigrations,
          ),
          step.transition,
          opts,
        ),

      restore(step, opts) {
        const { node, transition, network, name } = step;
        const s = stateOf(network, node);
        const tags = transitionTags(step);
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
            availabilityZone: s.subnet.availabilityZone,
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
            tags: {
              ...tags,
              Name: `${network.name}-${node.spec.name}-ledger`,
              "flagday:restored-from": step.restoreFrom,
            },
          },
          { ...opts, retainOnDelete: true },
        );
        s.restored = volume;
        return { resource: volume, output: volume.id };
      },
    },

    snapshots(transition, snapNodes): pulumi.Output<SnapshotRecord> {
      // The snapshots are found by their tags, so a rollback works whatever point the flag day reached.
      const found = snapNodes.map((n) =>
        aws.ebs
          .getSnapshotIdsOutput({
            region: args.region,
            owners: ["self"],
            filters: [
              { name: "tag:flagday:transition", values: [transition.id] },
              { name: "tag:flagday:node", values: [n.spec.name] },
            ],
          })
          .apply((r) => r.ids?.[0])
          .apply(async (id) => {
            if (!id) return undefined;
            const snap = await aws.ebs.getSnapshot({ region: args.region, snapshotIds: [id] });
            const height = Number(snap.tags?.["flagday:height"]);
            return { id, ...(Number.isInteger(height) ? { height } : {}) };
          }),
      );
      return pulumi.all(found).apply((recs) => {
        const out: Record<string, { id: string; height?: number }> = {};
        snapNodes.forEach((n, i) => {
          if (recs[i]) out[n.spec.name] = recs[i]!;
        });
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
      // Client port only: peers reach each other directly on 8443, so closing the gate never splits the quorum.
      const clients = new aws.lb.TargetGroup(
        `${prefix}-clients`,
        {
          region: args.region,
          vpcId: args.vpcId,
          targetType: "ip",
          port: CLIENT_PORT,
          protocol: "HTTP",
          protocolVersion: "GRPC",
          // Any gRPC answer (even UNIMPLEMENTED) means the client API is up.
          healthCheck: { path: "/grpc.health.v1.Health/Check", matcher: "0-99" },
          tags: baseTags(network),
        },
        child,
      );
      for (const n of gateNodes) {
        new aws.lb.TargetGroupAttachment(
          `${prefix}-${n.spec.name}`,
          {
            region: args.region,
            targetGroupArn: clients.arn,
            targetId: stateOf(network, n).eni.privateIp,
            port: CLIENT_PORT,
          },
          child,
        );
      }
      const listener = new aws.lb.Listener(
        `${prefix}-listener`,
        {
          region: args.region,
          loadBalancerArn: lb.arn,
          port: 443,
          protocol: "HTTPS",
          certificateArn: args.ingress.certificateArn,
          defaultActions: [{ type: "forward", targetGroupArn: clients.arn }],
          tags: baseTags(network),
        },
        child,
      );
      // The gate switches the listener outside Pulumi's view and always ends a flag day back at the state
      // Pulumi recorded (forward), so no refresh or drift is involved.
      return {
        resource: gate,
        reject: listener.arn.apply((arn) => modifyListenerCommand(args.region, arn, CLOSED_ACTIONS)),
        accept: pulumi
          .all([listener.arn, clients.arn])
          .apply(([arn, tg]) =>
            modifyListenerCommand(args.region, arn, [{ Type: "forward", TargetGroupArn: tg }]),
          ),
      };
    },

    command: operatorCommand,
  };
}
