/**
 * The Kubernetes platform's object specs and commands, as plain functions of plain values (after MobileCoin's
 * chart-consensus-node): platform.ts only wires them into resources, and tests read them without mocks.
 */
import { createHash } from "node:crypto";
import {
  ADMIN_PORT,
  adminGatewayArgs,
  CLIENT_PORT,
  consensusServiceArgs,
  DISTRIBUTION_STATE_FILE,
  LEDGER_DB_FILE,
  LEDGER_PATH,
  PEER_PORT,
  shellQuote as q,
} from "../mobilecoin";

export const short = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 8);

/** A Kubernetes object name of at most `max` characters, kept unique by a digest when it must be cut. */
export function kubeName(s: string, max = 63): string {
  return s.length <= max ? s : `${s.slice(0, max - 9).replace(/-+$/, "")}-${short(s)}`;
}

/** The name of a node stage's object (Job, VolumeSnapshot, restored PVC) in a transition. */
export const stageObjectName = (node: string, stage: string, transitionId: string) =>
  kubeName(`${node}-${stage}-${short(transitionId)}`);

/** The labels that select a node's pod: its Services and the stop step find it by these. */
export function nodeSelector(node: string): Record<string, string> {
  return { "app.kubernetes.io/name": "consensus-node", "app.kubernetes.io/instance": node };
}

/** `kubectl` for the platform's namespace and context. */
export function kubectl(namespace: string, context?: string): string {
  return `kubectl${context ? ` --context ${q(context)}` : ""} -n ${q(namespace)}`;
}

/** Scale the node's Deployment to zero and wait for its pod to be gone: the snapshot then sees a closed LMDB. */
export function stopCommand(kubectlPrefix: string, selector: Record<string, string>): string {
  const select = Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  return [
    `${kubectlPrefix} scale deployment -l ${q(select)} --replicas=0`,
    `${kubectlPrefix} wait --for=delete pod -l ${q(select)} --timeout=600s`,
  ].join(" && ");
}

/** The gate's switch: move the client Ingress to an ingress class. */
export function ingressClassPatch(kubectlPrefix: string, ingress: string, ingressClass: string): string {
  return (
    `${kubectlPrefix} patch ingress ${q(ingress)} --type=merge -p ` +
    q(JSON.stringify({ spec: { ingressClassName: ingressClass } }))
  );
}

/** A ledger claim: the node's own, or one a restore makes from a VolumeSnapshot. */
export function ledgerClaimSpec(a: {
  readonly size?: string;
  readonly storageClassName?: string;
  readonly fromSnapshot?: string;
}) {
  return {
    accessModes: ["ReadWriteOnce"],
    ...(a.storageClassName ? { storageClassName: a.storageClassName } : {}),
    resources: { requests: { storage: a.size ?? "512Gi" } },
    ...(a.fromSnapshot !== undefined
      ? { dataSource: { apiGroup: "snapshot.storage.k8s.io", kind: "VolumeSnapshot", name: a.fromSnapshot } }
      : {}),
  };
}

/** The annotation a flag-day VolumeSnapshot carries its block height in: the rollback guard reads it. */
export const HEIGHT_ANNOTATION = "flagday/height";

/** A CSI snapshot of the node's stopped ledger claim, annotated with what it holds and its height. */
export function volumeSnapshotSpec(a: {
  readonly claim: string;
  readonly volumeSnapshotClassName: string;
  readonly height: string;
  readonly hasStateFile: boolean;
}) {
  return {
    annotations: {
      // ledger-distribution's state file sits on the same volume up to v6.0.0: one snapshot holds both.
      "flagday/contents": a.hasStateFile ? `${LEDGER_DB_FILE} ${DISTRIBUTION_STATE_FILE}` : LEDGER_DB_FILE,
      [HEIGHT_ANNOTATION]: a.height,
      // The migration must not touch the volume before the snapshot is cut.
      "pulumi.com/waitFor": "jsonpath={.status.readyToUse}=true",
    },
    spec: {
      volumeSnapshotClassName: a.volumeSnapshotClassName,
      source: { persistentVolumeClaimName: a.claim },
    },
  };
}

/** A Job that runs `commands` in `image` on the node's ledger claim; awaited to completion, never retried. */
export function ledgerJobSpec(a: {
  readonly container: string;
  readonly image: string;
  readonly claim: string;
  readonly commands: readonly string[];
}) {
  return {
    backoffLimit: 0,
    template: {
      spec: {
        restartPolicy: "Never",
        containers: [
          {
            name: a.container,
            image: a.image,
            command: ["/bin/sh", "-c", ["set -eu", ...a.commands].join("\n")],
            volumeMounts: [{ name: "ledger", mountPath: LEDGER_PATH }],
          },
        ],
        volumes: [{ name: "ledger", persistentVolumeClaim: { claimName: a.claim } }],
      },
    },
  };
}

const asArgs = (pairs: readonly (readonly [string, string])[]) => pairs.map(([f, v]) => `${f}=${v}`);

export interface DeploymentInputs {
  readonly node: string;
  readonly namespace: string;
  readonly image: string;
  readonly claim: string;
  readonly networkConfigMap: string;
  readonly tokensConfigMap: string;
  readonly tokensConfigDigest: string;
  readonly chainId: string;
  readonly blockVersion: number;
  readonly logLevel: string;
  readonly clientHost: string;
  readonly msgSignerKeySecret: string;
  readonly resources: {
    readonly requests: Readonly<Record<string, string>>;
    readonly limits: Readonly<Record<string, string>>;
  };
  readonly labels: Readonly<Record<string, string>>;
  readonly selector: Readonly<Record<string, string>>;
}

/**
 * The node's pod: one replica, Recreate, the consensus service beside its admin gateway, the ledger claim at
 * /ledger, and an init container that refuses a tokens config other than the release's.
 */
export function deploymentSpec(a: DeploymentInputs) {
  const tokens = { name: "tokens", mountPath: "/config/tokens.signed.json", subPath: "tokens.signed.json" };
  return {
    replicas: 1,
    strategy: { type: "Recreate" },
    selector: { matchLabels: { ...a.selector } },
    template: {
      metadata: { labels: { ...a.labels } },
      spec: {
        initContainers: [
          {
            name: "tokens-digest",
            image: a.image,
            command: [
              "/bin/sh",
              "-c",
              `echo '${a.tokensConfigDigest}  /config/tokens.signed.json' | sha256sum -c -`,
            ],
            volumeMounts: [tokens],
          },
        ],
        containers: [
          {
            name: "consensus",
            image: a.image,
            args: [
              "consensus-service",
              ...asArgs(
                consensusServiceArgs({
                  peerResponderId: `${a.node}-peer.${a.namespace}.svc.cluster.local:${PEER_PORT}`,
                  clientResponderId: `${a.clientHost}:443`,
                }),
              ),
            ],
            env: [
              { name: "MC_CHAIN_ID", value: a.chainId },
              { name: "MC_BLOCK_VERSION", value: String(a.blockVersion) },
              { name: "RUST_LOG", value: a.logLevel },
              {
                name: "MC_MSG_SIGNER_KEY",
                valueFrom: { secretKeyRef: { name: a.msgSignerKeySecret, key: "MC_MSG_SIGNER_KEY" } },
              },
            ],
            ports: [
              { name: "client", containerPort: CLIENT_PORT },
              { name: "peer", containerPort: PEER_PORT },
            ],
            resources: a.resources,
            volumeMounts: [
              { name: "ledger", mountPath: LEDGER_PATH },
              { name: "network", mountPath: "/config/network.json", subPath: "network.json" },
              tokens,
              { name: "sealed", mountPath: "/sealed" },
            ],
          },
          {
            name: "admin-gateway",
            image: a.image,
            args: ["mc-admin-http-gateway", ...asArgs(adminGatewayArgs())],
            ports: [{ name: "admin", containerPort: ADMIN_PORT }],
          },
        ],
        volumes: [
          { name: "ledger", persistentVolumeClaim: { claimName: a.claim } },
          { name: "network", configMap: { name: a.networkConfigMap } },
          { name: "tokens", configMap: { name: a.tokensConfigMap } },
          { name: "sealed", emptyDir: {} },
        ],
      },
    },
  };
}

/** What `kubectl get volumesnapshot -o json` says of the named snapshots that exist: their heights. */
export function parseSnapshotList(
  json: string,
): Record<string, { readonly readyToUse: boolean; readonly height?: number }> {
  const list = JSON.parse(json || "{}") as {
    items?: {
      metadata?: { name?: string; annotations?: Record<string, string> };
      status?: { readyToUse?: boolean };
    }[];
  };
  const out: Record<string, { readyToUse: boolean; height?: number }> = {};
  for (const item of list.items ?? []) {
    const name = item.metadata?.name;
    if (!name) continue;
    const raw = item.metadata?.annotations?.[HEIGHT_ANNOTATION];
    const height = raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
    out[name] = { readyToUse: item.status?.readyToUse === true, ...(height !== undefined ? { height } : {}) };
  }
  return out;
}
