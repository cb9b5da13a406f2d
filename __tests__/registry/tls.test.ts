import { afterAll, beforeAll, describe, expect, it } from '@jest/globals'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import * as path from 'node:path'
import { parseReference } from '../../src/oci/reference.js'
import { pushImage } from '../../src/registry/index.js'
import { RegistrySource } from '../../src/registry/source.js'
import { makeImage, requestFor } from '../helpers/push-image.js'
import { fast, useRegistries } from '../helpers/registries.js'
import { describeWithTools } from '../helpers/tools.js'

describeWithTools(['docker-registry', 'skopeo', 'htpasswd', 'openssl'], 'TLS failures', () => {
  const registries = useRegistries()
  let tlsServer: https.Server | undefined
  let tlsHost = ''
  // An HTTPS server with a self-signed certificate, as a private registry often has.
  beforeAll(async () => {
    const key = path.join(registries.tmp, 'key.pem')
    const cert = path.join(registries.tmp, 'cert.pem')
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes'
      ].concat(['-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1']),
      { stdio: 'ignore' }
    )
    tlsServer = https.createServer(
      { key: fs.readFileSync(key), cert: fs.readFileSync(cert) },
      (_req, res) => res.end('{}')
    )
    await new Promise<void>(resolve => tlsServer!.listen(0, '127.0.0.1', () => resolve()))
    tlsHost = `127.0.0.1:${(tlsServer.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    if (!tlsServer) return
    tlsServer.closeAllConnections()
    await new Promise(resolve => tlsServer!.close(resolve))
  })
  describe('redirects', () => {
    it('fails at once, with a hint, when a TLS handshake cannot succeed', async () => {
      const img = await makeImage(path.join(registries.tmp, 'tls'))
      await pushImage(requestFor(img, [parseReference(`${registries.plain.host}/tls/a:1`)]), {})
      const src = await RegistrySource.open(parseReference(`${registries.proxy.host}/tls/a:1`), {
        retry: fast
      })
      const manifest = JSON.parse((await src.read(src.root)).toString())
      const cases: [string, string][] = [
        [`https://${registries.plain.host}`, 'TLS handshake'], // plain HTTP spoken to with TLS
        [`https://${tlsHost}`, 'is not trusted'] // a self-signed certificate
      ]
      for (const [to, said] of cases) {
        registries.proxy.rules.splice(0, registries.proxy.rules.length, {
          method: 'GET',
          path: /\/blobs\/sha256:/,
          times: 1000,
          action: { redirectTo: to }
        })
        const n = registries.proxy.requests.length
        const err = await src.read(manifest.config).catch(e => e)
        registries.proxy.rules.length = 0
        expect(err.message).toContain(said)
        expect(err.message).toContain(to.replace('https://', ''))
        expect(registries.proxy.requests.slice(n).filter(r => r.fault === 'redirect')).toHaveLength(
          1
        )
      }
    })
  })
})
