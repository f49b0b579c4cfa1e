/**
 * A real HTTP server (node:http on 127.0.0.1, a free port) serving one file with Range
 * support, ETag and Last-Modified, If-Match and If-Range, and switches that inject the faults
 * an HTTP source must survive or refuse.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** What to do to one request instead of answering it properly. */
export type Fault =
  | { kind: "drop"; after: number } // headers, `after` bytes of the body, then the socket dies
  | { kind: "full200" } // ignore Range: 200 with the whole file
  | { kind: "wrongRange" } // a Content-Range one byte off the range asked
  | { kind: "short" } // chunked, one byte fewer than asked, clean end
  | { kind: "long" } // chunked, one byte more than asked
  | { kind: "status"; status: number; retryAfter?: string }
  | { kind: "slow"; ms: number } // answer after `ms`
  | { kind: "change" } // the file is replaced (other bytes, other ETag) before answering
  | { kind: "resize"; size: number }; // the file is cut or grown to `size` bytes (same ETag)

/** One request as the server saw it. */
export interface Seen {
  method: string;
  path: string;
  headers: IncomingMessage["headers"];
}

export interface FileServer {
  url: string;
  origin: string;
  seen: Seen[];
  /** Bytes served now (replaced by a "change" fault). */
  bytes(): Uint8Array;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** The fault for request number `n` (0-based, all requests counted), if any. */
  fault?: (n: number, req: IncomingMessage) => Fault | undefined;
  /** Send an ETag (default true) and a Last-Modified (default true). */
  etag?: boolean;
  lastModified?: boolean;
  /** Answer HEAD with 405. */
  noHead?: boolean;
  /** Extra routes: path → handler. Return true when handled. */
  route?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

/** Serve `file` at /file.dmg. */
export async function serveFile(file: Uint8Array, opts: ServeOptions = {}): Promise<FileServer> {
  let bytes = file;
  let version = 1;
  const seen: Seen[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    const i = n++;
    seen.push({ method: req.method ?? "", path: req.url ?? "", headers: req.headers });
    const fault = opts.fault?.(i, req);
    const answer = () => {
      if (opts.route?.(req, res)) return;
      serve(req, res, fault);
    };
    if (fault?.kind === "slow") setTimeout(answer, fault.ms);
    else answer();
  });
  const etagOf = () => `"v${version}"`;
  const lastModifiedOf = () => new Date(Date.UTC(2024, 0, version)).toUTCString();

  function validators(res: ServerResponse): void {
    if (opts.etag !== false) res.setHeader("ETag", etagOf());
    if (opts.lastModified !== false) res.setHeader("Last-Modified", lastModifiedOf());
  }

  function serve(req: IncomingMessage, res: ServerResponse, fault: Fault | undefined): void {
    if (fault?.kind === "change") {
      bytes = bytes.map((b) => b ^ 0xff);
      version++;
    }
    if (fault?.kind === "resize") {
      const next = new Uint8Array(fault.size);
      next.set(bytes.subarray(0, Math.min(bytes.length, fault.size)));
      bytes = next;
    }
    if (fault?.kind === "status") {
      if (fault.retryAfter !== undefined) res.setHeader("Retry-After", fault.retryAfter);
      res.writeHead(fault.status).end();
      return;
    }
    if (req.method === "HEAD") {
      if (opts.noHead) {
        res.writeHead(405).end();
        return;
      }
      validators(res);
      res.writeHead(200, { "Content-Length": bytes.length, "Accept-Ranges": "bytes" }).end();
      return;
    }
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
    const ifMatch = req.headers["if-match"];
    if (ifMatch !== undefined && ifMatch !== etagOf()) {
      res.writeHead(412).end();
      return;
    }
    const ifRange = req.headers["if-range"];
    const rangeValid =
      ifRange === undefined || ifRange === etagOf() || ifRange === lastModifiedOf();
    validators(res);
    if (!range || !rangeValid || fault?.kind === "full200") {
      res.writeHead(200, { "Content-Length": bytes.length });
      res.end(bytes);
      return;
    }
    const start = Number(range[1]);
    const end = Math.min(Number(range[2]), bytes.length - 1);
    if (start >= bytes.length) {
      res.writeHead(416, { "Content-Range": `bytes */${bytes.length}` }).end();
      return;
    }
    let body = bytes.subarray(start, end + 1);
    const cr =
      fault?.kind === "wrongRange"
        ? `bytes ${start + 1}-${end + 1}/${bytes.length}`
        : `bytes ${start}-${end}/${bytes.length}`;
    if (fault?.kind === "short" || fault?.kind === "long") {
      body =
        fault.kind === "short"
          ? body.subarray(0, body.length - 1)
          : Buffer.concat([body, Buffer.from([0x41])]);
      res.writeHead(206, { "Content-Range": cr, "Transfer-Encoding": "chunked" });
      res.end(body);
      return;
    }
    res.writeHead(206, { "Content-Range": cr, "Content-Length": body.length });
    if (fault?.kind === "drop") {
      res.write(body.subarray(0, Math.min(fault.after, body.length - 1)), () => {
        res.socket?.destroy();
      });
      return;
    }
    res.end(body);
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/file.dmg`,
    origin,
    seen,
    bytes: () => bytes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
