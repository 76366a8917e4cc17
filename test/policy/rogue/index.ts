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
    network.nodes.forEach((spec, i) => {
      const release = spec.release ?? V1;
      const generation = i === 2 ? FLAG_DAY_GENERATION : "initial";
      const n = new ConsensusNode(spec, { platform, network, release, generation }, { parent: this });
      platform.nodeSteps.start(
        { name: `${network.name}-${spec.name}-server`, node: n.handle, release, network, generation },
        { parent: n },
      );
    });
    this.registerOutputs({ network: network.name, peerAttestation: network.peerAttestation?.mode });
  }
}

new HandBuiltNetwork();
