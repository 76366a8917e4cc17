import { createHash } from "node:crypto";

/** A JSON value as the coordination board stores it: no undefined, no functions, only finite numbers. */
export type Json = null | boolean | number | string | readonly Json[] | { readonly [key: string]: Json };

/**
 * The canonical JSON text of a value: object keys sorted by UTF-16 code unit (as JavaScript sorts strings),
 * no whitespace, strings and numbers as `JSON.stringify` writes them. Two values that are equal as data have
 * the same text whatever order their keys were written in, so its hash identifies the data. Object entries
 * whose value is `undefined` are left out (an optional field that is absent and one that is unset are the same
 * data); anything else JSON cannot carry (a non-finite number, a function, undefined in an array) is refused.
 */
export function canonicalJson(value: unknown, path = "$"): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
    case "string":
      return JSON.stringify(value);
    case "number":
      if (!Number.isFinite(value)) {
        throw new TypeError(`${path} is ${value}: canonical JSON has finite numbers only.`);
      }
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) {
        return `[${value.map((v, i) => canonicalJson(v, `${path}[${i}]`)).join(",")}]`;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k], `${path}.${k}`)}`).join(",")}}`;
    }
    default:
      throw new TypeError(`${path} is a ${typeof value}: canonical JSON cannot carry it.`);
  }
}

/** sha256 of a text's UTF-8 bytes, as 64 lowercase hex characters. */
export function sha256Hex(text: string | Uint8Array): string {
  return createHash("sha256").update(text).digest("hex");
}
