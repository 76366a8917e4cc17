import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ClientConfig,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { BoardBackend, EntryExistsError, checkKey, operatorPrefix } from "./board";

/**
 * A board in any S3-compatible bucket, through the AWS SDK for JavaScript v3: what the operators of a real
 * network share (AWS S3 in production). Write-once rests on S3's conditional put: every write carries
 * `If-None-Match: *`, so the bucket stores it only if the key does not exist and answers 412
 * PreconditionFailed otherwise, atomically even against a concurrent writer. `boardBucketPolicy` makes the
 * bucket enforce both rules on AWS: each operator may write only under its own prefix, and only conditionally.
 */
export interface S3BoardOptions {
  readonly bucket: string;
  /** A folder inside the bucket for the board, e.g. `flagday/`. @default "" (the bucket's root) */
  readonly prefix?: string;
  /** A ready client; otherwise one is made from `clientConfig`. */
  readonly client?: S3Client;
  /**
   * How to reach the bucket when no client is given: region, credentials (default: the SDK's chain, e.g.
   * the operator's AWS profile), and for another S3-compatible server `endpoint` plus `forcePathStyle: true`.
   */
  readonly clientConfig?: S3ClientConfig;
}

export class S3BoardBackend implements BoardBackend {
  readonly description: string;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(opts: S3BoardOptions) {
    this.bucket = opts.bucket;
    this.prefix = opts.prefix ?? "";
    if (this.prefix && !this.prefix.endsWith("/")) this.prefix += "/";
    if (this.prefix) checkKey(this.prefix.slice(0, -1));
    this.client = opts.client ?? new S3Client(opts.clientConfig ?? {});
    const endpoint = opts.clientConfig?.endpoint;
    this.description =
      `s3://${this.bucket}/${this.prefix}` + (typeof endpoint === "string" ? ` (${endpoint})` : "");
  }

  async create(key: string, body: string): Promise<void> {
    checkKey(key);
    // S3 answers 409 ConditionalRequestConflict while a conflicting write to the key is in flight: try again,
    // and the second answer is 412 (the other write won) or success (it failed).
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.send(
          new PutObjectCommand({
            Bucket: this.bucket,
            Key: this.prefix + key,
            Body: body,
            ContentType: "application/json",
            IfNoneMatch: "*",
          }),
        );
        return;
      } catch (e) {
        const status = statusOf(e);
        if (status === 412 || nameOf(e) === "PreconditionFailed") {
          throw new EntryExistsError(key, this.description);
        }
        if ((status === 409 || nameOf(e) === "ConditionalRequestConflict") && attempt < 5) {
          await new Promise((r) => setTimeout(r, 100 * 2 ** attempt));
          continue;
        }
        throw new Error(`cannot write ${key} to the board (${this.description}): ${messageOf(e)}`);
      }
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            ContinuationToken: token,
          }),
        );
      } catch (e) {
        throw new Error(`cannot list ${prefix} on the board (${this.description}): ${messageOf(e)}`);
      }
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key.slice(this.prefix.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  async read(key: string, maxBytes: number): Promise<string | undefined> {
    checkKey(key);
    let res;
    try {
      res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
    } catch (e) {
      if (statusOf(e) === 404 || nameOf(e) === "NoSuchKey") return undefined;
      throw new Error(`cannot read ${key} from the board (${this.description}): ${messageOf(e)}`);
    }
    if ((res.ContentLength ?? 0) > maxBytes) {
      (res.Body as { destroy?: () => void } | undefined)?.destroy?.();
      throw new Error(`${res.ContentLength} bytes, more than the ${maxBytes} an entry may have`);
    }
    return (await res.Body?.transformToString("utf-8")) ?? "";
  }
}

/** The AWS principal (account root, role or user ARN) each operator writes to the board as. */
export interface BoardWriter {
  readonly operator: string;
  readonly principal: string;
}

/**
 * A bucket policy for a network's board on AWS S3: every writer may read and list the network's board, and
 * may create objects only under its own prefix `<prefix><network>/<operator>/` and only with
 * `If-None-Match: *` (S3's condition key `s3:if-none-match`), so no operator can overwrite or forge another's
 * key path. Nobody is granted delete. Attach it with the bucket owner's account; grant the bucket owner nothing
 * more through it.
 */
export function boardBucketPolicy(opts: {
  readonly bucket: string;
  readonly network: string;
  readonly writers: readonly BoardWriter[];
  readonly prefix?: string;
}): Record<string, unknown> {
  const prefix = opts.prefix ? (opts.prefix.endsWith("/") ? opts.prefix : `${opts.prefix}/`) : "";
  const arn = `arn:aws:s3:::${opts.bucket}`;
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ReadTheBoard",
        Effect: "Allow",
        Principal: { AWS: opts.writers.map((w) => w.principal) },
        Action: ["s3:GetObject"],
        Resource: `${arn}/${prefix}${opts.network}/*`,
      },
      {
        Sid: "ListTheBoard",
        Effect: "Allow",
        Principal: { AWS: opts.writers.map((w) => w.principal) },
        Action: ["s3:ListBucket"],
        Resource: arn,
        Condition: { StringLike: { "s3:prefix": `${prefix}${opts.network}/*` } },
      },
      ...opts.writers.map((w) => ({
        Sid: `WriteOnce${w.operator.replace(/[^A-Za-z0-9]/g, "")}`,
        Effect: "Allow",
        Principal: { AWS: w.principal },
        Action: ["s3:PutObject"],
        Resource: `${arn}/${prefix}${operatorPrefix(opts.network, w.operator)}*`,
        Condition: { Null: { "s3:if-none-match": "false" } },
      })),
    ],
  };
}

function statusOf(e: unknown): number | undefined {
  return (e as S3ServiceException)?.$metadata?.httpStatusCode;
}

function nameOf(e: unknown): string | undefined {
  return (e as Error)?.name;
}

function messageOf(e: unknown): string {
  const status = statusOf(e);
  return `${nameOf(e) ?? "error"}${status ? ` (HTTP ${status})` : ""}: ${(e as Error)?.message ?? String(e)}`;
}
