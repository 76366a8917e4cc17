import { ChildProcess, execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The repository root; scripts/build-kube.sh builds the control plane into .kube/bin there. */
export const ROOT = path.resolve(__dirname, "..", "..");
export const KUBE_BIN = path.join(ROOT, ".kube", "bin");
export const KUBE_VERSION = "v1.36.3";
/** The kubeconfig context (and cluster and user) name of every local control plane. */
export const CONTEXT = "flagday-local";

const COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"] as const;
type Component = (typeof COMPONENTS)[number];

export interface ControlPlaneOptions {
  /** Where the binaries are. @default .kube/bin (scripts/build-kube.sh) */
  readonly bin?: string;
  /**
   * The port block: etcd's client and peer ports and the apiserver's port are base+95, base+96 and base+97, ports
   * a rehearsal network on the same base never uses (rehearsal/scratch.ts's portsOf). @default a free block
   */
  readonly basePort?: number;
  /** How long to wait for the API, the `default` namespace and its service account. @default 90 s */
  readonly timeoutMs?: number;
  /** Leave the directory (certificates, logs, etcd data) behind after stop(), for a post-mortem. */
  readonly keepDir?: boolean;
}

export interface ControlPlane {
  /** A self-contained kubeconfig file (certificates inline) whose current context is `context`. */
  readonly kubeconfig: string;
  readonly context: string;
  /** The apiserver's URL, https://127.0.0.1:<port>. */
  readonly server: string;
  /** The control plane's directory: pki/, etcd/, logs/<component>.log. */
  readonly dir: string;
  /** The directory of the binaries (kubectl among them). */
  readonly bin: string;
  /** The environment for kubectl and friends: KUBECONFIG and PATH with `bin` first. */
  readonly env: NodeJS.ProcessEnv;
  /** Runs kubectl against this control plane and returns its stdout; rejects with its stderr. */
  kubectl(...args: string[]): Promise<string>;
  /** The last lines of every component's log. */
  logs(lines?: number): string;
  /** Stops every process (SIGTERM, then SIGKILL after 10 s) and removes the directory. */
  stop(): Promise<void>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

const handedOut = new Set<number>();

/**
 * A free port block below Linux's ephemeral range (32768-60999), where a port found free could be taken by any
 * outgoing connection before the component binds it. Same blocks as rehearsal/scratch.ts's freeBase, other ports.
 */
export async function freeControlPlaneBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 120) * 100;
    if (handedOut.has(base)) continue;
    handedOut.add(base);
    if ((await Promise.all([95, 96, 97].map((o) => portFree(base + o)))).every(Boolean)) return base;
    handedOut.delete(base);
  }
  throw new Error("no free port block found for a local control plane");
}

async function openssl(cwd: string, ...args: string[]): Promise<void> {
  try {
    await run("openssl", args, { cwd });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`openssl ${args.join(" ")} failed: ${err.stderr || err.message}`);
  }
}

/** A key (EC P-256: fast to make; the apiserver accepts it for TLS and for signing service-account tokens). */
async function key(pki: string, name: string): Promise<void> {
  await openssl(
    pki,
    "genpkey",
    "-algorithm",
    "EC",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-out",
    `${name}.key`,
  );
}

/** A certificate for `name`.key signed by the CA, with the extensions in `ext` (an openssl extensions section). */
async function signed(pki: string, name: string, subject: string, ext: string): Promise<void> {
  await key(pki, name);
  await openssl(pki, "req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`);
  fs.writeFileSync(path.join(pki, `${name}.ext`), ext);
  await openssl(
    pki,
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "30",
    "-sha256",
    "-extfile",
    `${name}.ext`,
    "-out",
    `${name}.crt`,
  );
}

/**
 * The certificates and keys of a control plane: a CA, the apiserver's serving certificate (127.0.0.1, localhost
 * and the in-cluster names), a service-account token signing key pair, and an admin client certificate in
 * system:masters, which the controller manager and the scheduler use too.
 */
async function makePki(pki: string): Promise<void> {
  fs.mkdirSync(pki, { recursive: true });
  await key(pki, "ca");
  await openssl(
    pki,
    "req",
    "-x509",
    "-new",
    "-key",
    "ca.key",
    "-subj",
    "/CN=flagday-local-ca",
    "-days",
    "30",
    "-sha256",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    "-out",
    "ca.crt",
  );
  const sans = [
    "IP:127.0.0.1",
    "IP:10.0.0.1",
    "DNS:localhost",
    "DNS:kubernetes",
    "DNS:kubernetes.default",
    "DNS:kubernetes.default.svc",
    "DNS:kubernetes.default.svc.cluster.local",
  ];
  await Promise.all([
    signed(
      pki,
      "apiserver",
      "/CN=kube-apiserver",
      `keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans.join(",")}\n`,
    ),
    signed(
      pki,
      "admin",
      "/O=system:masters/CN=flagday-admin",
      "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    ),
    key(pki, "sa").then(() => openssl(pki, "pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub")),
  ]);
}

function kubeconfigYaml(server: string, pki: string): string {
  const b64 = (f: string) => fs.readFileSync(path.join(pki, f)).toString("base64");
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    `- name: ${CONTEXT}`,
    "  cluster:",
    `    server: ${server}`,
    `    certificate-authority-data: ${b64("ca.crt")}`,
    "users:",
    `- name: ${CONTEXT}`,
    "  user:",
    `    client-certificate-data: ${b64("admin.crt")}`,
    `    client-key-data: ${b64("admin.key")}`,
    "contexts:",
    `- name: ${CONTEXT}`,
    "  context:",
    `    cluster: ${CONTEXT}`,
    `    user: ${CONTEXT}`,
    "    namespace: default",
    `current-context: ${CONTEXT}`,
    "",
  ].join("\n");
}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The longest a kubectl call of the rehearsal may take (its `wait`s ask for at most a few minutes). */
const KUBECTL_TIMEOUT_MS = 300_000;

/**
 * Every control plane process still running, killed if the test process exits without stopping them, or is
 * terminated: node's test runner sends SIGTERM to a test file that runs past its timeout, and etcd, the API
 * server and the controllers must not outlive it to slow every file after it.
 */
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});
process.once("SIGTERM", () => process.exit(143));

/**
 * Starts a Kubernetes control plane of its own on loopback in a temporary directory: etcd, kube-apiserver (RBAC,
 * client certificates, service-account tokens), kube-controller-manager (the garbage collector, the namespace,
 * service-account and workload controllers) and kube-scheduler. There is no kubelet or container runtime: nothing
 * becomes Running. Resolves when `kubectl get ns` answers and the `default` namespace and its service account exist.
 */
export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const bin = opts.bin ?? KUBE_BIN;
  for (const b of [...COMPONENTS, "kubectl"]) {
    if (!fs.existsSync(path.join(bin, b))) {
      throw new Error(`${path.join(bin, b)} is missing: run 'bash scripts/build-kube.sh' first`);
    }
  }
  const base = opts.basePort ?? (await freeControlPlaneBase());
  const etcdPort = base + 95;
  const peerPort = base + 96;
  const apiPort = base + 97;
  const server = `https://127.0.0.1:${apiPort}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "flagday-kube-"));
  const pki = path.join(dir, "pki");
  const logsDir = path.join(dir, "logs");
  fs.mkdirSync(logsDir);
  const kubeconfig = path.join(dir, "admin.kubeconfig");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KUBECONFIG: kubeconfig,
    PATH: `${bin}:${process.env.PATH}`,
  };
  const procs = new Map<Component, ChildProcess>();
  const exited = new Map<Component, string>();
  const logFile = (c: string) => path.join(logsDir, `${c}.log`);
  const logs = (lines = 20) =>
    COMPONENTS.map((c) => `--- ${c} (${logFile(c)}) ---\n${tail(logFile(c), lines)}`).join("\n");

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    // Clients first, etcd last, so that nothing logs a storm of connection errors on the way down.
    for (const c of [...COMPONENTS].reverse()) {
      const p = procs.get(c);
      if (!p || p.exitCode !== null || p.signalCode !== null) continue;
      const gone = new Promise<void>((r) => p.once("exit", () => r()));
      p.kill("SIGTERM");
      const timer = setTimeout(() => p.kill("SIGKILL"), 10_000);
      await gone;
      clearTimeout(timer);
      live.delete(p);
    }
    if (!opts.keepDir) fs.rmSync(dir, { recursive: true, force: true });
  };

  const start = (c: Component, args: string[]) => {
    const out = fs.openSync(logFile(c), "a");
    const p = spawn(path.join(bin, c), args, { cwd: dir, env, stdio: ["ignore", out, out] });
    fs.closeSync(out);
    live.add(p);
    procs.set(c, p);
    p.once("exit", (code, signal) => {
      live.delete(p);
      exited.set(c, signal ? `killed by ${signal}` : `exit code ${code}`);
    });
  };

  const kubectl = async (...args: string[]): Promise<string> => {
    try {
      const { stdout } = await run(path.join(bin, "kubectl"), ["--kubeconfig", kubeconfig, ...args], {
        env,
        maxBuffer: 64 * 1024 * 1024,
        // kubectl's own request timeout is none: a stuck API server must fail the caller, not hang it.
        timeout: KUBECTL_TIMEOUT_MS,
        killSignal: "SIGKILL",
      });
      return stdout;
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(" ")}: ${(err.stderr || err.message).trim()}`);
    }
  };

  try {
    await makePki(pki);
    fs.writeFileSync(kubeconfig, kubeconfigYaml(server, pki), { mode: 0o600 });
    const p = (f: string) => path.join(pki, f);

    start("etcd", [
      "--name=flagday",
      `--data-dir=${path.join(dir, "etcd")}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=flagday=http://127.0.0.1:${peerPort}`,
      "--initial-cluster-state=new",
      // A throwaway cluster: no fsync, a small backend, no periodic compaction work worth the disk time.
      "--unsafe-no-fsync",
      "--quota-backend-bytes=1073741824",
      "--log-level=warn",
    ]);
    start("kube-apiserver", [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--cert-dir=${path.join(dir, "apiserver")}`,
      `--tls-cert-file=${p("apiserver.crt")}`,
      `--tls-private-key-file=${p("apiserver.key")}`,
      `--client-ca-file=${p("ca.crt")}`,
      // RBAC: the admin (system:masters) may do anything, so the platform's `kubectl auth can-i` pre-flight
      // checks answer yes for it, and service accounts get only what roles grant them, as on a real cluster.
      "--authorization-mode=RBAC",
      `--service-account-issuer=${server}`,
      `--service-account-key-file=${p("sa.pub")}`,
      `--service-account-signing-key-file=${p("sa.key")}`,
      "--service-cluster-ip-range=10.0.0.0/24",
      // The `kubernetes` service's endpoints would be 127.0.0.1, which Endpoints validation rejects.
      "--endpoint-reconciler-type=none",
      "--allow-privileged=true",
      "--profiling=false",
    ]);
    const clientArgs = [
      `--kubeconfig=${kubeconfig}`,
      "--leader-elect=false",
      // No HTTPS health endpoints of their own: several control planes run at once, and nothing probes them.
      "--secure-port=0",
      "--profiling=false",
    ];
    start("kube-controller-manager", [
      ...clientArgs,
      // Every default controller: the garbage collector (foreground deletes, what the Pulumi provider does), the
      // namespace controller (namespace deletion), service accounts and their tokens, deployments, replica sets...
      "--controllers=*",
      `--service-account-private-key-file=${p("sa.key")}`,
      `--root-ca-file=${p("ca.crt")}`,
      `--cluster-signing-cert-file=${p("ca.crt")}`,
      `--cluster-signing-key-file=${p("ca.key")}`,
      "--use-service-account-credentials=false",
      // Its default, /usr/libexec/kubernetes/kubelet-plugins/volume/exec, it would create on the machine.
      `--flex-volume-plugin-dir=${path.join(dir, "flexvolume")}`,
    ]);
    start("kube-scheduler", clientArgs);

    const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
    let last = "";
    for (;;) {
      if (exited.size > 0) {
        const [c, how] = [...exited][0];
        throw new Error(`${c} stopped during start (${how})`);
      }
      try {
        await kubectl("get", "namespaces", "-o", "name");
        await kubectl("get", "serviceaccount", "default", "--namespace", "default", "-o", "name");
        break;
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`the control plane did not come up: ${last}`);
      await sleep(250);
    }
  } catch (e) {
    const message = `${(e as Error).message}\nthe control plane's logs (${dir}):\n${logs()}`;
    await stop();
    throw new Error(message);
  }

  return { kubeconfig, context: CONTEXT, server, dir, bin, env, kubectl, logs, stop };
}
