/**
 * A consensus network assembled by hand from flagday's pieces instead of through ConsensusNetwork, so none of the
 * component's checks run: peers attest by MRSIGNER, node3 runs another enclave than node1 and node2, and node3's
 * server claims a flag day that snapshotted nothing. Only the policy pack stands in the way (previewed only:
 * nothing here is ever created).
 */
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ConsensusNode } from "../../../components/consensusNetwork";
import { localPlatform } from "../../../components/local/platform";
import { FLAG_DAY_GENERATION, network, V1 } from "./spec";

class HandBuiltNetwork extends pulumi.ComponentResource {
  constructor() {
    super("flagday:index:ConsensusNetwork", network.name, {}, {});
    const platform = localPlatform({
      rootDir: path.join(os.tmpdir(), `flagday-rogue-${pulumi.getStack()}`),
      basePort: 39000,
    });
    const nodes = network.nodes.map(
      (spec) => new ConsensusNode(spec, { platform, network }, { parent: this }),
    );
    nodes.forEach((n, i) =>
      n.runRelease(n.spec.release ?? V1, [], i === 2 ? FLAG_DAY_GENERATION : "initial"),
    );
    this.registerOutputs({ network: network.name, peerAttestation: network.peerAttestation?.mode });
  }
}

new HandBuiltNetwork();
