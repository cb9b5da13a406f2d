/** The catalogue of validation rules: one id, one severity and one spec section each. */

import type { Finding, Severity } from '../oci/finding.js'
import { MAX_JSON_DEPTH } from '../oci/json.js'

export type { Finding, Severity } from '../oci/finding.js'

export interface Rule {
  id: string
  severity: Severity
  summary: string
  spec: string
}

const V = 'https://github.com/opencontainers/image-spec/blob/v1.1.1/'
/** Rules the spec's main branch tightened after v1.1.1; reported as warnings against v1.1.1. */
const MAIN = 'https://github.com/opencontainers/image-spec/blob/main/'

const DESC = `${V}descriptor.md#properties`
const DIGESTS = `${V}descriptor.md#digests`
const REGISTERED = `${V}descriptor.md#registered-algorithms`
const MANIFEST = `${V}manifest.md#image-manifest-property-descriptions`
const INDEX = `${V}image-index.md#image-index-property-descriptions`
const CONFIG = `${V}config.md#properties`
const ANNOTATIONS = `${V}annotations.md#rules`
const PREDEFINED = `${V}annotations.md#pre-defined-annotation-keys`
const LAYER = `${V}layer.md#distributable-format`
const WHITEOUTS = `${V}layer.md#whiteouts`
const LAYOUT = `${V}image-layout.md`
const DIST = 'https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md'

const list: Rule[] = [
  // image layout
  {
    id: 'layout-oci-layout',
    severity: 'error',
    summary: '`oci-layout` exists and is a JSON object with a string `imageLayoutVersion`',
    spec: `${LAYOUT}#oci-layout-file`
  },
  {
    id: 'layout-version',
    severity: 'error',
    summary: '`imageLayoutVersion` is `1.0.0`',
    spec: `${LAYOUT}#oci-layout-file`
  },
  {
    id: 'layout-index-json',
    severity: 'error',
    summary: '`index.json` exists and is an image index',
    spec: `${LAYOUT}#indexjson-file`
  },
  {
    id: 'layout-blobs-dir',
    severity: 'error',
    summary: 'the `blobs` directory exists',
    spec: `${LAYOUT}#content`
  },
  {
    id: 'layout-blob-name',
    severity: 'error',
    summary:
      'every `blobs/ALG/ENCODED` name matches the digest grammar (and the registered encoding of sha256/sha512)',
    spec: `${LAYOUT}#blobs`
  },
  // JSON
  {
    id: 'json-invalid',
    severity: 'error',
    summary: 'a JSON document parses',
    spec: `${V}considerations.md#json`
  },
  {
    id: 'json-not-object',
    severity: 'error',
    summary: 'a manifest, index, config or descriptor is a JSON object',
    spec: DESC
  },
  {
    id: 'json-duplicate-key',
    severity: 'warning',
    summary: 'no object has the same name twice (I-JSON; required by the spec main branch)',
    spec: `${MAIN}considerations.md#json`
  },
  {
    id: 'json-not-utf8',
    severity: 'warning',
    summary: 'JSON is UTF-8 (I-JSON; required by the spec main branch)',
    spec: `${MAIN}considerations.md#json`
  },
  {
    id: 'json-number-precision',
    severity: 'warning',
    summary: 'numbers fit IEEE 754 double precision exactly (I-JSON)',
    spec: `${MAIN}considerations.md#json`
  },
  {
    id: 'json-integer',
    severity: 'error',
    summary:
      '`schemaVersion` and `size` are written as integers, without fraction or exponent (Go rejects `2.0`)',
    spec: DESC
  },
  {
    id: 'json-too-large',
    severity: 'error',
    summary:
      'a manifest, index or config is at most 4 MiB, as registries require (a larger one is not read, so it cannot be checked)',
    spec: `${V}considerations.md#json`
  },
  {
    id: 'json-too-deep',
    severity: 'error',
    summary: `a manifest, index or config nests arrays and objects at most ${MAX_JSON_DEPTH} levels deep (a deeper one is not read, so it cannot be checked)`,
    spec: `${V}considerations.md#json`
  },
  // descriptors
  {
    id: 'descriptor-mediatype',
    severity: 'error',
    summary: '`mediaType` is present and complies with RFC 6838 section 4.2',
    spec: DESC
  },
  {
    id: 'descriptor-digest',
    severity: 'error',
    summary: '`digest` is present and matches the digest grammar',
    spec: DIGESTS
  },
  {
    id: 'descriptor-digest-encoding',
    severity: 'error',
    summary: 'sha256/sha512 digests are 64/128 lower-case hex characters',
    spec: REGISTERED
  },
  {
    id: 'descriptor-digest-unregistered',
    severity: 'warning',
    summary: 'a digest algorithm that is not registered cannot be verified',
    spec: REGISTERED
  },
  {
    id: 'descriptor-size',
    severity: 'error',
    summary: '`size` is present and an integer',
    spec: DESC
  },
  {
    id: 'descriptor-size-negative',
    severity: 'warning',
    summary: '`size` is not negative (v1.1.1 allows any int64; the main branch forbids negatives)',
    spec: `${MAIN}descriptor.md#properties`
  },
  {
    id: 'descriptor-urls',
    severity: 'error',
    summary: '`urls` is an array of RFC 3986 URIs',
    spec: DESC
  },
  {
    id: 'descriptor-urls-scheme',
    severity: 'warning',
    summary: '`urls` entries use http or https',
    spec: DESC
  },
  {
    id: 'descriptor-data',
    severity: 'error',
    summary: '`data` is padded standard base64 (RFC 4648 section 4)',
    spec: DESC
  },
  {
    id: 'descriptor-data-mismatch',
    severity: 'error',
    summary: "decoded `data` has the descriptor's size and digest",
    spec: `${V}descriptor.md#embedded-content`
  },
  {
    id: 'descriptor-artifacttype',
    severity: 'error',
    summary: '`artifactType` complies with RFC 6838',
    spec: DESC
  },
  {
    id: 'descriptor-empty',
    severity: 'error',
    summary:
      'an empty descriptor (`application/vnd.oci.empty.v1+json`) has size 2 and the digest of `{}`',
    spec: `${V}manifest.md#guidance-for-an-empty-descriptor`
  },
  {
    id: 'descriptor-mediatype-mismatch',
    severity: 'error',
    summary:
      'the `mediaType` of a manifest or index equals the `mediaType` of the descriptor that references it',
    spec: `${V}media-types.md#compatibility-matrix`
  },
  // annotations
  {
    id: 'annotations-type',
    severity: 'error',
    summary: 'annotations (and config Labels) are a map of string to string',
    spec: ANNOTATIONS
  },
  {
    id: 'annotation-created',
    severity: 'error',
    summary: '`org.opencontainers.image.created` is an RFC 3339 date-time',
    spec: PREDEFINED
  },
  {
    id: 'annotation-base-digest',
    severity: 'error',
    summary: '`org.opencontainers.image.base.digest` is a digest',
    spec: PREDEFINED
  },
  {
    id: 'annotation-ref-name',
    severity: 'error',
    summary: '`org.opencontainers.image.ref.name` matches the ref grammar',
    spec: PREDEFINED
  },
  {
    id: 'annotation-reserved-key',
    severity: 'warning',
    summary:
      'keys in the reserved `org.opencontainers.` namespace are ones the spec defines (annotations.md and conversion.md)',
    spec: ANNOTATIONS
  },
  {
    id: 'annotation-key-empty',
    severity: 'warning',
    summary: 'no annotation key is the empty string',
    spec: ANNOTATIONS
  },
  // manifests and indexes
  {
    id: 'manifest-schema-version',
    severity: 'error',
    summary: 'a manifest has `schemaVersion` 2',
    spec: MANIFEST
  },
  {
    id: 'manifest-mediatype',
    severity: 'error',
    summary: "a manifest's `mediaType`, when present, is the OCI manifest media type",
    spec: MANIFEST
  },
  {
    id: 'manifest-config',
    severity: 'error',
    summary: 'a manifest has a `config` descriptor',
    spec: MANIFEST
  },
  {
    id: 'manifest-layers',
    severity: 'error',
    summary: 'a manifest has a `layers` array of descriptors',
    spec: MANIFEST
  },
  {
    id: 'manifest-layers-empty',
    severity: 'error',
    summary: '`layers` has at least one entry (minItems 1 in the v1.1.1 schema)',
    spec: MANIFEST
  },
  {
    id: 'manifest-artifacttype',
    severity: 'error',
    summary: 'a manifest or index `artifactType` complies with RFC 6838',
    spec: MANIFEST
  },
  {
    id: 'manifest-artifacttype-missing',
    severity: 'error',
    summary: '`artifactType` is set when `config.mediaType` is the empty media type',
    spec: MANIFEST
  },
  {
    id: 'manifest-layer-mediatype',
    severity: 'warning',
    summary: 'an image (OCI config) has layers of the layer media types',
    spec: MANIFEST
  },
  {
    id: 'manifest-subject',
    severity: 'error',
    summary: '`subject` is a descriptor',
    spec: MANIFEST
  },
  {
    id: 'subject-mediatype',
    severity: 'error',
    summary: '`subject` is the descriptor of a manifest or an index (its media type says so)',
    spec: MANIFEST
  },
  // referrers lists: the referrers API's answer and the fallback tag's index
  {
    id: 'referrers-index',
    severity: 'error',
    summary:
      'a referrers list (the API answer or the `<alg>-<ref>` fallback tag) is an image index whose entries are manifests or indexes',
    spec: `${DIST}#referrers-tag-schema`
  },
  {
    id: 'referrers-subject',
    severity: 'error',
    summary: 'every manifest a referrers list names has the listed digest as its `subject`',
    spec: `${DIST}#listing-referrers`
  },
  {
    id: 'referrers-artifacttype',
    severity: 'error',
    summary:
      "a referrers list entry's `artifactType` is the manifest's `artifactType`, else its `config.mediaType`",
    spec: `${DIST}#listing-referrers`
  },
  {
    id: 'referrers-annotations',
    severity: 'error',
    summary: 'a referrers list entry carries the annotations of the manifest it names',
    spec: `${DIST}#listing-referrers`
  },
  {
    id: 'mediatype-docker',
    severity: 'warning',
    summary: 'a Docker schema 2 media type where OCI has its own',
    spec: `${V}media-types.md#compatibility-matrix`
  },
  {
    id: 'index-schema-version',
    severity: 'error',
    summary: 'an index has `schemaVersion` 2',
    spec: INDEX
  },
  {
    id: 'index-mediatype',
    severity: 'error',
    summary: "an index's `mediaType`, when present, is the OCI index media type",
    spec: INDEX
  },
  {
    id: 'index-manifests',
    severity: 'error',
    summary: 'an index has a `manifests` array of descriptors',
    spec: INDEX
  },
  {
    id: 'index-cycle',
    severity: 'error',
    summary: 'nested indexes do not loop',
    spec: INDEX
  },
  {
    id: 'index-depth',
    severity: 'error',
    summary:
      'indexes nest at most 16 levels deep (what is deeper is not walked, so it cannot be checked)',
    spec: INDEX
  },
  {
    id: 'platform-required',
    severity: 'error',
    summary: '`platform` is an object with string `architecture` and `os`',
    spec: INDEX
  },
  {
    id: 'platform-type',
    severity: 'error',
    summary:
      '`platform` optional fields have their types (`os.version`, `variant` strings, `os.features` string array)',
    spec: INDEX
  },
  {
    id: 'platform-features-reserved',
    severity: 'warning',
    summary: '`platform.features` is reserved',
    spec: INDEX
  },
  {
    id: 'platform-mismatch',
    severity: 'error',
    summary:
      'the platform of an index entry equals the os, architecture and variant of the config it leads to',
    spec: INDEX
  },
  // configs
  {
    id: 'config-required',
    severity: 'error',
    summary: '`architecture`, `os` (strings) and `rootfs` (object) are present',
    spec: CONFIG
  },
  {
    id: 'config-field-type',
    severity: 'error',
    summary: 'config fields have the types the spec gives them',
    spec: CONFIG
  },
  {
    id: 'config-rootfs-type',
    severity: 'error',
    summary: '`rootfs.type` is `layers`',
    spec: CONFIG
  },
  {
    id: 'config-diff-ids',
    severity: 'error',
    summary: '`rootfs.diff_ids` is an array of digests, one per layer',
    spec: CONFIG
  },
  {
    id: 'config-diff-id-mismatch',
    severity: 'error',
    summary: 'each diff_id is the digest of the uncompressed layer (in its own algorithm)',
    spec: `${V}config.md#layer-diffid`
  },
  {
    id: 'config-created',
    severity: 'error',
    summary: '`created` (and `history[].created`) are RFC 3339 date-times of real calendar days',
    spec: CONFIG
  },
  {
    id: 'config-env',
    severity: 'error',
    summary: '`config.Env` entries are `KEY=VALUE`',
    spec: CONFIG
  },
  {
    id: 'config-history-layers',
    severity: 'warning',
    summary: 'history entries without `empty_layer: true` are as many as the layers',
    spec: CONFIG
  },
  // layers
  {
    id: 'layer-compression-mismatch',
    severity: 'error',
    summary: "a layer's bytes are compressed as its media type says",
    spec: `${V}layer.md#gzip-media-types`
  },
  {
    id: 'layer-decompress',
    severity: 'error',
    summary: 'a compressed layer decompresses',
    spec: `${V}layer.md#gzip-media-types`
  },
  {
    id: 'layer-compression-trailing',
    severity: 'error',
    summary:
      'nothing follows the last gzip member or zstd frame of a layer (Go readers fail with "gzip: invalid header")',
    spec: `${V}layer.md#gzip-media-types`
  },
  { id: 'layer-tar', severity: 'error', summary: 'a layer is a readable tar archive', spec: LAYER },
  {
    id: 'layer-tar-unterminated',
    severity: 'warning',
    summary:
      'a layer tar ends with its blocks padded and two zero blocks (Go readers accept it without; GNU tar does not)',
    spec: LAYER
  },
  {
    id: 'layer-tar-trailing',
    severity: 'warning',
    summary:
      'only zero bytes follow the end-of-archive marker of a layer tar (readers stop there; entries after it are ignored)',
    spec: LAYER
  },
  {
    id: 'layer-path-too-long',
    severity: 'error',
    summary:
      'entry paths and link targets are at most 4096 bytes (Linux PATH_MAX): no runtime can extract a longer one',
    spec: `${V}layer.md#file-types`
  },
  {
    id: 'layer-name-too-long',
    severity: 'error',
    summary:
      'each name in an entry path is at most 255 bytes (Linux NAME_MAX): no runtime can extract a longer one',
    spec: `${V}layer.md#file-types`
  },
  {
    id: 'layer-path-unchecked',
    severity: 'error',
    summary:
      "a layer's paths resolve through its symlinks within a few steps per byte of its headers (a crafted chain of long symlinks is not resolved, so its paths cannot be checked)",
    spec: `${V}layer.md#file-types`
  },
  {
    id: 'layer-duplicate-path',
    severity: 'error',
    summary: 'no path appears twice in a layer',
    spec: LAYER
  },
  {
    id: 'layer-path-escapes',
    severity: 'error',
    summary:
      'no entry path leaves the root through `..` or through a symlink of the same layer that resolves outside it',
    spec: `${V}layer.md#file-types`
  },
  {
    id: 'layer-link-escapes',
    severity: 'error',
    summary:
      'hardlink targets do not climb out of the root with `..` or through a symlink of the same layer that resolves outside it',
    spec: `${V}layer.md#hardlinks`
  },
  {
    id: 'layer-hardlink',
    severity: 'error',
    summary: 'no hardlink points at a directory',
    spec: `${V}layer.md#hardlinks`
  },
  {
    id: 'layer-hardlink-target',
    severity: 'warning',
    summary:
      'a hardlink target is a relative path to an earlier entry of the same layer (absolute ones are resolved under the root)',
    spec: `${V}layer.md#hardlinks`
  },
  {
    id: 'layer-whiteout',
    severity: 'error',
    summary:
      'whiteouts are empty regular files naming a path other than `.`/`..`, not also present in the same layer',
    spec: WHITEOUTS
  },
  {
    id: 'layer-whiteout-meta',
    severity: 'warning',
    summary: 'no aufs metadata entries `.wh..wh.*` other than the opaque marker `.wh..wh..opq`',
    spec: WHITEOUTS
  },
  {
    id: 'layer-whiteout-bare',
    severity: 'warning',
    summary: 'no whiteout `.wh.` without a name (invalid on the spec main branch)',
    spec: `${MAIN}layer.md#whiteouts`
  },
  // sources
  {
    id: 'source-unreadable',
    severity: 'error',
    summary: 'a source image could be opened and read',
    spec: LAYOUT
  },
  // blobs
  {
    id: 'blob-missing',
    severity: 'warning',
    summary:
      'a referenced blob is absent from the layout (the spec lets an external store provide it)',
    spec: `${LAYOUT}#blobs`
  },
  {
    id: 'blob-missing-required',
    severity: 'error',
    summary: 'a referenced blob Lading must push is absent from the layout',
    spec: `${LAYOUT}#blobs`
  },
  {
    id: 'blob-not-downloaded',
    severity: 'info',
    summary: 'a blob deliberately not downloaded (it stays in its registry) was not checked',
    spec: `${LAYOUT}#blobs`
  },
  {
    id: 'blob-unreadable',
    severity: 'error',
    summary: 'a referenced blob can be read',
    spec: `${LAYOUT}#blobs`
  },
  {
    id: 'blob-digest-mismatch',
    severity: 'error',
    summary: "a blob's content has its descriptor's digest",
    spec: `${V}descriptor.md#verification`
  },
  {
    id: 'blob-size-mismatch',
    severity: 'error',
    summary: "a blob's content has its descriptor's size",
    spec: DESC
  }
]

export const rules: Rule[] = list

const byId = new Map(list.map(r => [r.id, r]))

/** A finding of rule `id`; an unknown id is a programming error, caught by the catalogue test. */
export function finding(id: string, location: string, message: string): Finding {
  const r = byId.get(id)
  if (!r) throw new Error(`unknown validation rule ${id}`)
  return { rule: id, severity: r.severity, message, location, spec: r.spec }
}
