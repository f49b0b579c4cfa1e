/**
 * What the page takes from the library: the browser entry point, the report builders the CLI
 * uses too, and the format's sector size. One import site, so the bundle is easy to audit.
 */

export { humanBytes } from "../src/core/text.js";
export { SECTOR_SIZE } from "../src/format/types.js";
export * from "../src/index.js";
export { outcomeJson } from "../src/report/json.js";
export { sarifLog } from "../src/report/sarif.js";
