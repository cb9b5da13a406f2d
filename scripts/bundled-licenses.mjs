// Appends to dist/licenses.txt the licences of what the bundle ships that is no npm package, so
// that ncc --license cannot list it: libdeflate, compiled into dist/libdeflate.wasm (and
// dist/cli/libdeflate.wasm) by scripts/build-libdeflate-wasm.sh, which commits its COPYING as
// src/codec/wasm/LICENSE, and the parts of wasi-libc linked in with it (LICENSE.wasi-libc). Run by `npm run package` right after ncc has written licenses.txt, in
// ncc's own format (name, licence id, text; a blank line between entries). Deterministic, and
// idempotent: an entry already there is not added again.
import * as fs from 'node:fs'
import * as path from 'node:path'

const root = path.resolve(import.meta.dirname, '..')
const file = path.join(root, 'dist', 'licenses.txt')
const BUNDLED = [
  { name: 'libdeflate', id: 'MIT', text: 'src/codec/wasm/LICENSE' },
  // The parts of wasi-libc linked into the module: dlmalloc (CC0-1.0) and musl's memcpy, memset
  // and strlen (MIT); the text is the package's whole copyright file.
  { name: 'wasi-libc', id: 'CC0-1.0 AND MIT', text: 'src/codec/wasm/LICENSE.wasi-libc' }
]

let licenses = fs.readFileSync(file, 'utf8')
for (const { name, id, text } of BUNDLED) {
  const body = fs.readFileSync(path.join(root, text), 'utf8').replace(/\n*$/, '\n')
  const entry = `\n${name}\n${id}\n${body}`
  if (licenses.includes(entry)) continue
  licenses = licenses.replace(/\n*$/, '\n') + entry
}
fs.writeFileSync(file, licenses)
