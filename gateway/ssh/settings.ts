// The SSH front's limits, from the `ssh` mapping of the gateway's config file:
//
//   ssh:
//     loginTimeoutMs: 20000        # accept to authenticated: banner, key exchange, login
//     idleTimeoutMs: 1800000       # no byte either way on an open session; 0 turns it off
//     channelBufferBytes: 1048576  # output waiting for a slow client, per channel
//     stallTimeoutMs: 60000        # how long a channel may stay over that before it is closed
//     maskHoldMs: 100              # how long output that may be the start of a value waits for the rest

export interface SshSettings {
  /**
   * From the accept to a successful login. It starts before the client's
   * banner, so a connection that never sends one, or sends it a byte at a
   * time, is closed (OpenSSH's LoginGraceTime).
   */
  loginTimeoutMs: number
  /** An open session with no traffic either way this long is closed; 0: never. */
  idleTimeoutMs: number
  /** Output the gateway holds for a client that is not reading, per channel, before it stops reading upstream. */
  channelBufferBytes: number
  /** A channel whose client drains nothing of what is held this long is closed. */
  stallTimeoutMs: number
  /**
   * Output that may be the start of a value to mask (half a card number) is
   * held this long for the rest, then released as it is: a value whose halves
   * arrive further apart is masked in neither.
   */
  maskHoldMs: number
}

export const SSH_DEFAULTS: SshSettings = {
  loginTimeoutMs: 20_000,
  idleTimeoutMs: 30 * 60_000,
  channelBufferBytes: 1024 * 1024,
  stallTimeoutMs: 60_000,
  maskHoldMs: 100,
}

const RANGES: Record<keyof SshSettings, [number, number]> = {
  loginTimeoutMs: [100, 600_000],
  idleTimeoutMs: [0, 7 * 24 * 3_600_000],
  channelBufferBytes: [64 * 1024, 64 * 1024 * 1024],
  stallTimeoutMs: [100, 3_600_000],
  maskHoldMs: [10, 60_000],
}

/** The `ssh` mapping checked, with the defaults for what it leaves out; `problem` gets the message of an error. */
export function parseSshSettings(value: unknown, problem: (message: string) => Error): SshSettings {
  if (value === undefined || value === null) return { ...SSH_DEFAULTS }
  if (typeof value !== 'object' || Array.isArray(value)) throw problem('`ssh` must be a mapping')
  const settings = { ...SSH_DEFAULTS }
  for (const [key, raw] of Object.entries(value)) {
    const range = RANGES[key as keyof SshSettings]
    if (!range) throw problem(`unknown key \`ssh.${key}\``)
    const n = typeof raw === 'number' ? raw : Number.NaN
    if (!Number.isInteger(n) || n < range[0] || n > range[1]) throw problem(`\`ssh.${key}\` must be an integer from ${range[0]} to ${range[1]}`)
    settings[key as keyof SshSettings] = n
  }
  return settings
}
