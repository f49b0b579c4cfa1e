/** Sparse images and sparse bundles: the two banded containers, for the registry. */
export { SPARSE_BUNDLE } from "./sparse-bundle.js";
export { SPARSE_IMAGE } from "./sparse-image.js";
