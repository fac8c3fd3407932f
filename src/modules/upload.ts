// Reads a module upload (multipart/form-data) from the raw request with busboy: the artifact part
// streams into the artifact store's staging area, hashed on the way, never held whole in memory;
// the small parts (fields, signature, certificates) are collected with tight limits.
import type { Readable } from "node:stream";
import busboy from "busboy";
import { ArtifactTooLargeError, type ArtifactStore, type StagedArtifact } from "./artifacts/port.js";

/** Refused upload: the status to answer and the form part at fault. Nothing was kept. */
export class UploadError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    message: string,
    readonly part?: string,
  ) {
    super(message);
    this.name = "UploadError";
  }
}

/** where modules are registered (and the one route exempt from BODY_LIMIT_BYTES) */
export const MODULES_PATH = "/api/v1/modules";

const TEXT_FIELDS = ["name", "version", "dependencies", "description"] as const;
const SMALL_PARTS = { signature: 64 * 1024, certificates: 256 * 1024 } as const;
type SmallPart = keyof typeof SMALL_PARTS;
const isSmallPart = (name: string): name is SmallPart => name === "signature" || name === "certificates";
const KNOWN = new Set<string>([...TEXT_FIELDS, "artifact", "signature", "certificates"]);

export interface ModuleUpload {
  /** the text fields as sent (judged by the route's schema) */
  fields: Map<string, string>;
  signature: Buffer | null;
  certificates: Buffer | null;
  artifact: StagedArtifact;
}

/** Room for the parts beside the artifact when a Content-Length is judged before reading. */
export const FORM_OVERHEAD_BYTES = 1024 * 1024;

/** how much of a refused upload's body, and for how long, is read and dropped so the client hears the refusal */
const DRAIN_MAX_BYTES = 1024 * 1024;
const DRAIN_MAX_MS = 2000;

export function readModuleUpload(source: Readable, contentType: string | undefined, store: ArtifactStore, maxBytes: number): Promise<ModuleUpload> {
  let bb: busboy.Busboy;
  try {
    bb = busboy({
      headers: { "content-type": contentType ?? "" },
      limits: { fields: TEXT_FIELDS.length + 2, files: 3, parts: 10, fieldSize: SMALL_PARTS.certificates, fieldNameSize: 64, headerPairs: 20, fileSize: maxBytes + 1 },
    });
  } catch {
    return Promise.reject(new UploadError(415, "the body must be multipart/form-data with a boundary (fields name, version, artifact; optional signature, certificates, dependencies, description)"));
  }
  if (!contentType?.toLowerCase().startsWith("multipart/form-data")) {
    return Promise.reject(new UploadError(415, "the body must be multipart/form-data"));
  }

  return new Promise<ModuleUpload>((resolve, reject) => {
    const fields = new Map<string, string>();
    const small = new Map<SmallPart, Promise<Buffer>>();
    let staging: Promise<StagedArtifact> | null = null;
    let failed = false;

    const fail = (err: UploadError) => {
      if (failed) return;
      failed = true;
      // stop parsing: the rest of the body is never looked at (the route closes the connection).
      // A small rest is read and dropped before the refusal goes out: a client the server closes
      // on while it is still sending gets a reset (EPIPE) instead of the answer. A big rest, or a
      // slow one, is not waited for.
      source.unpipe(bb);
      void staging?.then((s) => s.discard(), () => undefined);
      let left = DRAIN_MAX_BYTES;
      let answered = false;
      const answer = () => {
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        source.pause();
        reject(err);
      };
      const timer = setTimeout(answer, DRAIN_MAX_MS);
      if (source.readableEnded) return answer();
      source.on("data", (chunk: Buffer) => {
        left -= chunk.length;
        if (left < 0) answer();
      });
      source.once("end", answer);
      source.once("error", answer);
      source.once("close", answer);
      source.resume();
    };

    bb.on("file", (name, stream, info) => {
      if (failed) return void stream.resume();
      if (!KNOWN.has(name) || (TEXT_FIELDS as readonly string[]).includes(name)) {
        stream.resume();
        return fail(new UploadError(400, `unexpected file part "${name.slice(0, 64)}"`, name.slice(0, 64)));
      }
      if (name === "artifact") {
        if (staging) return fail(new UploadError(400, "more than one artifact part", "artifact"));
        staging = store.stage(stream, { maxBytes });
        staging.catch((err: unknown) => {
          if (err instanceof ArtifactTooLargeError) fail(new UploadError(413, `the artifact is larger than MODULE_MAX_BYTES (${maxBytes} bytes)`, "artifact"));
          else fail(new UploadError(400, `the artifact could not be read: ${err instanceof Error ? err.message : String(err)}`, "artifact"));
        });
        return;
      }
      if (isSmallPart(name)) collect(name, stream);
    });

    const collect = (name: SmallPart, stream: Readable) => {
      if (small.has(name)) return fail(new UploadError(400, `more than one ${name} part`, name));
      const limit = SMALL_PARTS[name];
      small.set(
        name,
        new Promise<Buffer>((done, broke) => {
          const chunks: Buffer[] = [];
          let size = 0;
          stream.on("data", (chunk: Buffer) => {
            size += chunk.length;
            if (size > limit) {
              stream.resume();
              stream.removeAllListeners("data");
              broke(new UploadError(400, `${name} is larger than ${limit} bytes`, name));
              return;
            }
            chunks.push(chunk);
          });
          stream.on("end", () => done(Buffer.concat(chunks)));
          stream.on("error", () => broke(new UploadError(400, `${name} could not be read`, name)));
        }),
      );
      small.get(name)!.catch((err: UploadError) => fail(err));
    };

    bb.on("field", (name, value, info) => {
      if (failed) return;
      if (!KNOWN.has(name) || name === "artifact") return fail(new UploadError(400, `unexpected field "${name.slice(0, 64)}"`, name.slice(0, 64)));
      if (info.nameTruncated || info.valueTruncated) return fail(new UploadError(400, `field ${name} is too long`, name));
      if (isSmallPart(name)) {
        if (small.has(name)) return fail(new UploadError(400, `more than one ${name} part`, name));
        small.set(name, Promise.resolve(Buffer.from(value, "utf8")));
        return;
      }
      if (fields.has(name)) return fail(new UploadError(400, `field ${name} was sent twice`, name));
      fields.set(name, value);
    });
    bb.on("partsLimit", () => fail(new UploadError(400, "too many parts in the form")));
    bb.on("filesLimit", () => fail(new UploadError(400, "too many file parts in the form")));
    bb.on("fieldsLimit", () => fail(new UploadError(400, "too many fields in the form")));
    bb.on("error", (err: unknown) => fail(new UploadError(400, `malformed multipart body: ${err instanceof Error ? err.message : String(err)}`)));
    source.on("error", () => fail(new UploadError(400, "the request body was cut off")));
    source.on("aborted", () => fail(new UploadError(400, "the request body was cut off")));

    bb.on("close", () => {
      if (failed) return;
      void (async () => {
        const artifact = staging ? await staging.catch(() => null) : null;
        let signature: Buffer | null = null;
        let certificates: Buffer | null = null;
        try {
          signature = (await small.get("signature")) ?? null;
          certificates = (await small.get("certificates")) ?? null;
        } catch {
          return; // already failed through collect
        }
        if (failed) return void artifact?.discard();
        if (!artifact) return fail(new UploadError(400, "the artifact part is missing (a file part named \"artifact\")", "artifact"));
        if (artifact.size === 0) {
          await artifact.discard();
          return fail(new UploadError(400, "the artifact is empty", "artifact"));
        }
        resolve({ fields, signature: signature?.length ? signature : null, certificates: certificates?.length ? certificates : null, artifact });
      })();
    });

    source.pipe(bb);
  });
}
