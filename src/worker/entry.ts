/**
 * The entry point of a validation Web Worker (see browser.ts): one request, one reply. Load it
 * as a module worker: `new Worker(new URL("dmg-validate/worker", import.meta.url), { type:
 * "module" })`, or let `validateInWorker` do it.
 */
import { validateDmg } from "../image/validate.js";
import type { SourceLike } from "../sources/source.js";
import { serveRequest, type WorkerRequest } from "./protocol.js";

interface WorkerScope {
  onmessage: ((event: { data: WorkerRequest }) => void) | null;
  postMessage(message: unknown): void;
}

const scope = globalThis as unknown as WorkerScope;
scope.onmessage = (event) => {
  const request = event.data;
  if (request?.kind !== "dmg-validate") return;
  void serveRequest(
    request,
    (source, options) => validateDmg(source as SourceLike, options),
    (progress) => scope.postMessage(progress),
  ).then((reply) => scope.postMessage(reply));
};
