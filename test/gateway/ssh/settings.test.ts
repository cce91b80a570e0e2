// The `ssh` mapping of the gateway's config file: defaults, ranges, unknown keys.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parseSshSettings, SSH_DEFAULTS } from '../../../gateway/ssh/settings.js'

const problem = (message: string) => new Error(message)

test('absent: the defaults; given: merged over them', () => {
  assert.deepEqual(parseSshSettings(undefined, problem), SSH_DEFAULTS)
  assert.deepEqual(parseSshSettings({ idleTimeoutMs: 0, loginTimeoutMs: 5000 }, problem), { ...SSH_DEFAULTS, idleTimeoutMs: 0, loginTimeoutMs: 5000 })
})

test('unknown keys, non-integers and values out of range are refused with the key named', () => {
  assert.throws(() => parseSshSettings({ loginTimeout: 5 }, problem), /unknown key `ssh.loginTimeout`/)
  assert.throws(() => parseSshSettings({ loginTimeoutMs: '5000' }, problem), /`ssh.loginTimeoutMs` must be an integer/)
  assert.throws(() => parseSshSettings({ loginTimeoutMs: 0 }, problem), /`ssh.loginTimeoutMs` must be an integer from 100/)
  assert.throws(() => parseSshSettings({ channelBufferBytes: 1.5e9 }, problem), /`ssh.channelBufferBytes`/)
  assert.throws(() => parseSshSettings([1], problem), /`ssh` must be a mapping/)
})
