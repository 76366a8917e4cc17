import { execFileSync } from "node:child_process";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  ADMIN_PORT,
  CLIENT_PORT,
  ledgerMigrationCommand,
  networkJson,
  nodeImage,
  PEER_PORT,
  txSourceUrls,
} from "../mobilecoin";
import { foreignPeerHost, NetworkSpec, peerHostProblems } from "../network";
import { operatorCommandWith } from "../operatorCommand";
import {
  NodeHandle,
  NodeStepArgs,
  Platform,
  snapshotRecord,
  SnapshotRecord,
  unsealedSnapshotProblem,
} from "../platform";
import { Transition } from "../plan";
import { SEQUENCES } from "../stages";
import { EnclaveRelease, hasDistributionStateFile, releaseKey } from "../release";
import { KubernetesPlatformArgs, kubernetesNodeSettingsProblems, kubernetesReleaseProblems } from "./args";
import { kubernetesIngressGate } from "./gate";
import {
  accessFor,
  deploymentSpec,
  HostPreference,
  imageHostCommand,
  kubectl as kubectlFor,
  kubeName,
  ledgerClaimSpec,
  ledgerJobSpec,
  nodeSelector,
  parseSnapshotList,
  preferHostAffinity,
  prePullJobSpec,
  sealCommand,
  sgxPodSettings,
  short,
  stageObjectName,
  preflightCommand,
  stopCommand,
  volumeSnapshotSpec,
  warmSnapshotSpec,
} from "./specs";

export { kubeName } from "./specs";
export { ADMIN_PORT, PEER_PORT } from "../mobilecoin";

/**
 * A Service is ready when its node's pod is, and that is the Deployment's await (the start stage's meaning); the
 * provider's own wait for endpoints would hold the bring-up for minutes per Service while the pods come up, and
 * fail a Service updated while its node is stopped.
 */
const NO_AWAIT = { "pulumi.com/skipAwait": "true" } as const;

interface KubeNode {
  /** The PVC the node's Deployment mounts: its own, or one a restore step made from a snapshot. */
  claim: pulumi.Output<string>;
  readonly selector: Readonly<Record<string, string>>;
  /**
   * Per transition id, its pre-pull Job (its name, and the step): its start prefers the host that Job ran on.
   * The pull registers before the start (stage order), in the flag day and again, unchanged, in every steady
   * update after it.
   */
  readonly pulled: Map<string, { readonly job: string; readonly step: pulumi.Resource }>;
}

/**
 * Which of the named VolumeSnapshots exist, with the height each records. @default `kubectl get volumesnapshot`
 * in the platform's namespace and context, run when the program runs (so at preview, before any change).
 */
export type SnapshotLookup = (
  names: readonly string[],
) => Promise<Record<string, { readonly readyToUse: boolean; readonly height?: number }>>;

function kubectlSnapshotLookup(args: KubernetesPlatformArgs): SnapshotLookup {
  return async (names) => {
    const argv = [
      ...(args.context ? ["--context", args.context] : []),
      "-n",
      args.namespace,
      "get",
      "volumesnapshot",
      ...names,
      "--ignore-not-found",
      "-o",
      "json",
    ];
    try {
      return parseSnapshotList(execFileSync("kubectl", argv, { encoding: "utf8" }));
    } catch (e) {
      throw new Error(
        `flagday: could not list the flag day's VolumeSnapshots (kubectl ${argv.join(" ")}): ` +
          `${(e as Error).message.split("\n")[0]}. A rollback needs them; check kubectl's access to ` +
          `namespace ${args.namespace}${args.context ? ` in context ${args.context}` : ""}. Nothing was changed.`,
      );
    }
  };
}

/**
 * The record of a flag day's VolumeSnapshots as the cluster reported them (`found`, by object name), each with
 * the height it recorded. One that exists but is not ready to use fails, naming it: it was cut, so its node's
 * ledger may have been migrated since, and it cannot be restored until it is ready.
 */
export function clusterSnapshotRecord(
  transition: Transition,
  nodeNames: readonly string[],
  found: Awaited<ReturnType<SnapshotLookup>>,
  /** The kubectl the operator runs (namespace, context), for the wait the error names. */
  kubectl = "kubectl",
): SnapshotRecord {
  const record: Record<string, { id: string; height?: number }> = {};
  const unsealed: string[] = [];
  for (const node of nodeNames) {
    const name = stageObjectName(node, "snapshot", transition.id);
    const f = found[name];
    if (!f) continue;
    if (!f.readyToUse) {
      const wait = `${kubectl} wait volumesnapshot/${name} --for=jsonpath='{.status.readyToUse}'=true`;
      unsealed.push(unsealedSnapshotProblem(transition, node, name, "not readyToUse", wait));
    }
    record[node] = { id: name, ...(f.height !== undefined ? { height: f.height } : {}) };
  }
  if (unsealed.length > 0) throw new Error(unsealed.join("\n"));
  return snapshotRecord(transition, record, `the VolumeSnapshot's annotation flagday/height`);
}

/**
 * MobileCoin consensus nodes on Kubernetes, after MobileCoin's chart-consensus-node: per node a PVC
 * `<node>-data` (the ledger, protected), a client Service (3223) apart from a peer Service (8443, plus the
 * admin gateway), and a Deployment with one replica and the Recreate strategy. Flag-day steps are kubectl
 * commands, Jobs and CSI VolumeSnapshots; the gate is the client Ingress. Specs are in specs.ts.
 */
export function kubernetesPlatform(
  args: KubernetesPlatformArgs & { readonly snapshotLookup?: SnapshotLookup },
): Platform {
  const nodes = new Map<string, KubeNode>();
  const checked = new Set<string>();
  const key = (network: NetworkSpec, name: string) => `${network.name}/${name}`;
  const stateOf = (network: NetworkSpec, node: NodeHandle): KubeNode => {
    const s = nodes.get(key(network, node.spec.name));
    if (!s)
      throw new Error(`flagday: Kubernetes node ${node.spec.name} was not created by this platform's node()`);
    return s;
  };
  const withProvider = <T extends pulumi.ResourceOptions>(o: T): T =>
    args.provider ? { ...o, provider: args.provider } : o;
  const url = (template: string, node: string) =>
    template.replace(/\{node\}/g, node).replace(/\{namespace\}/g, args.namespace);
  const kubectl = kubectlFor(args.namespace, args.context);
  const operatorCommand = operatorCommandWith(args.commandProvider);
  const lookup = args.snapshotLookup ?? kubectlSnapshotLookup(args);
  const sgx = sgxPodSettings(args);
  const snapshotTimeoutMinutes = args.snapshotTimeoutMinutes ?? 240;
  const imageOf = (release: EnclaveRelease, network: NetworkSpec) =>
    nodeImage(release, network.chainId, args.imageRepository);
  const transitionAnnotations = (step: NodeStepArgs) => ({
    "flagday/transition": step.transition.id,
    "flagday/from": releaseKey(step.transition.from),
    "flagday/to": releaseKey(step.transition.to),
  });
  const objectName = (step: NodeStepArgs) =>
    stageObjectName(step.node.spec.name, step.stage.name, step.transition.id);
  /** A stage's VolumeSnapshot, named by node, stage and transition, with the transition's annotations. */
  const volumeSnapshot = <A extends object, S extends object>(
    step: NodeStepArgs,
    spec: pulumi.Output<{ annotations: A; spec: S }>,
    opts: pulumi.CustomResourceOptions,
  ) =>
    new k8s.apiextensions.CustomResource(
      step.name,
      {
        apiVersion: "snapshot.storage.k8s.io/v1",
        kind: "VolumeSnapshot",
        metadata: {
          name: objectName(step),
          namespace: args.namespace,
          annotations: spec.apply((x) => ({ ...transitionAnnotations(step), ...x.annotations })),
        },
        spec: spec.apply((x) => x.spec),
      },
      opts,
    );
  /** A Job is awaited to completion by the provider, so the stage fails if any migration does. */
  const job = (
    step: NodeStepArgs,
    image: string,
    commands: readonly string[],
    opts: pulumi.CustomResourceOptions,
  ) => {
    const s = stateOf(step.network, step.node);
    const j = new k8s.batch.v1.Job(
      step.name,
      {
        metadata: {
          name: objectName(step),
          namespace: args.namespace,
          annotations: transitionAnnotations(step),
        },
        spec: s.claim.apply((claim) =>
          ledgerJobSpec({ container: step.stage.name, image, claim, commands, sgx }),
        ),
      },
      withProvider(opts),
    );
    return { resource: j, output: j.metadata.name };
  };

  return {
    name: "kubernetes",

    node(spec, network, opts) {
      if (!checked.has(network.name)) {
        // An enclave the pods cannot load (hardware mode with no SGX resource), or another operator's node
        // without a peer address, registers nothing either. The first node's operator is the stack's.
        const problems = [
          ...kubernetesReleaseProblems(network, args),
          ...kubernetesNodeSettingsProblems(network, undefined, spec.operator),
          ...peerHostProblems(network, spec.operator),
        ];
        if (problems.length > 0) {
          throw new Error(
            `flagday: this network cannot run on the Kubernetes platform as described (nothing was changed):` +
              `\n  - ${problems.join("\n  - ")}`,
          );
        }
        checked.add(network.name);
      }
      const prefix = `${network.name}-${spec.name}`;
      const selector = nodeSelector(spec.name);
      const labels = { ...selector, "app.kubernetes.io/part-of": network.name };
      // The ledger: nothing of the release reaches it, so no enclave change can replace it.
      const pvc = new k8s.core.v1.PersistentVolumeClaim(
        `${prefix}-data`,
        {
          metadata: { name: `${spec.name}-data`, namespace: args.namespace, labels },
          spec: ledgerClaimSpec({ size: args.ledgerSize, storageClassName: args.storageClassName }),
        },
        withProvider({ ...opts, protect: true }),
      );
      // Client and peer ports are separate Services, so the client gate can never cut peer traffic.
      new k8s.core.v1.Service(
        `${prefix}-client`,
        {
          metadata: { name: `${spec.name}-client`, namespace: args.namespace, labels, annotations: NO_AWAIT },
          spec: {
            selector,
            ports: [{ name: "client", port: CLIENT_PORT, targetPort: CLIENT_PORT, appProtocol: "grpc" }],
          },
        },
        withProvider({ ...opts, protect: true }),
      );
      new k8s.core.v1.Service(
        `${prefix}-peer`,
        {
          metadata: { name: `${spec.name}-peer`, namespace: args.namespace, labels, annotations: NO_AWAIT },
          spec: {
            selector,
            ports: [
              { name: "peer", port: PEER_PORT, targetPort: PEER_PORT, appProtocol: "grpc" },
              { name: "admin", port: ADMIN_PORT, targetPort: ADMIN_PORT },
            ],
          },
        },
        withProvider({ ...opts, protect: true }),
      );
      nodes.set(key(network, spec.name), { claim: pvc.metadata.name, selector, pulled: new Map() });
      // Per node (settings.adminUrl / clientUrl, e.g. a `kubectl port-forward` each), else the platform's template.
      const setting = (k: "adminUrl" | "clientUrl") =>
        spec.settings?.[k] === undefined ? undefined : String(spec.settings[k]);
      return {
        spec,
        adminUrl: url(
          setting("adminUrl") ??
            args.adminUrl ??
            `http://{node}-peer.{namespace}.svc.cluster.local:${ADMIN_PORT}`,
          spec.name,
        ),
        clientUrl: url(
          setting("clientUrl") ??
            args.clientUrl ??
            `insecure-mc://{node}-client.{namespace}.svc.cluster.local:${CLIENT_PORT}/`,
          spec.name,
        ),
        parent: opts.parent as pulumi.Resource,
      };
    },

    nodeSteps: {
      start({ name: resourceName, node, release, network, generation, prepared }, opts) {
        const s = stateOf(network, node);
        const settings = node.spec.settings ?? {};
        const image = imageOf(release, network);
        const netJson = JSON.stringify(
          networkJson({
            threshold: network.quorumThreshold,
            // This stack's nodes by their peer Services; another operator's node (in its own cluster, which
            // this one's DNS does not know) by its peerHost.
            peers: network.nodes
              .filter((n) => n.name !== node.spec.name)
              .map((n) => ({
                // A node's peerHost, when stated, is its name everywhere (its own responder id included).
                host:
                  n.peerHost ??
                  (nodes.has(key(network, n.name))
                    ? `${n.name}-peer.${args.namespace}.svc.cluster.local`
                    : foreignPeerHost(network, n)),
                ...(n.settings?.msgPublicKey ? { msgPublicKey: String(n.settings.msgPublicKey) } : {}),
              })),
            txSourceUrls: txSourceUrls(
              network.ledgerArchive,
              network.nodes.map((n) => n.name),
              node.spec.name,
            ),
          }),
        );
        const logLevel = String(settings.logLevel ?? args.logLevel ?? "info");
        const resources = {
          requests: {
            ...(settings.cpu ? { cpu: String(settings.cpu) } : {}),
            ...(settings.memory ? { memory: String(settings.memory) } : {}),
            ...(args.sgxResources ?? {}),
          },
          limits: { ...(args.sgxResources ?? {}) },
        };
        // The name carries a digest of everything the pod runs, so any change is a new Deployment (new id):
        // the rolling path's health check keys on the server id and would not notice an in-place update. The
        // SGX placement joins the digest only when set, so names made before it existed stay as they are.
        const placed = Object.keys(sgx).length > 0 ? [sgx] : [];
        const name = pulumi
          .output(s.claim)
          .apply((claim) =>
            kubeName(
              `${node.spec.name}-${short(JSON.stringify([image, release.blockVersion, netJson, logLevel, resources, claim, generation, ...placed]))}`,
            ),
          );
        const labels = {
          ...s.selector,
          "flagday/release": releaseKey(release).replace(/[^A-Za-z0-9.-]/g, "-"),
        };
        // Made ahead of the window, replaced new-first: what a part of the server that runs nothing waits for
        // (StartArgs.prepared), so its steps and state saves are not inside the window.
        const ahead = { parent: opts.parent, dependsOn: [...(prepared ?? [])] };
        // Its name is the server's (a digest of everything the pod runs): new content is a new ConfigMap, and the
        // old pod keeps reading its own until it stops. So it is made before the window, not replaced old-first.
        const config = new k8s.core.v1.ConfigMap(
          `${resourceName}-config`,
          {
            metadata: { name: pulumi.interpolate`${name}-network`, namespace: args.namespace },
            data: { "network.json": netJson },
          },
          withProvider(ahead),
        );
        // The host that pulled the image, when this transition pulled it: preferred, and outside the name's
        // digest. Read by a part of the server rather than by the pull: a steady update registers it again
        // unchanged (its output kept, and no `prepared` to wait for), so the Deployment stays as it is and waits
        // for no stage step. Its text is a trigger: changed text reads again, and finds the host the Deployment prefers (an
        // update would run the no-op, and @pulumi/command keeps the no-op's output). Not ignoreChanges on the
        // affinity instead: the engine keeps the old value in a replacement too, so every flag day's new
        // Deployment would get the previous one's host.
        const pull = s.pulled.get(generation);
        const readHost =
          pull &&
          imageHostCommand({
            kubectl,
            node: node.spec.name,
            job: pull.job,
            selector: s.selector,
            transitionId: generation,
          });
        // After the pre-pull Job (prepared), before the window: two kubectl reads that need nothing stopped.
        // Replaced new-first with every transition (deleting it runs nothing).
        const imageHost = readHost
          ? operatorCommand(
              `${resourceName}-image-host`,
              { create: readHost, triggers: [generation, readHost] },
              ahead,
            ).output
          : undefined;
        const spec = deploymentSpec({
          node: node.spec.name,
          namespace: args.namespace,
          image,
          claim: s.claim,
          networkConfigMap: config.metadata.name,
          tokensConfigMap: args.tokensConfigMap,
          tokensConfigDigest: release.tokensConfigDigest,
          chainId: network.chainId,
          blockVersion: release.blockVersion,
          logLevel,
          clientHost: args.clientHost.replace(/\{node\}/g, node.spec.name),
          ...(node.spec.peerHost ? { peerHost: node.spec.peerHost } : {}),
          msgSignerKeySecret: args.msgSignerKeySecret.replace(/\{node\}/g, node.spec.name),
          resources,
          labels,
          selector: s.selector,
          sgx,
          // No host read resolves to undefined, and an undefined input is left out: no `affinity` at all.
          ...(imageHost
            ? { affinity: imageHost.apply(preferHostAffinity) as pulumi.Output<HostPreference> }
            : {}),
        });
        const deployment = new k8s.apps.v1.Deployment(
          resourceName,
          {
            metadata: {
              name,
              namespace: args.namespace,
              labels,
              // Foreground: deleting the old Deployment waits for its pod to be gone, so the new enclave never
              // runs beside the old one or races it for the ReadWriteOnce ledger.
              annotations: {
                "pulumi.com/deletionPropagationPolicy": "foreground",
                "flagday/mrenclave": release.mrenclave,
                "flagday/generation": generation,
              },
            },
            spec,
          },
          withProvider({ ...opts, deleteBeforeReplace: true }),
        );
        // Its id is namespace/name, and the name changes with everything it runs.
        return { resource: deployment, replacedWhen: [args.namespace, name] };
      },

      // Before the ingress closes: kubectl may do what the sequence's stages do, and the node's Deployment is
      // where kubectl looks.
      preflight: (step, opts) =>
        operatorCommand(
          step.name,
          {
            create: preflightCommand(
              kubectl,
              step.node.spec.name,
              stateOf(step.network, step.node).selector,
              accessFor(SEQUENCES[step.transition.sequence].map((s) => s.name)),
            ),
            triggers: [step.transition.id],
          },
          opts,
        ),

      // Scaling to zero keeps the Deployment (and its id) until `start` replaces it.
      stop: (step, opts) =>
        operatorCommand(
          step.name,
          {
            create: stopCommand(kubectl, stateOf(step.network, step.node).selector),
            triggers: [step.transition.id],
          },
          opts,
        ),

      // Prepare (clients still served): a warm CSI snapshot of the live claim, so the window's is incremental.
      "warm-snapshot"(step, opts) {
        const s = stateOf(step.network, step.node);
        const spec = s.claim.apply((claim) =>
          warmSnapshotSpec({ claim, volumeSnapshotClassName: args.volumeSnapshotClassName }),
        );
        const warm = volumeSnapshot(
          step,
          spec,
          withProvider({ ...opts, customTimeouts: { create: `${snapshotTimeoutMinutes}m` } }),
        );
        return { resource: warm, output: warm.metadata.name };
      },

      // Prepare: the target image on the host that runs the node's pod, its enclave's sha256 checked. The
      // transition's start prefers the host the Job ran on.
      pull(step, opts) {
        const s = stateOf(step.network, step.node);
        const j = new k8s.batch.v1.Job(
          step.name,
          {
            metadata: {
              name: objectName(step),
              namespace: args.namespace,
              annotations: transitionAnnotations(step),
            },
            spec: prePullJobSpec({
              image: imageOf(step.transition.to, step.network),
              enclaveSha256: step.transition.to.enclaveSha256,
              podLabels: s.selector,
              sgx,
            }),
          },
          withProvider(opts),
        );
        s.pulled.set(step.transition.id, { job: objectName(step), step: j });
        return { resource: j, output: j.metadata.name };
      },

      // After the cut, beside the start and the checks: the snapshot ready to use before the ingress reopens.
      seal: (step, opts) =>
        operatorCommand(
          step.name,
          {
            create: pulumi
              .output(step.snapshot ?? "")
              .apply((name) => sealCommand(kubectl, name, snapshotTimeoutMinutes * 60)),
            triggers: [step.transition.id],
          },
          opts,
        ),

      snapshot(step, opts) {
        const s = stateOf(step.network, step.node);
        const spec = pulumi.all([s.claim, pulumi.output(step.height ?? "")]).apply(([claim, height]) =>
          volumeSnapshotSpec({
            claim,
            volumeSnapshotClassName: args.volumeSnapshotClassName,
            height,
            hasStateFile: hasDistributionStateFile(step.transition.from),
          }),
        );
        // Kept when a later transition drops this step: it is the way back from this flag day.
        const snapshot = volumeSnapshot(step, spec, withProvider({ ...opts, retainOnDelete: true }));
        return { resource: snapshot, output: snapshot.metadata.name };
      },

      migrate: (step, opts) =>
        job(
          step,
          imageOf(step.transition.to, step.network),
          [ledgerMigrationCommand(), ...(step.transition.to.migrations ?? [])],
          opts,
        ),

      "reverse-migrate": (step, opts) =>
        job(
          step,
          imageOf(step.transition.from, step.network),
          step.transition.from.reverseMigrations ?? [],
          opts,
        ),

      restore(step, opts) {
        const { node, transition, network } = step;
        const s = stateOf(network, node);
        // A node the undone flag day never snapshotted was never migrated either: keep its claim as it is.
        const from = pulumi.output(step.restoreFrom ?? "").apply((id) => {
          if (!id) {
            throw new Error(
              `flagday: ${network.name}/${node.spec.name} has no snapshot from ${transition.undoes?.id}: its ` +
                `ledger was never migrated, so keep it (no restore is needed for this node).`,
            );
          }
          return id;
        });
        // A PVC cannot be rolled back in place: a new claim from the snapshot becomes the node's ledger and the
        // migrated one stays (protected) for inspection.
        const claim = new k8s.core.v1.PersistentVolumeClaim(
          step.name,
          {
            metadata: {
              name: kubeName(`${node.spec.name}-data-${short(transition.id)}`),
              namespace: args.namespace,
              annotations: transitionAnnotations(step),
            },
            spec: from.apply((fromSnapshot) =>
              ledgerClaimSpec({
                size: args.ledgerSize,
                storageClassName: args.storageClassName,
                fromSnapshot,
              }),
            ),
          },
          // The node's ledger from now on: protected like the claim node() made, and kept if ever dropped. Its
          // dataSource is the snapshot the history recorded (orchestrate.ts), which no later update changes.
          withProvider({ ...opts, protect: true, retainOnDelete: true }),
        );
        s.claim = claim.metadata.name;
        return { resource: claim, output: claim.metadata.name };
      },
    },

    snapshots(transition, snapNodes): pulumi.Output<SnapshotRecord> {
      // VolumeSnapshots are named by node, stage and transition, and carry the quiesced height: the ones that
      // exist and are ready are this flag day's way back.
      const names = snapNodes.map((n) => stageObjectName(n.spec.name, "snapshot", transition.id));
      return pulumi.output(lookup(names)).apply((found) =>
        clusterSnapshotRecord(
          transition,
          snapNodes.map((n) => n.spec.name),
          found,
          kubectl,
        ),
      );
    },

    ingressGate: kubernetesIngressGate({
      ...args,
      backend: (node) => ({ service: `${node.spec.name}-client`, port: CLIENT_PORT }),
    }),

    command: operatorCommand,
  };
}
