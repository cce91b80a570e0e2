// Forwarding targets in one canonical spelling, so that a rule cannot be
// dodged by writing the same address differently: host names are lowercased
// without a trailing dot; IPv4 in any form inet_aton(3) accepts (`127.1`,
// `0x7f.0.0.1`, `2130706433`, which getaddrinfo(3) resolves as numbers) is
// written as a dotted quad; IPv6 is written per RFC 5952 §4 (lowercase,
// shortest, `::` for the longest zero run) in brackets, and an IPv4-mapped
// IPv6 address (`::ffff:127.0.0.1`, RFC 4291 §2.5.5.2) as its IPv4 address.
//
// What stays out of reach of a lexical check: names that resolve to the same
// address (`localhost`, DNS), and the unspecified addresses (`0.0.0.0`, `::`)
// that connect locally on Linux. Allow lists fail closed on those; deny lists
// of addresses do not, so write forwarding rules as allow lists.

/** Labels of letters, digits, `-` and `_`, none starting with `-` (RFC 1123 §2.1; `_` for service names). */
const HOST_NAME = /^[a-z0-9_][a-z0-9_-]*(\.[a-z0-9_][a-z0-9_-]*)*$/

/** The canonical host, or undefined when it is not a valid host name or address. */
export function normalizeHost(host: string): string | undefined {
  if (host.length === 0 || host.length > 255) return undefined
  if (host.startsWith('[') || host.includes(':')) {
    const inner = host.startsWith('[') ? (host.endsWith(']') ? host.slice(1, -1) : undefined) : host
    if (inner === undefined) return undefined
    const groups = parseIPv6(inner)
    return groups ? formatIPv6(groups) : undefined
  }
  let name = host.toLowerCase()
  if (name.endsWith('.')) name = name.slice(0, -1)
  if (!HOST_NAME.test(name) || name.length > 253) return undefined
  return parseIPv4(name) ?? name
}

/** `host:port`, with an IPv6 host in brackets. */
export function formatTarget(host: string, port: number): string {
  return `${host}:${port}`
}

/** The canonical address a remote forward listens on: an empty bind address (every address) is `0.0.0.0`. */
export function listenHost(host: string): string | undefined {
  return normalizeHost(host === '' ? '0.0.0.0' : host)
}

/** Splits a canonical or client-written `host:port`; undefined when malformed. */
export function parseTarget(target: string, lowestPort = 1): { host: string; port: number } | undefined {
  const colon = target.lastIndexOf(':')
  if (colon <= 0) return undefined
  const portText = target.slice(colon + 1)
  if (!/^[0-9]{1,5}$/.test(portText)) return undefined
  const port = Number(portText)
  if (port < lowestPort || port > 65535) return undefined
  const host = normalizeHost(target.slice(0, colon))
  return host === undefined ? undefined : { host, port }
}

/** inet_aton(3): one to four parts, each decimal, octal (`0…`) or hex (`0x…`); the last fills the remaining bytes. */
function parseIPv4(text: string): string | undefined {
  const parts = text.split('.')
  if (parts.length > 4) return undefined
  const values: number[] = []
  for (const part of parts) {
    let value: number
    if (/^0x[0-9a-f]*$/.test(part)) value = part.length === 2 ? 0 : parseInt(part.slice(2), 16)
    else if (/^0[0-7]*$/.test(part)) value = parseInt(part, 8)
    else if (/^[1-9][0-9]*$/.test(part)) value = parseInt(part, 10)
    else return undefined
    if (part.length > 12) return undefined
    values.push(value)
  }
  const last = values.pop()!
  if (values.some((v) => v > 255)) return undefined
  if (last >= 2 ** (8 * (4 - values.length))) return undefined
  const bytes = [...values]
  for (let k = 3 - values.length; k >= 0; k--) bytes.push(Math.floor(last / 2 ** (8 * k)) % 256)
  return bytes.join('.')
}

/** Eight 16-bit groups, or undefined. Zone ids (`%eth0`) are not accepted. */
function parseIPv6(text: string): number[] | undefined {
  if (text.length === 0 || text.length > 45) return undefined
  let tail = text
  const extra: number[] = []
  const lastColon = text.lastIndexOf(':')
  if (lastColon >= 0 && text.slice(lastColon + 1).includes('.')) {
    // A trailing dotted quad stands for the last two groups (RFC 4291 §2.2).
    const quad = text.slice(lastColon + 1)
    if (!/^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/.test(quad)) return undefined
    const b = quad.split('.').map(Number)
    extra.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!)
    tail = text.slice(0, lastColon + 1)
    if (!tail.endsWith('::')) tail = tail.slice(0, -1)
  }
  const halves = tail.split('::')
  if (halves.length > 2) return undefined
  const parse = (s: string): number[] | undefined => {
    if (s === '') return []
    const out: number[] = []
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
      out.push(parseInt(g, 16))
    }
    return out
  }
  const head = parse(halves[0]!)
  if (!head) return undefined
  if (halves.length === 1) {
    const groups = [...head, ...extra]
    return groups.length === 8 ? groups : undefined
  }
  const rest = parse(halves[1]!)
  if (!rest) return undefined
  const known = head.length + rest.length + extra.length
  if (known > 7) return undefined
  return [...head, ...new Array<number>(8 - known).fill(0), ...rest, ...extra]
}

function formatIPv6(groups: number[]): string {
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [a, b] = [groups[6]!, groups[7]!]
    return `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`
  }
  // RFC 5952 §4.2: the longest run of two or more zero groups becomes `::` (the first on a tie).
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  const text = bestStart < 0
    ? hex.join(':')
    : `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`
  return `[${text}]`
}
