import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { CLIENT_PORT } from "../mobilecoin";
import { NetworkSpec } from "../network";
import { IngressGate, NodeHandle, Platform } from "../platform";
import { KubernetesGateArgs } from "./args";
import { Transition } from "../plan";
import {
  ingressAcceptCommand,
  ingressClassPatch,
  ingressClosedTest,
  kubectl as kubectlFor,
  kubeName,
  short,
} from "./specs";

export { CLIENT_PORT } from "../mobilecoin";

/** The client API paths MobileCoin's client Ingress routes (chart-consensus-node); peer paths are not here. */
export const CLIENT_PATHS = [
  "/consensus_client.ConsensusClientAPI",
  "/consensus_common.BlockchainAPI",
  "/build_info.BuildInfoApi",
  "/attest.AttestedApi",
] as const;

/** Where the gate sends a node's client traffic. */
export interface GateBackend {
  readonly service: pulumi.Input<string>;
  readonly port: number;
}

export interface KubernetesIngressGateOptions extends KubernetesGateArgs {
  /**
   * The Service in front of each node's client port. @default a selector-less Service and EndpointSlice per
   * node pointing at the host of its `clientUrl` (nodes outside the cluster, e.g. on AWS)
   */
  readonly backend?: (node: NodeHandle, network: NetworkSpec, parent: pulumi.Resource) => GateBackend;
}

/**
 * The client gate as a Kubernetes Ingress, usable by any platform (`{ ...awsPlatform(a), ingressGate:
 * kubernetesIngressGate(k) }`). Rejecting moves the Ingress to an ingress class no controller serves, so every
 * client route disappears at once while nothing about the nodes or their peer traffic changes; accepting moves
 * it back, leaving the Ingress exactly as Pulumi recorded it.
 */
export function kubernetesIngressGate(opts: KubernetesIngressGateOptions): Platform["ingressGate"] {
  return (network, nodes, componentOpts): IngressGate => {
    const gate = new pulumi.ComponentResource(
      "flagday:kubernetes:IngressGate",
      `${network.name}-gate`,
      {},
      componentOpts,
    );
    const child = { parent: gate, ...(opts.provider ? { provider: opts.provider } : {}) };
    const backends = nodes.map((n) => (opts.backend ?? externalBackend(opts))(n, network, gate));
    const host = (node: NodeHandle) => opts.clientHost.replace(/\{node\}/g, node.spec.name);
    const ingressName = `${network.name}-client`;
    const serving = opts.ingressClassName ?? "nginx";
    const ingress = new k8s.networking.v1.Ingress(
      `${network.name}-gate-ingress`,
      {
        metadata: {
          name: ingressName,
          namespace: opts.namespace,
          labels: { "app.kubernetes.io/part-of": network.name, "flagday/role": "client-ingress" },
          annotations: {
            "nginx.ingress.kubernetes.io/backend-protocol": "GRPC",
            // Its readiness is the controller's load-balancer status, which a closed gate never gets.
            "pulumi.com/skipAwait": "true",
          },
        },
        spec: {
          ingressClassName: serving,
          ...(opts.tlsSecretName
            ? { tls: [{ hosts: nodes.map(host), secretName: opts.tlsSecretName }] }
            : {}),
          rules: nodes.map((n, i) => ({
            host: host(n),
            http: {
              paths: CLIENT_PATHS.map((path) => ({
                path,
                pathType: "Prefix",
                backend: { service: { name: backends[i].service, port: { number: backends[i].port } } },
              })),
            },
          })),
        },
      },
      // The gate switches own the class once they have run (field manager kubectl-patch): the stack never applies
      // it again, so a resume, an abort or a rollback that touches the Ingress while the gate is closed neither
      // fails on a server-side-apply conflict nor reopens it. Only the switches (accept, reject) change it.
      { ...child, ignoreChanges: ["spec.ingressClassName"] },
    );
    const kubectl = kubectlFor(opts.namespace, opts.context);
    const closed = opts.closedIngressClassName ?? "flagday-closed";
    const reopened = (t: Transition) => kubeName(`${network.name}-reopened-${short(t.id)}`);
    return {
      resource: ingress,
      reject: ingressClassPatch(kubectl, ingressName, closed),
      accept: (t) => ingressAcceptCommand(kubectl, ingressName, serving, reopened(t), t.id),
      // Closed, and this transition never reopened it: whatever its failed window committed was its own checks'.
      closedSince: (t) => ingressClosedTest(kubectl, ingressName, closed, reopened(t)),
    };
  };
}

/** A Service without selector plus an EndpointSlice: how an Ingress reaches a node outside the cluster. */
function externalBackend(opts: KubernetesGateArgs) {
  return (node: NodeHandle, network: NetworkSpec, parent: pulumi.Resource): GateBackend => {
    const name = `${network.name}-${node.spec.name}-client-ext`;
    const child = { parent, ...(opts.provider ? { provider: opts.provider } : {}) };
    const service = new k8s.core.v1.Service(
      `${network.name}-gate-${node.spec.name}`,
      {
        metadata: { name, namespace: opts.namespace },
        spec: {
          ports: [{ name: "client", port: CLIENT_PORT, targetPort: CLIENT_PORT, appProtocol: "grpc" }],
        },
      },
      child,
    );
    const host = pulumi.output(node.clientUrl).apply((u) => new URL(u).hostname);
    new k8s.discovery.v1.EndpointSlice(
      `${network.name}-gate-${node.spec.name}-endpoints`,
      {
        metadata: {
          name,
          namespace: opts.namespace,
          labels: { "kubernetes.io/service-name": name },
        },
        addressType: host.apply((h) => (/^\d+\.\d+\.\d+\.\d+$/.test(h) ? "IPv4" : "FQDN")),
        endpoints: [{ addresses: [host] }],
        ports: [{ name: "client", port: CLIENT_PORT, protocol: "TCP" }],
      },
      { ...child, dependsOn: [service] },
    );
    return { service: service.metadata.name, port: CLIENT_PORT };
  };
}
