/**
 * Issue 14, the AWS defects that only a real account would show, held by plain tests: where the enclave can
 * run (EC2 has no SGX), the ledger volume never formatted unless it is provably blank, stopping what is not
 * running, a ledger mount that survives a reboot, and a signer key kept out of `docker inspect`. The shell
 * scripts are run, with stand-ins for docker, blkid and mkfs on PATH, not only matched.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import * as aws from "../../components/aws";
import * as userData from "../../components/aws/userData";
import { onNode, sshStepScript, stopScript } from "../../components/aws/scripts";
import { nodeImage } from "../../components/mobilecoin";
import { networkProblems } from "../../components/network";
import { CONSENSUS_FIELDS, EnclaveRelease, releaseProblems } from "../../components/release";
import { captureGraph } from "../graph/harness";
import { awsArgs, hostUserDataOf, network, runNetwork, serverScriptOf, V5, V6 } from "./fixtures";
import { standIns } from "./stand-ins";

// js-yaml comes with @pulumi/pulumi; it ships no typings.
const yaml = require("js-yaml") as { load(text: string): unknown };

const HARDWARE: EnclaveRelease = { ...V6, sgxMode: "hardware" };
const { sgxMode: _mode, ...UNSPECIFIED } = V6;
const SOFTWARE: EnclaveRelease = { ...V6, sgxMode: "software" };

const { tmp, bin } = standIns("aws-safety");
function run(shell: "sh" | "bash", script: string, path: string, env: Record<string, string> = {}) {
  const r = spawnSync(shell, ["-c", script], {
    encoding: "utf8",
    env: { ...process.env, ...env, PATH: `${path}:${process.env.PATH}` },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** One node's boot script arguments, from the platform fixture's settings. */
const A = awsArgs();
const BOOT: userData.UserDataArgs = {
  region: A.region,
  chainId: "test",
  blockVersion: V6.blockVersion,
  image: nodeImage(V6, "test"),
  logLevel: "info",
  ip: "10.0.0.5",
  clientHost: "node1.test.mobilecoin.com",
  peers: [{ name: "node2", ip: "10.0.0.6" }],
  threshold: 2,
  ledgerVolumeId: "vol-0123456789abcdef0",
  msgSignerKeyArn: A.msgSignerKeyArn.replace("{node}", "node1"),
  tokensConfigUri: A.tokensConfigUri,
  tokensConfigDigest: V6.tokensConfigDigest,
  enclaveSha256: V6.enclaveSha256,
  generation: "initial",
};
const DEVICE = userData.ebsDevice(BOOT.ledgerVolumeId);
/**
 * What a node's instance runs, in order: its user data at boot, then the start step's server script over SSH,
 * which begins by waiting for user data to finish (cloud-init status --wait).
 */
const render = (extra: Partial<userData.UserDataArgs> = {}) =>
  `${userData.renderUserData({ ...BOOT, ...extra })}\n${userData.renderServerScript({ ...BOOT, ...extra })}`;

describe("the SGX truth: a release says how its enclave was built", () => {
  test("sgxMode is hardware or software; anything else is named with the fix", () => {
    assert.deepEqual(releaseProblems(SOFTWARE, "r"), []);
    assert.deepEqual(releaseProblems(HARDWARE, "r"), []);
    assert.deepEqual(releaseProblems(UNSPECIFIED, "r"), []);
    const p = releaseProblems({ ...V6, sgxMode: "sim" as never }, "flagday:releases.v6");
    assert.equal(p.length, 1, p.join("\n"));
    assert.match(p[0], /flagday:releases\.v6\.sgxMode must be hardware or software \(got "sim"\)/);
  });
  test("it is not a consensus field: a build in the other mode has its own MRENCLAVE anyway", () => {
    assert.ok(!(CONSENSUS_FIELDS as readonly string[]).includes("sgxMode"));
  });
  test("a node stated on the other mode than the network is refused (the two never attest)", () => {
    const net = network(3, SOFTWARE);
    const p = networkProblems({
      ...net,
      nodes: [net.nodes[0], { name: "node2", release: HARDWARE }, net.nodes[2]],
    });
    assert.ok(
      p.some((x) => /nodes\[1\].*sgxMode/.test(x)),
      p.join("\n"),
    );
  });
});

describe("the SGX truth: the AWS platform refuses a hardware-mode release at preview", () => {
  const why = (e: Error) => {
    assert.match(e.message, /EC2 offers no Intel SGX on any instance type/);
    assert.match(e.message, /Nitro Enclaves/);
    assert.match(e.message, /Kubernetes platform/);
    assert.match(e.message, /sgx\.intel\.com\/epc/);
    assert.match(e.message, /DCsv3/);
    assert.match(e.message, /bare metal/);
    assert.match(e.message, /sgxMode: software/);
    assert.match(e.message, /nothing was changed/);
    return true;
  };
  for (const [what, release] of [
    ["sgxMode: hardware", HARDWARE],
    ["sgxMode unset (hardware by default)", UNSPECIFIED],
  ] as const) {
    test(`${what}: refused with why and what works, before any resource registers`, async () => {
      assert.ok(
        aws.awsReleaseProblems(network(3, release)).some((p) => /flagday:network\.release/.test(p)),
        "the problem names the field",
      );
      let error: Error | undefined;
      const { graph } = await captureGraph(() => {
        try {
          const spec = network(3, release);
          aws.awsPlatform(awsArgs()).node(spec.nodes[0], spec, {});
        } catch (e) {
          error = e as Error;
        }
        return 0;
      });
      assert.ok(error, "node() must throw");
      why(error);
      assert.deepEqual(
        graph.resources.map((r) => r.name),
        [],
      );
    });
  }
  test("a software-mode release runs, with no SGX device or aesmd socket in user data", async () => {
    assert.deepEqual(aws.awsReleaseProblems(network(3, SOFTWARE)), []);
    const run = await runNetwork(() => aws.awsPlatform(awsArgs()), network(3, SOFTWARE));
    const server = serverScriptOf(run.graph, "node1");
    assert.match(server, /docker run -d --name mc-consensus /);
    assert.doesNotMatch(server, /sgx_enclave|sgx_provision|aesmd/);
  });
  test("renderUserData: hardware mode passes the SGX devices and aesmd, software mode none of them", () => {
    const hw = render({ sgxMode: "hardware" });
    for (const s of [
      "--device /dev/sgx_enclave",
      "--device /dev/sgx_provision",
      "-v /var/run/aesmd:/var/run/aesmd",
    ]) {
      assert.ok(hw.includes(s), `hardware mode lacks ${s}`);
    }
    assert.doesNotMatch(render({ sgxMode: "software" }), /sgx_enclave|sgx_provision|aesmd/);
  });
  test("every stack file on platform aws runs a release the AWS platform can run", () => {
    const dir = join(__dirname, "..", "..", "stacks");
    // The committed stack files; the gitignored ones (test-*, bench-*, practice*) come and go with test runs.
    const names = readdirSync(dir)
      .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
      .filter((n): n is string => n !== undefined && !/^(test-|bench-|practice)/.test(n));
    const bad: string[] = [];
    const onAws: string[] = [];
    for (const name of names) {
      const text = readFileSync(join(dir, `Pulumi.${name}.yaml`), "utf8");
      const config = (yaml.load(text) as { config: Record<string, unknown> }).config;
      if (config["flagday:platform"] !== "aws") continue;
      onAws.push(name);
      const raw = config["flagday:network"] as { release: string | EnclaveRelease };
      const releases = config["flagday:releases"] as Record<string, EnclaveRelease>;
      const release = typeof raw.release === "string" ? releases[raw.release] : raw.release;
      const net = { ...(raw as object), release } as ReturnType<typeof network>;
      bad.push(...aws.awsReleaseProblems(net).map((p) => `${name}: ${p}`));
      // flagday:release may name another entry of the catalogue: each must be runnable on EC2 too.
      for (const [key, r] of Object.entries(releases)) {
        bad.push(...aws.awsReleaseProblems({ ...net, release: r }).map((p) => `${name} (${key}): ${p}`));
      }
    }
    assert.deepEqual(bad, []);
    // Not vacuous: the AWS platform's example is on aws, testnet and mainnet are not.
    assert.ok(onAws.includes("devnet"), `stacks on aws: ${onAws.join(", ")}`);
    assert.ok(
      !onAws.includes("testnet") && !onAws.includes("mainnet"),
      "hardware-mode networks are not on EC2",
    );
  });
});

describe("defect 2: the ledger volume is formatted only when it is provably blank", () => {
  const script = render();
  test("user data never formats because blkid failed", () => {
    assert.doesNotMatch(script, /blkid \S+ >\/dev\/null \|\| mkfs/);
    assert.match(script, /blkid -p /);
  });

  /** Runs the format decision on a file standing in for the device, blkid answering `probe`. */
  function decide(probe: number, contents: Buffer | undefined, createdEmpty: boolean) {
    const dir = tmp();
    const device = join(dir, "nvme-vol0123");
    if (contents) writeFileSync(device, contents);
    const path = bin({
      blkid: `[ "$1" = -p ] || { echo "blkid: called without -p" >&2; exit 99; }\nexit ${probe}`,
      "mkfs.ext4": `echo "$@" > ${dir}/formatted`,
    });
    const r = run(
      "bash",
      `set -euo pipefail\n${userData.formatIfBlankScript({ device, volumeId: "vol-0123", createdEmpty })}\necho done`,
      path,
    );
    const formatted = existsSync(join(dir, "formatted")) ? readFileSync(join(dir, "formatted"), "utf8") : "";
    return { ...r, formatted, device };
  }
  const ZEROS = Buffer.alloc(2 * 1024 * 1024);
  const DATA = Buffer.concat([Buffer.alloc(1024), Buffer.from("LMDB?"), Buffer.alloc(2 * 1024 * 1024)]);

  test("a volume flagday created empty, blkid -p finding nothing (2) and all zeros: formatted", () => {
    const r = decide(2, ZEROS, true);
    assert.equal(r.code, 0, r.err);
    assert.match(r.formatted, /-L ledger .*nvme-vol0123/);
  });
  test("a filesystem (blkid -p exit 0) is mounted as it is", () => {
    const r = decide(0, DATA, true);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.formatted, "");
  });
  for (const probe of [1, 4, 8]) {
    test(`blkid -p failing otherwise (exit ${probe}) stops, naming the device and the volume`, () => {
      const r = decide(probe, ZEROS, true);
      assert.notEqual(r.code, 0);
      assert.equal(r.formatted, "");
      assert.ok(r.err.includes(r.device) && r.err.includes("vol-0123"), r.err);
      assert.doesNotMatch(r.out, /done/);
    });
  }
  test("blkid -p exits 2 also when it cannot read the device: an unreadable device is not formatted", () => {
    const r = decide(2, undefined, true);
    assert.notEqual(r.code, 0);
    assert.equal(r.formatted, "");
    assert.ok(r.err.includes(r.device), r.err);
  });
  test("no signature but data (a damaged or half-loaded ledger) is not formatted", () => {
    const r = decide(2, DATA, true);
    assert.notEqual(r.code, 0);
    assert.equal(r.formatted, "");
    assert.ok(r.err.includes(r.device), r.err);
  });
  test("a volume restored from a snapshot is never formatted, even if it reads as blank", () => {
    const r = decide(2, ZEROS, false);
    assert.notEqual(r.code, 0);
    assert.equal(r.formatted, "");
    assert.match(r.err, /snapshot/);
  });
  test("the platform says which volume it created empty: the node's own ledger yes, a restored one no", async () => {
    const initial = await runNetwork(() => aws.awsPlatform(awsArgs()), network(3, V5));
    const up = await runNetwork(() => aws.awsPlatform(awsArgs()), network(3, V6), initial.result.record);
    const back = await runNetwork(() => aws.awsPlatform(awsArgs()), network(3, V5), up.result.record, {
      rollback: true,
    });
    const ud = (g: typeof initial.graph) => hostUserDataOf(g, "node2");
    assert.ok(
      ud(initial.graph).includes(
        userData.formatIfBlankScript({ device: DEVICE, volumeId: "x", createdEmpty: true }).split("\n")[0],
      ),
    );
    assert.match(ud(initial.graph), /mkfs\.ext4/);
    assert.doesNotMatch(ud(back.graph), /mkfs\.ext4/);
    assert.match(ud(back.graph), /restored from a snapshot/);
  });
});

describe("defect 3: stopping what is not running succeeds", () => {
  /** docker as the stop step sees it: containers in $STATE/exists, running ones in $STATE/running. */
  const DOCKER = `
set -u
[ -n "\${DOCKER_DOWN:-}" ] && { echo "Cannot connect to the Docker daemon" >&2; exit 1; }
echo "docker $*" >> "$STATE/calls"
case "$1" in
  ps)
    if [ "$2" = -a ]; then ls "$STATE/exists"; else ls "$STATE/running"; fi ;;
  stop)
    shift 3
    for c in "$@"; do
      [ -e "$STATE/exists/$c" ] || { echo "Error response from daemon: No such container: $c" >&2; exit 1; }
      [ "\${STUCK:-}" = "$c" ] || rm -f "$STATE/running/$c"
    done ;;
  inspect)
    c="\${@: -1}"
    [ -e "$STATE/exists/$c" ] || { echo "Error: No such object: $c" >&2; exit 1; }
    if [ -e "$STATE/running/$c" ]; then echo true; else echo false; fi ;;
  container)
    c="\${@: -1}"
    [ -e "$STATE/exists/$c" ] || exit 1 ;;
  *) echo "unexpected docker $*" >&2; exit 2 ;;
esac`;
  function stop(exists: string[], running: string[], env: Record<string, string> = {}) {
    const state = tmp();
    for (const d of ["exists", "running"]) spawnSync("mkdir", ["-p", join(state, d)]);
    for (const c of exists) writeFileSync(join(state, "exists", c), "");
    for (const c of running) writeFileSync(join(state, "running", c), "");
    writeFileSync(join(state, "calls"), "");
    const path = bin({ docker: DOCKER, sync: "true" });
    const r = run("sh", stopScript(), path, { STATE: state, ...env });
    return { ...r, calls: readFileSync(join(state, "calls"), "utf8") };
  }
  test("no container was ever created (user data failed before docker run): success, nothing stopped", () => {
    const r = stop([], []);
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.calls, /docker stop/);
  });
  test("only the consensus container exists (the admin gateway never started): it alone is stopped", () => {
    const r = stop(["mc-consensus"], ["mc-consensus"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.calls, /docker stop --time 120 mc-consensus\n/);
    assert.doesNotMatch(r.calls, /mc-consensus-admin/);
  });
  test("both running: admin gateway first, then consensus, with LMDB's grace period", () => {
    const r = stop(["mc-consensus", "mc-consensus-admin"], ["mc-consensus", "mc-consensus-admin"]);
    assert.equal(r.code, 0, r.err);
    const stops = r.calls.split("\n").filter((l) => l.startsWith("docker stop"));
    assert.deepEqual(stops, [
      "docker stop --time 120 mc-consensus-admin",
      "docker stop --time 120 mc-consensus",
    ]);
  });
  test("created but exited (a crash, or stopped before): success", () => {
    const r = stop(["mc-consensus", "mc-consensus-admin"], []);
    assert.equal(r.code, 0, r.err);
  });
  test("a container still running after docker stop fails the step, naming it", () => {
    const r = stop(["mc-consensus"], ["mc-consensus"], { STUCK: "mc-consensus" });
    assert.notEqual(r.code, 0);
    assert.match(r.err, /mc-consensus/);
  });
  test("docker not answering fails the step: no answer is not proof that nothing runs", () => {
    const r = stop([], [], { DOCKER_DOWN: "1" });
    assert.notEqual(r.code, 0);
  });
  test("the script ends with sync, so the snapshot sees what LMDB wrote", () => {
    assert.match(stopScript(), /\nsync$/);
  });
});

describe("defect 6: the ledger mount survives a reboot and the containers start only after it", () => {
  const script = render();
  const at = (s: string | RegExp) => {
    const i = typeof s === "string" ? script.indexOf(s) : script.search(s);
    assert.ok(i >= 0, `user data lacks ${s}`);
    return i;
  };
  test("fstab mounts the volume by its EBS id, nofail so a missing volume never blocks boot (and SSH)", () => {
    assert.ok(script.includes(`${DEVICE} /ledger ext4 defaults,nofail 0 2`), script);
  });
  test("docker, which restarts the containers at boot, requires the ledger mount and the signer key", () => {
    assert.match(script, /\/etc\/systemd\/system\/docker\.service\.d\/flagday\.conf/);
    assert.match(script, /RequiresMountsFor=\/ledger/);
    assert.match(script, /Requires=flagday-msg-signer-key\.service/);
    assert.match(script, /After=flagday-msg-signer-key\.service/);
    assert.ok(at("systemctl daemon-reload") < at("docker run"));
  });
  test("an AMI whose docker is not the unit docker.service stops user data (the ordering would not hold)", () => {
    assert.ok(at("systemctl cat docker.service >/dev/null || {") < at("docker.service.d"));
  });
  test("the mount point cannot be written while nothing is mounted on it", () => {
    assert.match(script, /mountpoint -q \/ledger \|\| chattr \+i \/ledger/);
  });
  test("the first docker run comes after the mount is verified", () => {
    assert.ok(at(/\nmountpoint -q \/ledger\n/) < at("docker run"));
  });
  test("the signer key is read again at every boot by a oneshot unit, ordered before docker", () => {
    assert.match(
      script,
      /\[Service\]\nType=oneshot\nRemainAfterExit=yes\nExecStart=\/usr\/local\/sbin\/flagday-msg-signer-key/,
    );
    assert.match(script, /Before=docker\.service/);
    assert.ok(at("systemctl start flagday-msg-signer-key.service") < at("docker run"));
  });
});

describe("defect 7: the signer key never reaches the container's config", () => {
  const script = render();
  test("no -e MC_MSG_SIGNER_KEY and no key in the docker command's environment", () => {
    assert.doesNotMatch(script, /-e MC_MSG_SIGNER_KEY/);
    assert.doesNotMatch(script, /MC_MSG_SIGNER_KEY="\$\(cat \/run\/flagday/);
  });
  test("the key file is bind-mounted read-only, and docker refuses a missing one instead of making a directory", () => {
    assert.ok(
      script.includes(
        "--mount type=bind,source=/run/flagday/msg-signer-key,target=/run/secrets/msg-signer-key,readonly",
      ),
    );
  });
  test("inside the container the key becomes consensus-service's environment, never its argv", () => {
    const dir = tmp();
    const key = join(dir, "key");
    writeFileSync(key, "MC4CAQAwBQYDK2VwBCIEI+secret=\n");
    const path = bin({ "consensus-service": `echo "env=$MC_MSG_SIGNER_KEY"\necho "argv=$*"` });
    const r = spawnSync(
      "sh",
      ["-c", userData.signerKeyWrapper(key), "consensus-service", "--ledger-path", "/ledger", "--x", "a b"],
      {
        encoding: "utf8",
        env: { PATH: `${path}:/usr/bin:/bin` },
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^env=MC4CAQAwBQYDK2VwBCIEI\+secret=$/m);
    assert.match(r.stdout, /^argv=--ledger-path \/ledger --x a b$/m);
    assert.doesNotMatch(
      r.stdout.split("\n").find((l) => l.startsWith("argv="))!,
      /secret/,
    );
    assert.ok(script.includes(`sh -c ${"'"}`), "the container's command is the wrapper");
  });
  test("a missing key file stops the container instead of starting consensus-service without it", () => {
    const path = bin({ "consensus-service": `echo started` });
    const r = spawnSync("sh", ["-c", userData.signerKeyWrapper("/nonexistent/key"), "consensus-service"], {
      encoding: "utf8",
      env: { PATH: `${path}:/usr/bin:/bin` },
    });
    assert.notEqual(r.status, 0);
    assert.doesNotMatch(r.stdout, /started/);
  });
});

describe("the start step swaps the release's containers on the running host", () => {
  /** docker as the server script sees it: the image in $STATE/image, containers in $STATE/exists. */
  const DOCKER = `
set -u
echo "docker $*" >> "$STATE/calls"
case "$1" in
  image) [ -e "$STATE/image" ] ;;
  pull) touch "$STATE/image" ;;
  run) if [ "$2" = --rm ]; then echo "$ENCLAVE_SHA  /enclave"; else echo 0123abcd; fi ;;
  ps) ls "$STATE/exists" ;;
  rm) shift; [ "$1" = -f ] && shift; for c in "$@"; do rm -f "$STATE/exists/$c"; done ;;
  *) echo "unexpected docker $*" >&2; exit 2 ;;
esac`;
  const TOKENS = '{"tokens":[]}\n';
  const tokensDigest = createHash("sha256").update(TOKENS).digest("hex");
  function start(
    o: {
      prepared?: boolean;
      enclaveSha?: string;
      cloudInit?: number;
      mounted?: boolean;
      digest?: string;
    } = {},
  ) {
    const state = tmp();
    const config = join(state, "config");
    for (const d of ["exists", "config"]) mkdirSync(join(state, d), { recursive: true });
    for (const c of ["mc-consensus", "mc-consensus-admin"]) writeFileSync(join(state, "exists", c), "");
    if (o.prepared ?? true) writeFileSync(join(state, "image"), "");
    writeFileSync(join(state, "calls"), "");
    writeFileSync(join(state, "tokens.json"), TOKENS);
    const path = bin({
      docker: DOCKER,
      "cloud-init": `exit ${o.cloudInit ?? 0}`,
      mountpoint: `exit ${o.mounted === false ? 1 : 0}`,
      aws: `[ "$1 $2" = "s3 cp" ] && cp "$STATE/tokens.json" "$5"`,
    });
    const script = onNode(
      userData.renderServerScript({
        ...BOOT,
        node: "node1",
        configDir: config,
        tokensConfigDigest: o.digest ?? tokensDigest,
      }),
    );
    const r = run("sh", script, path, { STATE: state, ENCLAVE_SHA: o.enclaveSha ?? BOOT.enclaveSha256 });
    const calls = readFileSync(join(state, "calls"), "utf8").split("\n").filter(Boolean);
    return { ...r, calls, config };
  }
  const runs = (calls: string[]) => calls.filter((c) => c.startsWith("docker run -d"));

  test("with the image prepare pulled: no pull, the old containers removed, then the release's two started", () => {
    const r = start();
    assert.equal(r.code, 0, r.err);
    assert.ok(!r.calls.some((c) => c.startsWith("docker pull")), r.calls.join("\n"));
    const removed = r.calls.findIndex((c) => c.startsWith("docker rm -f mc-consensus"));
    const first = r.calls.findIndex((c) => c.startsWith("docker run -d"));
    assert.ok(removed >= 0 && removed < first, r.calls.join("\n"));
    assert.equal(runs(r.calls).length, 2);
    assert.match(runs(r.calls)[0], /--name mc-consensus .*'?mobilecoin\/node_hw:v6\.0\.0-test/);
    const json = JSON.parse(readFileSync(join(r.config, "network.json"), "utf8"));
    assert.deepEqual(json.quorum_set.members, [{ type: "Node", args: "10.0.0.6:8443" }]);
    assert.equal(readFileSync(join(r.config, "tokens.signed.json"), "utf8"), TOKENS);
    assert.match(r.out, /node1: mobilecoin\/node_hw:v6\.0\.0-test started/);
  });
  test("without it (prepare did not run here): pulled, and its enclave checked before anything starts", () => {
    const r = start({ prepared: false });
    assert.equal(r.code, 0, r.err);
    const pull = r.calls.findIndex((c) => c.startsWith("docker pull"));
    const check = r.calls.findIndex((c) => c.startsWith("docker run --rm --entrypoint sha256sum"));
    assert.ok(pull >= 0 && pull < check && check < r.calls.findIndex((c) => c.startsWith("docker run -d")));
    const wrong = start({ prepared: false, enclaveSha: "00".repeat(32) });
    assert.notEqual(wrong.code, 0);
    assert.match(
      wrong.err,
      new RegExp(`has sha256 ${"00".repeat(32)}, not the release's ${BOOT.enclaveSha256}`),
    );
    assert.deepEqual(runs(wrong.calls), []);
    assert.ok(
      !wrong.calls.some((c) => c.startsWith("docker rm")),
      "the old containers are left as they were",
    );
  });
  test("a host whose user data failed, or whose ledger is not mounted, starts nothing", () => {
    const failed = start({ cloudInit: 1 });
    assert.notEqual(failed.code, 0);
    assert.match(
      failed.err,
      /node1: the user data of .* failed \(see \/var\/log\/cloud-init-output\.log there\)/,
    );
    assert.deepEqual(failed.calls, []);
    const recoverable = start({ cloudInit: 2 });
    assert.equal(
      recoverable.code,
      0,
      "cloud-init's exit 2 (recoverable errors, e.g. deprecated keys) is not a failure",
    );
    const unmounted = start({ mounted: false });
    assert.notEqual(unmounted.code, 0);
    assert.match(unmounted.err, /\/ledger is not mounted .*not starting a node on the root disk/);
    assert.deepEqual(unmounted.calls, []);
  });
  test("a tokens config that is not the release's digest starts nothing and replaces no config", () => {
    const r = start({ digest: "11".repeat(32) });
    assert.notEqual(r.code, 0);
    assert.deepEqual(r.calls, []);
    assert.ok(!existsSync(join(r.config, "tokens.signed.json")));
  });
});

describe("an SSH step waits for a booting host", () => {
  /** ssh that cannot connect (255) for the first $FAILS calls, then runs the remote script. */
  const SSH = `n=$(cat "$STATE/ssh" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$STATE/ssh"
if [ "$n" -le "\${FAILS:-0}" ]; then cat >/dev/null; exit 255; fi
sh -s`;
  function step(fails: number, instanceState: string, connectWaitSeconds?: number) {
    const state = tmp();
    const path = bin({
      ssh: SSH,
      sleep: "exit 0",
      aws: `case "$2" in describe-network-interfaces) echo i-0123 ;; describe-instances) echo "$INSTANCE_STATE" ;; esac`,
    });
    const script = sshStepScript({
      node: "node1",
      host: "10.0.0.5",
      user: "ubuntu",
      eniId: "eni-0123",
      cli: { region: "us-west-2" },
      remote: "echo on-node",
      noInstance: { fail: "its host instance does not run" },
      ...(connectWaitSeconds !== undefined ? { connectWaitSeconds } : {}),
    });
    const r = run("sh", script, path, {
      STATE: state,
      FAILS: String(fails),
      INSTANCE_STATE: instanceState,
      FLAGDAY_SSH_KEY: "not a real key",
    });
    return { ...r, attempts: Number(readFileSync(join(state, "ssh"), "utf8")) };
  }
  test("a pending or running instance is tried again until SSH answers", () => {
    const r = step(2, "pending", 600);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.attempts, 3);
    assert.match(r.out, /on-node/);
    assert.match(
      r.err,
      /node1: i-0123 is pending and SSH to ubuntu@10\.0\.0\.5 does not answer yet: trying again/,
    );
  });
  test("a stopped instance is not waited for: the step fails at once with the node's way out", () => {
    const r = step(5, "stopped", 600);
    assert.notEqual(r.code, 0);
    assert.equal(r.attempts, 1);
    assert.match(r.err, /node1: its host instance does not run \(its instance i-0123 is stopped\)/);
  });
  test("without a wait (stop, pre-flight) SSH is tried once", () => {
    const r = step(1, "running");
    assert.notEqual(r.code, 0);
    assert.equal(r.attempts, 1);
    assert.match(r.err, /instance i-0123 \(running\) holds eni-0123, but SSH to ubuntu@10\.0\.0\.5 fails/);
  });
});
