import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";

const config = new pulumi.Config();
// An explicit provider on the test's own control plane: never the ambient ~/.kube/config.
const provider = new k8s.Provider("local", {
  kubeconfig: config.require("kubeconfig"),
  context: config.require("context"),
});
const ns = new k8s.core.v1.Namespace(
  "smoke",
  { metadata: { name: config.require("namespace") } },
  { provider },
);
const greeting = new k8s.core.v1.ConfigMap(
  "greeting",
  {
    metadata: { name: "greeting", namespace: ns.metadata.name },
    data: { hello: config.get("hello") ?? "world" },
  },
  { provider },
);
export const namespace = ns.metadata.name;
export const configMap = greeting.metadata.name;
