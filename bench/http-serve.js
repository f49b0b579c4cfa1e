/**
 * `node bench/http-serve.js FILE`: serve FILE at /file.dmg on 127.0.0.1 (a free port, printed
 * as the first line of standard output) with HEAD, single Range requests and a strong ETag,
 * as a static file server or object store does. It runs in a process of its own so that the
 * measured process does not share its CPU. It counts what it serves: GET /stats answers
 * `{"requests":N,"bytes":N}` (and is not counted), POST /reset sets both to 0.
 */
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";

const path = process.argv[2];
const size = statSync(path).size;
const etag = `"${size.toString(16)}"`;
let requests = 0;
let bytes = 0;

const server = createServer((req, res) => {
  if (req.url === "/stats") {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ requests, bytes }));
    return;
  }
  if (req.url === "/reset") {
    requests = bytes = 0;
    res.writeHead(204).end();
    return;
  }
  requests++;
  if (req.url !== "/file.dmg") {
    res.writeHead(404).end();
    return;
  }
  const headers = { ETag: etag, "Accept-Ranges": "bytes" };
  if (req.method === "HEAD") {
    res.writeHead(200, { ...headers, "Content-Length": size }).end();
    return;
  }
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
  let start = 0;
  let end = size - 1;
  if (m) {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (start > end) {
      res.writeHead(416, { "Content-Range": `bytes */${size}` }).end();
      return;
    }
    res.writeHead(206, {
      ...headers,
      "Content-Range": `bytes ${start}-${end}/${size}`,
      "Content-Length": end - start + 1,
    });
  } else {
    res.writeHead(200, { ...headers, "Content-Length": size });
  }
  bytes += end - start + 1;
  createReadStream(path, { start, end, highWaterMark: 1024 * 1024 }).pipe(res);
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${server.address().port}\n`);
});
process.on("SIGTERM", () => process.exit(0));
