import { describe, expect, it } from '@jest/globals'
import { generateKeyPairSync } from 'node:crypto'
import { libtrustKeyId } from './token-server.js'

describe('hosts', () => {
  it('computes libtrust key ids in 12 groups of 4 base32 characters', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
    const id = libtrustKeyId(publicKey.export({ type: 'spki', format: 'der' }))
    expect(id).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/)
  })
})
