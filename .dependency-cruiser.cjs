/**
 * The layers of src/ (ARCHITECTURE.md): each folder imports only from folders below it.
 *   util ← oci ← codec ← transports ← build | validate ← registry ← app ← action | cli
 * build and validate are siblings: neither imports the other (the validator's checks reach the
 * builder through the interfaces of oci/scan.ts, handed over by the app).
 */
const below = {
  util: [],
  oci: ['util'],
  codec: ['util', 'oci'],
  transports: ['util', 'oci', 'codec'],
  build: ['util', 'oci', 'codec'],
  validate: ['util', 'oci', 'codec', 'transports'],
  registry: ['util', 'oci', 'codec', 'transports', 'build', 'validate'],
  app: ['util', 'oci', 'codec', 'transports', 'build', 'validate', 'registry'],
  action: ['util', 'oci', 'codec', 'transports', 'build', 'validate', 'registry', 'app'],
  cli: ['util', 'oci', 'codec', 'transports', 'build', 'validate', 'registry', 'app']
}
const layerRules = Object.entries(below).map(([layer, allowed]) => ({
  name: `layer-${layer}`,
  comment: `src/${layer} may import only from ${allowed.length ? allowed.join(', ') : 'nothing else in src'}`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: {
    path: '^src/',
    pathNot: [`^src/${layer}/`, ...allowed.map(a => `^src/${a}/`)]
  }
}))

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'modules must not depend on each other in a circle',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true }
    },
    {
      name: 'no-loose-modules',
      comment: 'every module of src/ lives in one of the layer folders',
      severity: 'error',
      from: { path: '^src/[^/]+\\.ts$' },
      to: {}
    },
    ...layerRules,
    {
      name: 'not-to-tests',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^__tests__/' }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
    moduleSystems: ['es6']
  }
}
