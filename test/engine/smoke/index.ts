import * as pulumi from "@pulumi/pulumi";
import { LocalCommand } from "../../../components/local/command";

const config = new pulumi.Config();
const hello = new LocalCommand("hello", {
  create: `echo "hello from the engine, trigger ${config.get("trigger") ?? "one"}"`,
  triggers: [config.get("trigger") ?? "one"],
});
export const stdout = hello.stdout;
