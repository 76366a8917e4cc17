/**
 * flagday-kube-agent: the project's own SIMULATED stand-in for the parts of a Kubernetes node that a control
 * plane alone lacks, so that the Kubernetes platform's real objects and kubectl commands run against a real
 * control plane with SIMULATED consensus nodes (consensus-service-sim, as the local platform runs them) behind.
 *
 * Kubernetes' own code (unchanged, rehearsal/kubernetes/controlPlane.ts): the apiserver (validation, RBAC, the CRDs
 * below), the controller manager (Deployments, ReplicaSets, Jobs, the PV binder and protection finalizers, the
 * node lifecycle controller, EndpointSlices, garbage collection) and the scheduler (placement and volume
 * binding: it picks the node of a WaitForFirstConsumer claim and binds pods).
 *
 * This stand-in (about 1000 lines with its plain decisions in plan.ts; it polls the API every second):
 * - kubelet: registers one Node (labels, taints, the SGX resource) and keeps it Ready (status and Lease every
 *   10 s); runs the pods bound to it: `consensus-service` is a simulated node (`consensus-service-sim start`),
 *   `mc-admin-http-gateway` is its admin API, `/bin/sh -c` scripts (init containers, migration Jobs) run in a
 *   host shell with their mount paths rewritten to host folders (no mount namespace) and the image's tools as
 *   wrappers (mc-ledger-migration is the simulator's migrate to the image's ledger format); reports what
 *   happens as a kubelet does (phase, conditions, container states, restarts with back-off; the pod IP is the
 *   host's, as for a hostNetwork pod, since EndpointSlices refuse 127.0.0.1);
 *   finishes a deleted pod's deletion (grace period 0) once its processes are stopped. No `kubectl logs`:
 *   each container's output is in <dir>/pods/<uid>/<container>.log.
 * - CSI driver `flagday.local/agent` and its external provisioner: a claim of the agent's StorageClass gets a
 *   local PV at <dir>/volumes/<pv>/ledger (the simulated node's folder is <dir>/volumes/<pv>), filled from a
 *   VolumeSnapshot when that is its dataSource; a Released PV is deleted with its folder.
 * - snapshot controller and CSI snapshotter: a VolumeSnapshot of such a claim is a copy of its folder at
 *   <dir>/snapshots/<content>, with its VolumeSnapshotContent; a content whose snapshot is gone is deleted.
 */
import { ChildProcess, execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { ApiError, Api, kubeApi, loadYaml, maybe, MERGE } from "./api";
import {
  AgentConfig,
  ContainerPlan,
  containerPlan,
  ContainerRun,
  defaults,
  hostPath,
  nodeConditions,
  nodeObject,
  Obj,
  persistentVolume,
  PodRun,
  podPhase,
  podStatus,
  PROVISIONER,
  rewriteMounts,
  simNodeConfig,
  snapshotContent,
} from "./plan";

import { ENCLAVE_IN_IMAGE } from "../../components/mobilecoin";
import { simulatedEnclave } from "../../components/local/scripts";

const SIM_BIN = path.resolve(__dirname, "../../bin/consensus-service-sim.js");
const SNAP = "/apis/snapshot.storage.k8s.io/v1";
const now = () => new Date().toISOString().replace(/\.\d+Z$/, "Z");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How long stop() waits for the moves under way before it stops the pods' processes regardless. */
const STOP_GRACE_MS = 15_000;

/** Why a pod cannot start yet: its containers wait with this reason, as a kubelet's do. */
class Waiting extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

interface PodState {
  pod: Obj;
  readonly run: PodRun;
  readonly dir: string;
  readonly init: ContainerPlan[];
  readonly plans: ContainerPlan[];
  prepared?: { volumes: Record<string, string>; env: Record<string, Record<string, string>> };
  shells: Map<string, ChildProcess>;
  sim?: { dir: string; admin: number; pid: number };
  retryAt: number;
  busy?: Promise<void>;
  written?: string;
}

export interface KubeAgentOptions {
  readonly context?: string;
  readonly log?: (line: string) => void;
  /** @default 1000 */
  readonly pollMs?: number;
}

export class KubeAgent {
  readonly api: Api;
  readonly nodeName: string;
  readonly storageClassName: string;
  private readonly pods = new Map<string, PodState>();
  private readonly tools: string;
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private tickStart = 0;
  private tickPhase = "";
  private stuckLogged = 0;
  private lastBeat = 0;
  private readonly since = now();

  constructor(
    kubeconfig: string,
    readonly config: AgentConfig,
    private readonly opts: KubeAgentOptions = {},
  ) {
    this.api = kubeApi(kubeconfig, opts.context);
    ({ nodeName: this.nodeName, storageClassName: this.storageClassName } = defaults(config));
    this.tools = path.join(config.dir, "tools");
  }

  private log(line: string) {
    (this.opts.log ?? ((l: string) => console.log(l)))(`flagday-kube-agent[${this.nodeName}] ${line}`);
  }

  /** Installs the snapshot CRDs and the classes, registers the Node, and starts the loop. */
  async start(): Promise<void> {
    for (const d of ["volumes", "snapshots", "pods"])
      fs.mkdirSync(path.join(this.config.dir, d), { recursive: true });
    fs.mkdirSync(this.tools, { recursive: true });
    const tool = (name: string, body: string) =>
      fs.writeFileSync(path.join(this.tools, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    tool("consensus-service-sim", `exec ${process.execPath} ${SIM_BIN} "$@"`);
    tool("mc-ledger-migration", `exec consensus-service-sim migrate "$@" --to "$FLAGDAY_SIM_LEDGER_FORMAT"`);
    const crds = path.join(__dirname, "crds");
    for (const f of fs.readdirSync(crds).sort()) {
      await maybe(
        this.api(
          "POST",
          "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
          loadYaml(fs.readFileSync(path.join(crds, f), "utf8")),
        ),
      );
    }
    // A new CRD answers 404, then 503 "storage is (re)initializing", before it serves.
    for (let i = 0; !(await this.api("GET", `${SNAP}/volumesnapshotclasses`).catch(() => undefined)); i++) {
      if (i > 300) throw new Error("the snapshot CRDs were not served after 30 s");
      await sleep(100);
    }
    const isDefault = (kind: string) => ({ [`${kind}.kubernetes.io/is-default-class`]: "true" });
    await maybe(
      this.api("POST", "/apis/storage.k8s.io/v1/storageclasses", {
        metadata: { name: this.storageClassName, annotations: isDefault("storageclass") },
        provisioner: PROVISIONER,
        reclaimPolicy: "Delete",
        // As local-disk CSI drivers do: the scheduler picks the pod's node first, and the volume is made there.
        volumeBindingMode: "WaitForFirstConsumer",
      }),
    );
    await maybe(
      this.api("POST", `${SNAP}/volumesnapshotclasses`, {
        apiVersion: "snapshot.storage.k8s.io/v1",
        kind: "VolumeSnapshotClass",
        metadata: { name: this.storageClassName, annotations: isDefault("snapshot.storage") },
        driver: PROVISIONER,
        deletionPolicy: "Delete",
      }),
    );
    const node = nodeObject(this.config, {
      cpu: String(os.cpus().length),
      memory: `${Math.floor(os.totalmem() / 2 ** 20)}Mi`,
    });
    const nodePath = `/api/v1/nodes/${this.nodeName}`;
    if (!(await maybe(this.api("GET", nodePath))))
      await this.api("POST", "/api/v1/nodes", { metadata: node.metadata, spec: node.spec });
    else
      await this.api(
        "PATCH",
        nodePath,
        { metadata: { labels: node.metadata.labels }, spec: node.spec },
        MERGE,
      );
    const status = {
      ...node.status,
      addresses: [
        { type: "InternalIP", address: defaults(this.config).hostIP },
        { type: "Hostname", address: this.nodeName },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: "flagday",
        systemUUID: "flagday",
        bootID: this.since,
        kernelVersion: os.release(),
        osImage: "flagday-kube-agent (SIMULATED node: consensus-service-sim processes)",
        containerRuntimeVersion: "flagday-sim://0.1.0",
        kubeletVersion: "v0.0.0-flagday-kube-agent",
        kubeProxyVersion: "",
        operatingSystem: "linux",
        architecture: node.metadata.labels["kubernetes.io/arch"],
      },
    };
    await this.api("PATCH", `${nodePath}/status`, { status }, MERGE);
    await this.heartbeat();
    // The apiserver taints a new Node not-ready; the node lifecycle controller lifts it once it sees Ready.
    for (let i = 0; ; i++) {
      const n = await this.api<Obj>("GET", nodePath);
      if (!n.spec.taints?.some((t: { key: string }) => t.key === "node.kubernetes.io/not-ready")) break;
      if (i > 600)
        throw new Error(
          `${this.nodeName} is still tainted not-ready after 60 s: is the controller manager up?`,
        );
      await sleep(100);
    }
    this.log(`node registered; volumes and snapshots under ${this.config.dir}`);
    this.timer = setInterval(() => void this.tick(), this.opts.pollMs ?? 1000);
  }

  /** Stops the loop and (unless `keepNodes`: a restarted agent adopts them) every process the agent runs. */
  async stop(o: { keepNodes?: boolean } = {}): Promise<void> {
    clearInterval(this.timer);
    // The moves under way finish first, but a stuck one (a request or a process that never answers) must not
    // hold the stop: after STOP_GRACE_MS the pods' processes are stopped anyway, and the log says so.
    const deadline = Date.now() + STOP_GRACE_MS;
    while (this.ticking && Date.now() < deadline) await sleep(50);
    const busy = Promise.all([...this.pods.values()].map((s) => s.busy));
    const settled = await Promise.race([
      busy.then(() => true),
      sleep(Math.max(0, deadline - Date.now())).then(() => false),
    ]);
    if (this.ticking || !settled)
      this.log(`stop: a move was still under way after ${STOP_GRACE_MS / 1000} s; stopping the pods anyway`);
    if (!o.keepNodes) await Promise.all([...this.pods.values()].map((s) => this.kill(s)));
  }

  private async heartbeat() {
    this.lastBeat = Date.now();
    const t = now();
    await this.api(
      "PATCH",
      `/api/v1/nodes/${this.nodeName}/status`,
      { status: { conditions: nodeConditions(t, this.since) } },
      MERGE,
    );
    // The node lifecycle controller reads a Lease renewed within its grace period as the kubelet's pulse.
    const lease = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${this.nodeName}`;
    const renewTime = new Date().toISOString().replace(/Z$/, "000Z");
    if (!(await maybe(this.api("PATCH", lease, { spec: { renewTime } }, MERGE)))) {
      const node = await this.api("GET", `/api/v1/nodes/${this.nodeName}`);
      await maybe(
        this.api("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
          metadata: {
            name: this.nodeName,
            ownerReferences: [
              { apiVersion: "v1", kind: "Node", name: this.nodeName, uid: (node as Obj).metadata.uid },
            ],
          },
          spec: { holderIdentity: this.nodeName, leaseDurationSeconds: 40, renewTime },
        }),
      );
    }
  }

  private async tick() {
    if (this.ticking) {
      // A loop that does not come round is what a hang looks like from outside: say where it is, now and then.
      const stuck = Date.now() - this.tickStart;
      if (stuck > 30_000 && Date.now() - this.stuckLogged > 30_000) {
        this.stuckLogged = Date.now();
        this.log(`the loop has been in ${this.tickPhase} for ${Math.round(stuck / 1000)} s`);
      }
      return;
    }
    this.ticking = true;
    this.tickStart = Date.now();
    try {
      this.tickPhase = "the heartbeat";
      if (Date.now() - this.lastBeat > 10_000) await this.heartbeat();
      this.tickPhase = "provisioning volumes";
      await this.provision();
      this.tickPhase = "taking snapshots";
      await this.snapshots();
      this.tickPhase = "listing pods";
      const list = await this.api<{ items: Obj[] }>(
        "GET",
        `/api/v1/pods?fieldSelector=spec.nodeName%3D${this.nodeName}`,
      );
      const seen = new Set(list.items.map((p) => p.metadata.uid));
      for (const [uid, st] of this.pods) {
        // Gone without us (deleted with grace period 0 by someone else): its processes go too.
        if (seen.has(uid) || st.busy) continue;
        this.pods.delete(uid);
        void this.kill(st);
      }
      for (const pod of list.items) {
        const st = this.pods.get(pod.metadata.uid) ?? this.adopt(pod);
        if (!st || st.busy) continue;
        st.pod = pod;
        st.busy = this.step(st)
          .catch((e) =>
            this.log(`pod ${pod.metadata.namespace}/${pod.metadata.name}: ${(e as Error).message}`),
          )
          .finally(() => (st.busy = undefined));
      }
    } catch (e) {
      this.log(`${(e as Error).message}`);
    } finally {
      this.ticking = false;
    }
  }

  private adopt(pod: Obj): PodState | undefined {
    // A pod that ended before this agent started stays as it was reported.
    if (["Succeeded", "Failed"].includes(pod.status?.phase) && !pod.metadata.deletionTimestamp)
      return undefined;
    const plan = (cs: unknown[] | undefined) => (cs ?? []).map((c) => containerPlan(c, this.config.releases));
    const fresh = (p: ContainerPlan): ContainerRun => ({
      name: p.name,
      image: p.image,
      state: { waiting: { reason: "ContainerCreating" } },
      ready: false,
      restartCount: 0,
    });
    const st: PodState = {
      pod,
      dir: path.join(this.config.dir, "pods", pod.metadata.uid),
      init: plan(pod.spec.initContainers),
      plans: plan(pod.spec.containers),
      run: { startTime: now(), phase: "Pending", init: [], containers: [] },
      shells: new Map(),
      retryAt: 0,
    };
    st.run.init = st.init.map(fresh);
    st.run.containers = st.plans.map(fresh);
    this.pods.set(pod.metadata.uid, st);
    return st;
  }

  /** One move of a pod's life: delete, prepare, run the next init container, start or watch its containers. */
  private async step(st: PodState): Promise<void> {
    const { pod, run } = st;
    const where = `/api/v1/namespaces/${pod.metadata.namespace}/pods/${pod.metadata.name}`;
    if (pod.metadata.deletionTimestamp) {
      await this.kill(st);
      this.pods.delete(pod.metadata.uid);
      await maybe(
        this.api("DELETE", where, { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } }),
      );
      this.log(`pod ${pod.metadata.namespace}/${pod.metadata.name} stopped and deleted`);
      return;
    }
    if (run.phase === "Succeeded" || run.phase === "Failed" || Date.now() < st.retryAt) return;
    const policy = pod.spec.restartPolicy ?? "Always";
    try {
      const bad = [...st.init, ...st.plans].find((p) => p.kind === "unsupported");
      if (bad?.kind === "unsupported") {
        if (policy !== "Always") throw Object.assign(new Waiting("Failed", bad.why), { fatal: true });
        throw new Waiting(bad.why.startsWith("image") ? "ErrImagePull" : "RunContainerError", bad.why);
      }
      st.prepared ??= await this.prepare(st);
      const next = st.init.findIndex((_, i) => !this.succeeded(run.init[i]));
      if (next >= 0) {
        await this.runInit(st, next, policy);
      } else {
        run.initializedAt ??= now();
        await this.runContainers(st, policy);
      }
    } catch (e) {
      if (!(e instanceof Waiting)) throw e;
      for (const c of [...run.init, ...run.containers]) {
        if ("waiting" in c.state) c.state = { waiting: { reason: e.reason, message: e.message } };
      }
      if ((e as { fatal?: boolean }).fatal)
        Object.assign(run, { phase: "Failed", reason: e.reason, message: e.message });
      st.retryAt = Date.now() + 2000;
    }
    if (!run.reason) run.phase = podPhase(run, policy);
    const ready = run.phase === "Running" && run.containers.every((c) => c.ready);
    if (ready && !run.readySince) Object.assign(run, { readySince: now(), notReadySince: undefined });
    if (!ready && !run.notReadySince) Object.assign(run, { notReadySince: now(), readySince: undefined });
    const status = podStatus(pod.metadata.uid, run, defaults(this.config).hostIP);
    const text = JSON.stringify(status);
    if (text !== st.written) {
      await this.api("PATCH", `${where}/status`, { status }, MERGE);
      st.written = text;
    }
  }

  private succeeded(c: ContainerRun) {
    return "terminated" in c.state && c.state.terminated.exitCode === 0;
  }

  /** The pod's volumes as host folders, and each container's environment: what a kubelet mounts and injects. */
  private async prepare(st: PodState): Promise<NonNullable<PodState["prepared"]>> {
    const ns = `/api/v1/namespaces/${st.pod.metadata.namespace}`;
    const get = async (kind: string, name: string) => {
      const o = await maybe(this.api("GET", `${ns}/${kind}s/${name}`));
      if (!o)
        throw new Waiting(
          kind === "secret" ? "CreateContainerConfigError" : "ContainerCreating",
          `${kind} "${name}" not found`,
        );
      return o as Obj;
    };
    const volumes: Record<string, string> = {};
    for (const v of st.pod.spec.volumes ?? []) {
      const dir = path.join(st.dir, "volumes", v.name);
      if (v.persistentVolumeClaim) {
        const claim = await get("persistentvolumeclaim", v.persistentVolumeClaim.claimName);
        const pv =
          claim.spec.volumeName &&
          (await maybe(this.api("GET", `/api/v1/persistentvolumes/${claim.spec.volumeName}`)));
        const at = (pv as Obj | undefined)?.spec.local?.path ?? (pv as Obj | undefined)?.spec.hostPath?.path;
        if (claim.status?.phase !== "Bound" || !at)
          throw new Waiting(
            "ContainerCreating",
            `persistentvolumeclaim "${claim.metadata.name}" is not bound`,
          );
        volumes[v.name] = at;
      } else if (v.configMap || v.secret) {
        const o = v.configMap
          ? await get("configmap", v.configMap.name)
          : await get("secret", v.secret.secretName);
        fs.mkdirSync(dir, { recursive: true });
        for (const [k, val] of Object.entries<string>(o.data ?? {})) {
          fs.writeFileSync(path.join(dir, k), v.secret ? Buffer.from(val, "base64") : val);
        }
        volumes[v.name] = dir;
      } else if (v.emptyDir || v.projected) {
        // The service account token volume stays empty: nothing the simulated processes run talks to the API.
        fs.mkdirSync(dir, { recursive: true });
        volumes[v.name] = dir;
      } else if (v.hostPath) {
        if (
          v.hostPath.type === "Directory" &&
          !fs.statSync(v.hostPath.path, { throwIfNoEntry: false })?.isDirectory()
        ) {
          throw new Waiting(
            "ContainerCreating",
            `hostPath type check failed: ${v.hostPath.path} is not a directory`,
          );
        }
        volumes[v.name] = v.hostPath.path;
      } else
        throw new Waiting(
          "ContainerCreating",
          `volume ${v.name}: the agent mounts claims, config maps, secrets, emptyDir, projected (empty) and hostPath only`,
        );
    }
    const env: Record<string, Record<string, string>> = {};
    for (const c of [...(st.pod.spec.initContainers ?? []), ...st.pod.spec.containers]) {
      const e: Record<string, string> = {};
      for (const x of c.env ?? []) {
        const ref = x.valueFrom?.secretKeyRef ?? x.valueFrom?.configMapKeyRef;
        if (ref) {
          const o = await get(x.valueFrom.secretKeyRef ? "secret" : "configmap", ref.name);
          const raw = o.data?.[ref.key];
          if (raw === undefined)
            throw new Waiting("CreateContainerConfigError", `couldn't find key ${ref.key} in ${ref.name}`);
          e[x.name] = x.valueFrom.secretKeyRef ? Buffer.from(raw, "base64").toString("utf8") : raw;
        } else e[x.name] = String(x.value ?? "");
      }
      env[c.name] = e;
    }
    return { volumes, env };
  }

  private container(st: PodState, name: string) {
    return [...(st.pod.spec.initContainers ?? []), ...st.pod.spec.containers].find(
      (c: Obj) => c.name === name,
    );
  }

  /**
   * The SIMULATED enclave artifact an image carries (the local platform's simulatedEnclave of its release), at
   * <dir>/images/<image>/: the file whose sha256 is the release's enclaveSha256.
   */
  private imageEnclave(image: string): string {
    const file = path.join(
      this.config.dir,
      "images",
      image.replace(/[^A-Za-z0-9._-]/g, "_"),
      "enclave.signed.so",
    );
    if (!fs.existsSync(file)) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, simulatedEnclave(this.config.releases[image]));
    }
    return file;
  }

  /** Runs a container's shell script on the host; resolves with its exit code. */
  private shell(
    st: PodState,
    plan: Extract<ContainerPlan, { kind: "shell" }>,
  ): { child: ChildProcess; done: Promise<number> } {
    const { volumes, env } = st.prepared!;
    const mounts = this.container(st, plan.name).volumeMounts ?? [];
    const ledger = hostPath("/ledger", mounts, volumes);
    const log = fs.openSync(path.join(st.dir, `${plan.name}.log`), "a");
    // The image's own files a script reads (the pre-pull Job checks the enclave's sha256): mounted as volumes are.
    const image = [{ mountPath: ENCLAVE_IN_IMAGE, name: "flagday-image-enclave" }];
    const files = { ...volumes, "flagday-image-enclave": this.imageEnclave(plan.image) };
    const child = spawn("/bin/sh", ["-c", rewriteMounts(plan.script, [...mounts, ...image], files)], {
      cwd: st.dir,
      detached: true,
      stdio: ["ignore", log, log],
      env: {
        PATH: `${this.tools}:${process.env.PATH}`,
        HOME: st.dir,
        ...env[plan.name],
        FLAGDAY_SIM_LEDGER_FORMAT: String(this.config.releases[plan.image].ledgerFormat),
        // The rehearsal's release migrations name the ledger so (as the local platform runs them).
        ...(ledger ? { LEDGER_DB: ledger } : {}),
      },
    });
    fs.closeSync(log);
    const done = new Promise<number>((r) => child.once("exit", (code, sig) => r(code ?? (sig ? 137 : 1))));
    return { child, done };
  }

  private terminated(st: PodState, c: ContainerRun, exitCode: number, startedAt: string, policy: string) {
    const message = tail(path.join(st.dir, `${c.name}.log`));
    const done = {
      terminated: {
        exitCode,
        reason: exitCode === 0 ? "Completed" : "Error",
        message,
        startedAt,
        finishedAt: now(),
      },
    };
    c.ready = false;
    if (policy === "Always" || (policy === "OnFailure" && exitCode !== 0)) {
      // A kubelet restarts it after a back-off: 10 s, doubling, at most 5 minutes.
      c.lastState = done;
      c.state = { waiting: { reason: "CrashLoopBackOff", message: `back-off restarting ${c.name}` } };
      st.retryAt = Date.now() + Math.min(10_000 * 2 ** c.restartCount, 300_000);
      c.restartCount++;
    } else c.state = done;
  }

  private async runInit(st: PodState, i: number, policy: string) {
    const plan = st.init[i];
    if (plan.kind !== "shell")
      throw new Waiting(
        "RunContainerError",
        `init container ${plan.name}: only /bin/sh -c scripts run as init containers`,
      );
    const c = st.run.init[i];
    const startedAt = now();
    c.state = { running: { startedAt } };
    const code = await this.shell(st, plan).done;
    // An init container that fails under restartPolicy Always is retried like a crashing container.
    this.terminated(st, c, code, startedAt, policy === "Always" ? "OnFailure" : policy);
  }

  private async runContainers(st: PodState, policy: string) {
    for (const [i, plan] of st.plans.entries()) {
      const c = st.run.containers[i];
      if (plan.kind === "shell" && "waiting" in c.state) {
        const startedAt = now();
        const { child, done } = this.shell(st, plan);
        st.shells.set(plan.name, child);
        c.state = { running: { startedAt } };
        c.ready = true;
        void done.then((code) => {
          st.shells.delete(plan.name);
          this.terminated(st, c, code, startedAt, policy);
        });
      } else if (plan.kind === "sim") {
        await this.runSim(st, plan, c, policy);
      }
    }
    // The admin gateway is the simulated node's own admin API: up and ready with it.
    const simRun = st.run.containers[st.plans.findIndex((p) => p.kind === "sim")];
    for (const [i, plan] of st.plans.entries()) {
      if (plan.kind !== "gateway") continue;
      if (!simRun)
        throw new Waiting("RunContainerError", "mc-admin-http-gateway runs only beside consensus-service");
      Object.assign(st.run.containers[i], {
        state: simRun.state,
        ready: simRun.ready,
        restartCount: simRun.restartCount,
      });
    }
  }

  private async runSim(
    st: PodState,
    plan: Extract<ContainerPlan, { kind: "sim" }>,
    c: ContainerRun,
    policy: string,
  ) {
    if ("running" in c.state && st.sim) {
      if (!alive(st.sim.pid)) {
        this.log(`pod ${st.pod.metadata.name}: simulated node (pid ${st.sim.pid}) died`);
        fs.copyFileSync(path.join(st.sim.dir, "node.log"), path.join(st.dir, `${c.name}.log`));
        this.terminated(st, c, 1, c.state.running.startedAt, policy);
        st.sim = undefined;
        return;
      }
      c.ready = await fetch(`http://127.0.0.1:${st.sim.admin}/info`, { signal: AbortSignal.timeout(1000) })
        .then((r) => r.ok)
        .catch(() => false);
      return;
    }
    if (!("waiting" in c.state)) return;
    const { volumes, env } = st.prepared!;
    const mounts = this.container(st, plan.name).volumeMounts ?? [];
    const file = (arg: string) => {
      const p = plan.args[arg] && hostPath(plan.args[arg], mounts, volumes);
      if (!p)
        throw new Waiting(
          "RunContainerError",
          `${arg} ${plan.args[arg] ?? "(missing)"} is not on a mounted volume`,
        );
      return p;
    };
    const tokens = plan.args["--tokens"] ? file("--tokens") : undefined;
    const config = simNodeConfig({
      pod: st.pod,
      plan,
      config: this.config,
      env: env[plan.name],
      ledger: file("--ledger-path"),
      network: JSON.parse(fs.readFileSync(file("--network"), "utf8")),
      ...(tokens && fs.existsSync(tokens) ? { tokensDigest: sha256(fs.readFileSync(tokens)) } : {}),
    });
    const configFile = path.join(config.dir, "config", `pod-${st.pod.metadata.name}.json`);
    const pidFile = path.join(config.dir, "node.pid");
    const startedAt = now();
    // An agent that restarts finds this pod's node still running (the process of its config): it adopts it.
    const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, "utf8")) : 0;
    if (pid && alive(pid) && fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(configFile)) {
      st.sim = { dir: config.dir, admin: config.ports.admin, pid };
      c.state = { running: { startedAt } };
      return this.log(`pod ${st.pod.metadata.name}: adopted its running simulated node (pid ${pid})`);
    }
    fs.mkdirSync(path.dirname(configFile), { recursive: true });
    fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
    const out = await promisify(execFile)(process.execPath, [SIM_BIN, "start", "--config", configFile], {
      env: { ...process.env, ...env[plan.name] },
      // The simulator gives up on a node not ready in 20 s; this bounds the start itself.
      timeout: 60_000,
    }).then(
      (r) => ({ code: 0, text: r.stdout }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({
        code: e.code ?? 1,
        text: `${e.stdout}${e.stderr}`,
      }),
    );
    fs.appendFileSync(path.join(st.dir, `${c.name}.log`), out.text);
    if (out.code !== 0) return this.terminated(st, c, out.code, startedAt, policy);
    st.sim = { dir: config.dir, admin: config.ports.admin, pid: Number(fs.readFileSync(pidFile, "utf8")) };
    c.state = { running: { startedAt } };
    this.log(
      `pod ${st.pod.metadata.namespace}/${st.pod.metadata.name}: simulated node ${config.name} started (${plan.image})`,
    );
  }

  /** Stops what runs for a pod: its simulated node and its shells. */
  private async kill(st: PodState) {
    for (const child of st.shells.values()) {
      try {
        process.kill(-child.pid!, "SIGTERM");
      } catch {
        /* already gone */
      }
    }
    if (st.sim) {
      await promisify(execFile)(process.execPath, [SIM_BIN, "stop", "--dir", st.sim.dir], {
        timeout: 60_000,
      }).catch((e) => this.log(`stop ${st.sim?.dir}: ${(e as Error).message}`));
      st.sim = undefined;
    }
  }

  /** The external provisioner: a local volume for each claim the scheduler placed on this node. */
  private async provision() {
    const claims = await this.api<{ items: Obj[] }>("GET", "/api/v1/persistentvolumeclaims");
    for (const pvc of claims.items) {
      const selected = pvc.metadata.annotations?.["volume.kubernetes.io/selected-node"];
      if (
        pvc.spec.storageClassName !== this.storageClassName ||
        pvc.spec.volumeName ||
        selected !== this.nodeName ||
        pvc.metadata.deletionTimestamp
      )
        continue;
      const pv = persistentVolume(pvc, this.config, "");
      const dir = path.join(this.config.dir, "volumes", pv.metadata.name, "ledger");
      const from = pvc.spec.dataSource?.kind === "VolumeSnapshot" ? pvc.spec.dataSource.name : undefined;
      let source: string | undefined;
      if (from) {
        const snap = await maybe(
          this.api("GET", `${SNAP}/namespaces/${pvc.metadata.namespace}/volumesnapshots/${from}`),
        );
        const content =
          snap?.status &&
          (await maybe(
            this.api(
              "GET",
              `${SNAP}/volumesnapshotcontents/${(snap as Obj).status.boundVolumeSnapshotContentName}`,
            ),
          ));
        source = (content as Obj | undefined)?.status?.snapshotHandle;
        if (!source || !(snap as Obj).status.readyToUse) continue;
      }
      await copyWhole(source, dir);
      pv.spec.local.path = dir;
      await maybe(this.api("POST", "/api/v1/persistentvolumes", pv));
      this.log(
        `provisioned ${pv.metadata.name} for ${pvc.metadata.namespace}/${pvc.metadata.name}${from ? ` from snapshot ${from}` : ""}`,
      );
    }
    const pvs = await this.api<{ items: Obj[] }>("GET", "/api/v1/persistentvolumes");
    for (const pv of pvs.items) {
      if (
        pv.metadata.annotations?.["pv.kubernetes.io/provisioned-by"] !== PROVISIONER ||
        pv.status?.phase !== "Released"
      )
        continue;
      if (pv.spec.persistentVolumeReclaimPolicy !== "Delete") continue;
      fs.rmSync(path.join(this.config.dir, "volumes", pv.metadata.name), { recursive: true, force: true });
      await maybe(this.api("DELETE", `/api/v1/persistentvolumes/${pv.metadata.name}`));
      this.log(`deleted released ${pv.metadata.name} and its folder`);
    }
  }

  /** The snapshot controller and snapshotter: a copy per snapshot of an agent volume; gone with its snapshot. */
  private async snapshots() {
    const snaps = await this.api<{ items: Obj[] }>("GET", `${SNAP}/volumesnapshots`);
    for (const snap of snaps.items) {
      const claim = snap.spec.source?.persistentVolumeClaimName;
      const cls = snap.spec.volumeSnapshotClassName;
      if (
        snap.status?.readyToUse ||
        snap.metadata.deletionTimestamp ||
        !claim ||
        (cls && cls !== this.storageClassName)
      )
        continue;
      const ns = snap.metadata.namespace;
      const pvc = await maybe(this.api("GET", `/api/v1/namespaces/${ns}/persistentvolumeclaims/${claim}`));
      const pv =
        pvc?.spec &&
        (await maybe(this.api("GET", `/api/v1/persistentvolumes/${(pvc as Obj).spec.volumeName ?? "-"}`)));
      const where = `${SNAP}/namespaces/${ns}/volumesnapshots/${snap.metadata.name}`;
      if (!pv || (pv as Obj).metadata.annotations?.["pv.kubernetes.io/provisioned-by"] !== PROVISIONER) {
        const message = `persistentvolumeclaim ${claim} is not bound to a volume of ${PROVISIONER}`;
        if (snap.status?.error?.message !== message)
          await this.api(
            "PATCH",
            `${where}/status`,
            { status: { readyToUse: false, error: { message, time: now() } } },
            MERGE,
          );
        continue;
      }
      const doc = snapshotContent(snap, pv as Obj, "", new Date());
      const handle = path.join(this.config.dir, "snapshots", doc.content.metadata.name);
      await copyWhole(path.join(this.config.dir, "volumes", (pv as Obj).metadata.name, "ledger"), handle);
      await maybe(this.api("POST", `${SNAP}/volumesnapshotcontents`, doc.content));
      await this.api(
        "PATCH",
        `${SNAP}/volumesnapshotcontents/${doc.content.metadata.name}/status`,
        { status: { ...doc.contentStatus, snapshotHandle: handle } },
        MERGE,
      );
      await this.api("PATCH", `${where}/status`, { status: doc.snapshotStatus }, MERGE);
      this.log(`snapshot ${ns}/${snap.metadata.name} of ${claim}: ${handle}`);
    }
    const contents = await this.api<{ items: Obj[] }>("GET", `${SNAP}/volumesnapshotcontents`);
    for (const c of contents.items) {
      const ref = c.spec.volumeSnapshotRef;
      if (c.spec.driver !== PROVISIONER || c.spec.deletionPolicy !== "Delete") continue;
      const snap = await maybe(
        this.api("GET", `${SNAP}/namespaces/${ref.namespace}/volumesnapshots/${ref.name}`),
      );
      if (snap && (snap as Obj).metadata.uid === ref.uid) continue;
      if (c.status?.snapshotHandle) fs.rmSync(c.status.snapshotHandle, { recursive: true, force: true });
      await maybe(this.api("DELETE", `${SNAP}/volumesnapshotcontents/${c.metadata.name}`));
      this.log(`deleted ${c.metadata.name}: its snapshot ${ref.namespace}/${ref.name} is gone`);
    }
  }
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function tail(file: string, lines = 10): string {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** A folder made whole or not at all: a copy of `from` (or an empty one), renamed into place. */
async function copyWhole(from: string | undefined, to: string) {
  if (fs.existsSync(to)) return;
  const partial = `${to}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(path.dirname(to), { recursive: true });
  if (from) await fs.promises.cp(from, partial, { recursive: true, preserveTimestamps: true });
  else fs.mkdirSync(partial);
  fs.renameSync(partial, to);
}

export { ApiError };
