/**
 * The ledger archive a network publishes to, and where a node that falls behind fetches the blocks it missed:
 * network.json's `tx_source_urls`. MobileCoin's own nodes each publish their ledger with ledger-distribution
 * (`--dest s3://<bucket>/<node's host>?region=<region>`, blocks as `00/00/…/<index:016x>.pb` under it) and list
 * every other node's archive, read over HTTPS (`https://s3-<region>.amazonaws.com/<bucket>/<node's host>/`), as
 * their tx_source_urls (the consensus-node-config chart's networkJson). consensus-service reads them with
 * ledger/sync's ReqwestTransactionsFetcher, which fetches http(s) (and file://), never s3://.
 */
import { describe } from "../release";

/** One form of `flagday:network.ledgerArchive`, for messages and the stack files. */
export const LEDGER_ARCHIVE_EXAMPLE = "s3://flagday-devnet-ledger/{node}?region=us-west-2";

const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
/** S3's bucket naming rules (lowercase letters, digits, dots and dashes; 3 to 63; a letter or digit at each end). */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

type Parsed =
  | { readonly kind: "s3"; readonly bucket: string; readonly path: string; readonly region: string }
  | { readonly kind: "https"; readonly url: string };

/** The archive's form, or why it is not one. */
function parse(archive: string): Parsed | string {
  if (archive.startsWith("s3://")) {
    const m = /^s3:\/\/([^/?]+)\/([^?]+?)\/?(\?(.*))?$/.exec(archive);
    if (!m)
      return "an s3:// archive needs a bucket and a path: s3://<bucket>/<path with {node}>?region=<region>";
    const [, bucket, path, , query = ""] = m;
    if (!BUCKET.test(bucket)) return `"${bucket}" is not an S3 bucket name`;
    if (!path.includes("{node}")) {
      return (
        "an s3:// archive is where every node publishes its own ledger (each archive holds one node's block " +
        "signatures), so its path needs {node} for the node's name"
      );
    }
    const region = new URLSearchParams(query).get("region") ?? "";
    if (!REGION.test(region)) {
      return (
        "an s3:// archive needs ?region=<the bucket's region> (as ledger-distribution's --dest takes it): the " +
        "nodes read it over HTTPS from that region's endpoint"
      );
    }
    return { kind: "s3", bucket, path, region };
  }
  if (archive.startsWith("https://")) {
    try {
      const url = new URL(archive.replace(/\{node\}/g, "node"));
      if (!url.hostname.includes(".")) return `"${url.hostname}" is not a public host name`;
    } catch {
      return "it is not a URL";
    }
    return { kind: "https", url: archive };
  }
  return (
    "it must be the S3 archive the nodes publish to (s3://<bucket>/<path with {node}>?region=<region>) or an " +
    "HTTPS URL serving it (https://…): consensus-service fetches blocks over HTTPS only"
  );
}

/** Why `flagday:network.ledgerArchive` is not usable, if it is not. */
export function ledgerArchiveProblems(archive: unknown, where: string): string[] {
  if (archive === undefined) return [];
  const why = typeof archive === "string" ? parse(archive) : "it is not a string";
  return typeof why === "string"
    ? [
        `${where} is not a ledger archive: ${why} (got ${describe(archive)}). For example ` +
          `${LEDGER_ARCHIVE_EXAMPLE}, or https://ledger.example.com/{node}/ for an HTTPS front of it.`,
      ]
    : [];
}

/**
 * Where a node reads one node's archive: the HTTPS URL (with its trailing slash) of `node`'s blocks. An S3
 * archive is read from its region's endpoint, virtual-hosted, or path-style for a bucket with dots in its name
 * (TLS certificates do not cover them as host names), as MobileCoin's `mobilecoin.chain` is read.
 */
export function archiveReadUrl(archive: string, node: string): string {
  const p = parse(archive);
  if (typeof p === "string") throw new Error(`flagday: ledger archive ${archive}: ${p}`);
  const slash = (u: string) => (u.endsWith("/") ? u : `${u}/`);
  if (p.kind === "https") return slash(p.url.replace(/\{node\}/g, node));
  const domain = p.region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com";
  const path = p.path.replace(/\{node\}/g, node);
  return slash(
    p.bucket.includes(".")
      ? `https://s3.${p.region}.${domain}/${p.bucket}/${path}`
      : `https://${p.bucket}.s3.${p.region}.${domain}/${path}`,
  );
}

/**
 * A node's `tx_source_urls`: every other node's archive (a node does not list its own, as MobileCoin's chart
 * does not), or, for an archive without `{node}` (one HTTPS mirror for the whole network), that one.
 * @returns [] without an archive
 */
export function txSourceUrls(archive: string | undefined, nodes: readonly string[], self: string): string[] {
  if (archive === undefined) return [];
  if (!archive.includes("{node}")) return [archiveReadUrl(archive, self)];
  return nodes.filter((n) => n !== self).map((n) => archiveReadUrl(archive, n));
}
