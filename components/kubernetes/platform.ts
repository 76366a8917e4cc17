import { createHash } from "node:crypto";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { localCommand, shellQuote as q } from "../aws/commands";
import { networkJson } from "../aws/userData";
import { NetworkSpec } from "../network";
import { NodeHandle, NodeStepArgs, Platform, SnapshotRecord, Step } from "../platform";
import { EnclaveRelease, hasDistributionStateFile, releaseKey } from "../release";
import { KubernetesPlatformArgs, kubernetesNodeSettingsProblems } from "./args";
import { CLIENT_PORT, kubernetesIngressGate } from "./gate";

export const PEER_PORT = 8443;
export const ADMIN_PORT = 8000;
const LEDGER = "/ledger";

interface KubeNode {
  /** The PVC the node's Deployment mounts: its own, or one a restore step made from a snapshot. */
  claim: pulumi.Output<string>;
  readonly selector: Readonly<Record<string, string>>;
}

const short = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 8);

/** A Kubernetes object name of at most `max` characters, kept unique by a digest when it must be cut. */
export function kubeName(s: string, max = 63): string {
  return s.length <= max ? s : `${s.slice(0, max - 9).replace(/-+$/, "")}-${short(s)}`;
}

export function kubernetesImage(
  release: EnclaveRelease,
  network: NetworkSpec,
  args: Pick<KubernetesPlatformArgs, "imageRepository">,
): string {
  return (
    release.image ?? `${args.imageRepository ?? "mobilecoin/node_hw"}:${release.version}-${network.chainId}`
  );
}

/**
 * MobileCoin consensus nodes on Kubernetes, after MobileCoin's chart-consensus-node: per node a PVC
 * `<node>-data` (the ledger, protected), a client Service (3223) apart from a peer Service (8443, plus the
 * admin gateway), and a Deployment with one replica and the Recreate strategy. Flag-day steps are kubectl
 * commands, Jobs and CSI VolumeSnapshots; the gate is the client Ingress.
 */
export function kubernetesPlatform(args: KubernetesPlatformArgs): Platform {
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
  const kubectl = `kubectl${args.context ? ` --context ${q(args.context)}` : ""} -n ${q(args.namespace)}`;
  const transitionAnnotations = (step: NodeStepArgs) => ({
    "flagday/transition": step.transition.id,
    "flagday/from": releaseKey(step.transition.from),
    "flagday/to": releaseKey(step.transition.to),
  });
  const claimVolume = (claim: pulumi.Input<string>) => ({
    name: "ledger",
    persistentVolumeClaim: { claimName: claim },
  });

  return {
    name: "kubernetes",

    node(spec, network, opts) {
      if (!checked.has(network.name)) {
        const problems = kubernetesNodeSettingsProblems(network);
        if (problems.length > 0) {
          throw new Error(
            `flagday: invalid node settings (nothing was changed):\n  - ${problems.join("\n  - ")}`,
          );
        }
        checked.add(network.name);
      }
      const prefix = `${network.name}-${spec.name}`;
      const selector = {
        "app.kubernetes.io/name": "consensus-node",
        "app.kubernetes.io/instance": spec.name,
      };
      const labels = { ...selector, "app.kubernetes.io/part-of": network.name };
      // The ledger: nothing of the release reaches it, so no enclave change can replace it.
      const pvc = new k8s.core.v1.PersistentVolumeClaim(
        `${prefix}-data`,
        {
          metadata: { name: `${spec.name}-data`, namespace: args.namespace, labels },
          spec: {
            accessModes: ["ReadWriteOnce"],
            ...(args.storageClassName ? { storageClassName: args.storageClassName } : {}),
            resources: { requests: { storage: args.ledgerSize ?? "512Gi" } },
          },
        },
        withProvider({ ...opts, protect: true }),
      );
      // Client and peer ports are separate Services, so the client gate can never cut peer traffic.
      new k8s.core.v1.Service(
        `${prefix}-client`,
        {
          metadata: { name: `${spec.name}-client`, namespace: args.namespace, labels },
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
          metadata: { name: `${spec.name}-peer`, namespace: args.namespace, labels },
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
      nodes.set(key(network, spec.name), { claim: pvc.metadata.name, selector });
      return {
        spec,
        adminUrl: url(
          args.adminUrl ?? `http://{node}-peer.{namespace}.svc.cluster.local:${ADMIN_PORT}`,
          spec.name,
        ),
        clientUrl: url(
          args.clientUrl ?? `insecure-mc://{node}-client.{namespace}.svc.cluster.local:${CLIENT_PORT}/`,
          spec.name,
        ),
        parent: opts.parent as pulumi.Resource,
      };
    },

    server(node, release, network, opts, generation = "initial") {
      const s = stateOf(network, node);
      const settings = node.spec.settings ?? {};
      const image = kubernetesImage(release, network, args);
      const others = network.nodes.filter((n) => n.name !== node.spec.name);
      const netJson = networkJson({
        threshold: network.quorumThreshold,
        peers: others.map((n) => ({
          name: n.name,
          ip: `${n.name}-peer.${args.namespace}.svc.cluster.local`,
          ...(n.settings?.msgPublicKey ? { msgPublicKey: String(n.settings.msgPublicKey) } : {}),
        })),
      });
      const logLevel = String(settings.logLevel ?? args.logLevel ?? "info");
      const resources = {
        requests: {
          ...(settings.cpu ? { cpu: String(settings.cpu) } : {}),
          ...(settings.memory ? { memory: String(settings.memory) } : {}),
          ...(args.sgxResources ?? {}),
        },
        limits: { ...(args.sgxResources ?? {}) },
      };
      // The name carries a digest of everything the pod runs, so any change is a new Deployment (new id): the
      // rolling path's health check keys on the server id and would not notice an in-place update.
      const name = pulumi
        .output(s.claim)
        .apply((claim) =>
          kubeName(
            `${node.spec.name}-${short(JSON.stringify([image, release.blockVersion, netJson, logLevel, resources, claim, generation]))}`,
          ),
        );
      const labels = {
        ...s.selector,
        "flagday/release": releaseKey(release).replace(/[^A-Za-z0-9.-]/g, "-"),
      };
      const env = [
        { name: "MC_CHAIN_ID", value: network.chainId },
        { name: "MC_BLOCK_VERSION", value: String(release.blockVersion) },
        { name: "RUST_LOG", value: logLevel },
        {
          name: "MC_MSG_SIGNER_KEY",
          valueFrom: {
            secretKeyRef: {
              name: args.msgSignerKeySecret.replace(/\{node\}/g, node.spec.name),
              key: "MC_MSG_SIGNER_KEY",
            },
          },
        },
      ];
      const config = new k8s.core.v1.ConfigMap(
        `${network.name}-${node.spec.name}-server-config`,
        {
          metadata: { name: pulumi.interpolate`${name}-network`, namespace: args.namespace },
          data: { "network.json": netJson },
        },
        withProvider({ ...opts, deleteBeforeReplace: true }),
      );
      return new k8s.apps.v1.Deployment(
        `${network.name}-${node.spec.name}-server`,
        {
          metadata: {
            name,
            namespace: args.namespace,
            labels,
            // Foreground: deleting the old Deployment waits for its pod to be gone, so the new enclave never runs
            // beside the old one or races it for the ReadWriteOnce ledger.
            annotations: {
              "pulumi.com/deletionPropagationPolicy": "foreground",
              "flagday/mrenclave": release.mrenclave,
              "flagday/generation": generation,
            },
          },
          spec: {
            replicas: 1,
            strategy: { type: "Recreate" },
            selector: { matchLabels: { ...s.selector } },
            template: {
              metadata: { labels },
              spec: {
                initContainers: [
                  {
                    name: "tokens-digest",
                    image,
                    command: [
                      "/bin/sh",
                      "-c",
                      `echo '${release.tokensConfigDigest}  /config/tokens.signed.json' | sha256sum -c -`,
                    ],
                    volumeMounts: [
                      {
                        name: "tokens",
                        mountPath: "/config/tokens.signed.json",
                        subPath: "tokens.signed.json",
                      },
                    ],
                  },
                ],
                containers: [
                  {
                    name: "consensus",
                    image,
                    args: [
                      "consensus-service",
                      `--ledger-path=${LEDGER}`,
                      `--peer-responder-id=${node.spec.name}-peer.${args.namespace}.svc.cluster.local:${PEER_PORT}`,
                      `--client-responder-id=${args.clientHost.replace(/\{node\}/g, node.spec.name)}:443`,
                      "--network=/config/network.json",
                      "--tokens=/config/tokens.signed.json",
                      "--sealed-block-signing-key=/sealed/block-signing-key",
                      `--peer-listen-uri=insecure-mcp://0.0.0.0:${PEER_PORT}/`,
                      `--client-listen-uri=insecure-mc://0.0.0.0:${CLIENT_PORT}/`,
                      "--admin-listen-uri=insecure-mca://127.0.0.1:8001/",
                    ],
                    env,
                    ports: [
                      { name: "client", containerPort: CLIENT_PORT },
                      { name: "peer", containerPort: PEER_PORT },
                    ],
                    resources,
                    volumeMounts: [
                      { name: "ledger", mountPath: LEDGER },
                      { name: "network", mountPath: "/config/network.json", subPath: "network.json" },
                      {
                        name: "tokens",
                        mountPath: "/config/tokens.signed.json",
                        subPath: "tokens.signed.json",
                      },
                      { name: "sealed", mountPath: "/sealed" },
                    ],
                  },
                  {
                    name: "admin-gateway",
                    image,
                    args: [
                      "mc-admin-http-gateway",
                      "--listen-host=0.0.0.0",
                      `--listen-port=${ADMIN_PORT}`,
                      "--admin-uri=insecure-mca://127.0.0.1:8001/",
                    ],
                    ports: [{ name: "admin", containerPort: ADMIN_PORT }],
                  },
                ],
                volumes: [
                  claimVolume(s.claim),
                  { name: "network", configMap: { name: config.metadata.name } },
                  { name: "tokens", configMap: { name: args.tokensConfigMap } },
                  { name: "sealed", emptyDir: {} },
                ],
              },
            },
          },
        },
        withProvider({ ...opts, deleteBeforeReplace: true }),
      );
    },

    nodeStep(step: NodeStepArgs, opts): Step {
      const { stage, node, transition, network } = step;
      const s = stateOf(network, node);
      const objectName = kubeName(`${node.spec.name}-${stage.name}-${short(transition.id)}`);
      const select = Object.entries(s.selector)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
      const job = (image: string, commands: readonly string[]): Step => {
        // A Job is awaited to completion by the provider, so the stage fails if any migration does.
        const j = new k8s.batch.v1.Job(
          step.name,
          {
            metadata: {
              name: objectName,
              namespace: args.namespace,
              annotations: transitionAnnotations(step),
            },
            spec: {
              backoffLimit: 0,
              template: {
                spec: {
                  restartPolicy: "Never",
                  containers: [
                    {
                      name: stage.name,
                      image,
                      command: ["/bin/sh", "-c", ["set -eu", ...commands].join("\n")],
                      volumeMounts: [{ name: "ledger", mountPath: LEDGER }],
                    },
                  ],
                  volumes: [claimVolume(s.claim)],
                },
              },
            },
          },
          withProvider(opts),
        );
        return { resource: j, output: j.metadata.name };
      };
      switch (stage.name) {
        case "stop": {
          // Scaling to zero keeps the Deployment (and its id) until `start` replaces it, and waiting for the pod
          // to be gone makes the snapshot see a closed LMDB.
          const stop = localCommand(
            step.name,
            {
              create: [
                `${kubectl} scale deployment -l ${q(select)} --replicas=0`,
                `${kubectl} wait --for=delete pod -l ${q(select)} --timeout=600s`,
              ].join(" && "),
              triggers: [transition.id],
            },
            opts,
          );
          return stop;
        }
        case "snapshot": {
          const snapshot = new k8s.apiextensions.CustomResource(
            step.name,
            {
              apiVersion: "snapshot.storage.k8s.io/v1",
              kind: "VolumeSnapshot",
              metadata: {
                name: objectName,
                namespace: args.namespace,
                annotations: {
                  ...transitionAnnotations(step),
                  // ledger-distribution's state file sits on the same volume up to v6.0.0: one snapshot holds both.
                  "flagday/contents": hasDistributionStateFile(transition.from)
                    ? `${LEDGER}/data.mdb ${LEDGER}/.distribution-state`
                    : `${LEDGER}/data.mdb`,
                  // The migration must not touch the volume before the snapshot is cut.
                  "pulumi.com/waitFor": "jsonpath={.status.readyToUse}=true",
                },
              },
              spec: {
                volumeSnapshotClassName: args.volumeSnapshotClassName,
                source: { persistentVolumeClaimName: s.claim },
              },
            },
            // Kept when a later transition drops this step: it is the way back from this flag day.
            withProvider({ ...opts, retainOnDelete: true }),
          );
          return { resource: snapshot, output: snapshot.metadata.name };
        }
        case "migrate": {
          const image = kubernetesImage(transition.to, network, args);
          return job(image, [
            `mc-ledger-migration --ledger-db ${LEDGER}`,
            ...(transition.to.migrations ?? []),
          ]);
        }
        case "reverse-migrate":
          return job(
            kubernetesImage(transition.from, network, args),
            transition.from.reverseMigrations ?? [],
          );
        case "restore": {
          if (step.restoreFrom === undefined) {
            throw new Error(
              `flagday: cannot restore ${network.name}/${node.spec.name}: the flag day being undone recorded no ` +
                `snapshot for it. Restore by hand, or roll back with the release's reverseMigrations.`,
            );
          }
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
              spec: {
                accessModes: ["ReadWriteOnce"],
                ...(args.storageClassName ? { storageClassName: args.storageClassName } : {}),
                resources: { requests: { storage: args.ledgerSize ?? "512Gi" } },
                dataSource: {
                  apiGroup: "snapshot.storage.k8s.io",
                  kind: "VolumeSnapshot",
                  name: step.restoreFrom,
                },
              },
            },
            withProvider({ ...opts, retainOnDelete: true }),
          );
          s.claim = claim.metadata.name;
          return { resource: claim, output: claim.metadata.name };
        }
        default:
          throw new Error(`flagday: the Kubernetes platform has no node step ${stage.name}`);
      }
    },

    snapshots(transition, snapNodes): pulumi.Output<SnapshotRecord> {
      // VolumeSnapshots are named by node, stage and transition, so a rollback knows their names. Whether one
      // exists is only known to the cluster: a restore from a missing one fails on the PVC's data source.
      return pulumi.output(
        Object.fromEntries(
          snapNodes.map((n) => [
            n.spec.name,
            { id: kubeName(`${n.spec.name}-snapshot-${short(transition.id)}`) },
          ]),
        ) as SnapshotRecord,
      );
    },

    ingressGate: kubernetesIngressGate({
      ...args,
      backend: (node) => ({ service: `${node.spec.name}-client`, port: CLIENT_PORT }),
    }),

    command: localCommand,
  };
}
