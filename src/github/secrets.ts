import * as core from '@actions/core'

/**
 * Masking is a GitHub Actions log command (`::add-mask::VALUE`), which prints the value itself:
 * right in a workflow log, a leak anywhere else. Only the action turns it on; the CLI never prints
 * secrets at all.
 */
let enabled = false

export function enableSecretMasking(): void {
  enabled = true
}

const masked = new Set<string>()

/** Asks GitHub Actions to hide a value in logs; once per value, as each call prints a command. */
export function maskValue(value: string | undefined): void {
  if (!enabled || !value || masked.has(value)) return
  masked.add(value)
  core.setSecret(value)
}
