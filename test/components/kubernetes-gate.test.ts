/**
 * The Kubernetes gate's commands as plain shell, against a stand-in kubectl that keeps the Ingress's class and
 * the ConfigMaps in files: the accept records the transition's reopening once, and the rollback guard's "closed
 * since" test is true only while the Ingress is closed and that transition never reopened it, and false when
 * kubectl fails (the safe answer: clients may have been served).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { kubernetesArgsProblems } from "../../components/kubernetes/args";
import {
  ingressAcceptCommand,
  ingressClassPatch,
  ingressClosedTest,
} from "../../components/kubernetes/specs";
import { standIns } from "./stand-ins";

const { tmp, bin } = standIns("kube-gate");
const K = "kubectl -n 'mc'";

function cluster() {
  const dir = tmp();
  writeFileSync(join(dir, "class"), "nginx");
  // Just enough of kubectl for these commands: patch the class, get it, get/create a ConfigMap; FAIL makes it fail.
  const path = bin({
    kubectl: `
d=${dir}
[ -e "$d/FAIL" ] && { echo "Unable to connect to the server" >&2; exit 1; }
shift 2
case "$1 $2" in
  "patch ingress") printf '%s' "$6" | sed -E 's/.*"ingressClassName":"([^"]+)".*/\\1/' > "$d/class" ;;
  "get ingress") cat "$d/class" ;;
  "get configmap")
    if [ -e "$d/cm-$3" ]; then echo "configmap/$3"; elif [ "$4" = "--ignore-not-found" ]; then :; else
      echo "Error from server (NotFound)" >&2; exit 1; fi ;;
  "create configmap") touch "$d/cm-$3"; echo "configmap/$3 created" ;;
  *) echo "stand-in kubectl: $*" >&2; exit 2 ;;
esac`,
  });
  const sh = (script: string) => {
    try {
      execFileSync("/bin/sh", ["-c", script], {
        env: { ...process.env, PATH: `${path}:${process.env.PATH}` },
      });
      return true;
    } catch {
      return false;
    }
  };
  return { dir, sh };
}

test("closed since: true while closed and not reopened by the transition; false once it reopened or kubectl fails", () => {
  const { dir, sh } = cluster();
  const closed = ingressClosedTest(K, "c", "flagday-closed", "net-reopened-1");
  const reject = ingressClassPatch(K, "c", "flagday-closed");
  const accept = ingressAcceptCommand(K, "c", "nginx", "net-reopened-1", "u1-x");
  assert.equal(sh(closed), false, "open: not closed");
  assert.ok(sh(reject));
  assert.equal(sh(closed), true, "closed by the reject, never reopened");
  writeFileSync(join(dir, "FAIL"), "");
  assert.equal(sh(closed), false, "kubectl failing: unknown, so not 'closed since'");
  execFileSync("rm", [join(dir, "FAIL")]);
  assert.ok(sh(accept));
  assert.ok(existsSync(join(dir, "cm-net-reopened-1")), "the accept recorded the reopening");
  assert.ok(sh(accept), "a re-run of the accept finds its mark");
  assert.ok(sh(reject));
  assert.equal(sh(closed), false, "closed again, but clients were served since the transition reopened it");
  assert.equal(
    sh(ingressClosedTest(K, "c", "flagday-closed", "net-reopened-2")),
    true,
    "another transition that never reopened it",
  );
});

test("commandProvider is pulumi-command or flagday, named in the error otherwise", () => {
  const base = {
    namespace: "mc",
    clientHost: "{node}.example.com",
    volumeSnapshotClassName: "csi",
    msgSignerKeySecret: "{node}-key",
    tokensConfigMap: "tokens",
  };
  assert.deepEqual(kubernetesArgsProblems({ ...base, commandProvider: "flagday" }, "flagday:kubernetes"), []);
  assert.deepEqual(
    kubernetesArgsProblems({ ...base, commandProvider: "pulumi-command" }, "flagday:kubernetes"),
    [],
  );
  const [problem] = kubernetesArgsProblems({ ...base, commandProvider: "shell" }, "flagday:kubernetes");
  assert.match(
    problem,
    /flagday:kubernetes\.commandProvider must be pulumi-command .* or flagday .*got "shell"/,
  );
});
