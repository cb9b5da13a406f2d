/**
 * The largest manifest, index or config Lading reads. Distribution and skopeo refuse manifests
 * and configs above the same 4 MiB, so no image a registry serves needs more; a bigger document
 * is refused rather than read, so a hostile one cannot fill memory or be skipped by the checks.
 */
export const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
