// The signing keys of OIDC issuers: the discovery document
// (`/.well-known/openid-configuration`, OpenID Connect Discovery 1.0 §4)
// names the JWKS URL; both are fetched over HTTPS and the key set is cached.
// It is fetched again when it is older than `maxAgeMs`, or when a token names
// a key id it does not hold (the issuer rotated), but at most once per
// `cooldownMs` per issuer, so a stream of tokens with made-up key ids cannot
// make the gateway hammer the issuer. When the issuer cannot be reached the
// last good key set stays in use. Only issuers that a binding in the bundle
// names are ever fetched: the caller checks, so a token cannot point the
// gateway at an address of its choosing.
import type { JSONWebKeySet } from 'jose'
import type { Logger } from '../../runtime/log.js'
import { getHttpsJson, type HttpsJsonOptions } from './https-json.js'

export interface IssuerKeysOptions extends HttpsJsonOptions {
  maxAgeMs?: number
  cooldownMs?: number
  now?: () => number
  log?: Logger
}

export type KeysResult = { ok: true; jwks: JSONWebKeySet } | { ok: false; reason: string }

interface Entry {
  jwks?: JSONWebKeySet
  fetchedAt: number
  attemptedAt: number
  inflight?: Promise<void> | undefined
}

const MAX_KEYS = 100

export class IssuerKeys {
  private readonly entries = new Map<string, Entry>()
  private readonly maxAgeMs: number
  private readonly cooldownMs: number
  private readonly now: () => number

  constructor(private readonly options: IssuerKeysOptions = {}) {
    this.maxAgeMs = options.maxAgeMs ?? 10 * 60_000
    this.cooldownMs = options.cooldownMs ?? 30_000
    this.now = options.now ?? Date.now
  }

  /** The issuer's key set, fetched or refreshed first when it is missing, stale, or lacks `kid`. */
  async keysFor(issuer: string, kid: string | undefined): Promise<KeysResult> {
    let entry = this.entries.get(issuer)
    if (!entry) this.entries.set(issuer, (entry = { fetchedAt: 0, attemptedAt: -Infinity }))
    const now = this.now()
    const unknownKid = kid !== undefined && !entry.jwks?.keys.some((k) => k.kid === kid)
    const wanted = !entry.jwks || now - entry.fetchedAt > this.maxAgeMs || unknownKid
    if (wanted && (entry.inflight || now - entry.attemptedAt >= this.cooldownMs)) {
      entry.inflight ??= this.refresh(issuer, entry).finally(() => (entry.inflight = undefined))
      await entry.inflight
    }
    return entry.jwks ? { ok: true, jwks: entry.jwks } : { ok: false, reason: 'the issuer cannot be reached and none of its keys are cached' }
  }

  private async refresh(issuer: string, entry: Entry): Promise<void> {
    entry.attemptedAt = this.now()
    try {
      entry.jwks = await this.fetchKeys(issuer)
      entry.fetchedAt = this.now()
    } catch (err) {
      this.options.log?.warn(entry.jwks ? 'could not refresh an issuer\'s keys; keeping the last good ones' : 'could not fetch an issuer\'s keys', { issuer, error: err as Error })
    }
  }

  private async fetchKeys(issuer: string): Promise<JSONWebKeySet> {
    const discovery = (await getHttpsJson(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, this.options)) as { issuer?: unknown; jwks_uri?: unknown } | null
    // Discovery §4.3: the document's issuer must be exactly the one asked for.
    if (discovery?.issuer !== issuer) throw new Error('the discovery document names another issuer')
    if (typeof discovery.jwks_uri !== 'string' || !discovery.jwks_uri.startsWith('https://')) throw new Error('the discovery document has no https jwks_uri')
    const jwks = (await getHttpsJson(discovery.jwks_uri, this.options)) as { keys?: unknown } | null
    if (!Array.isArray(jwks?.keys) || jwks.keys.length > MAX_KEYS || !jwks.keys.every((k) => k && typeof k === 'object' && !Array.isArray(k))) {
      throw new Error('the key set is not a JWKS')
    }
    // Only public keys: a symmetric key in a published key set would let anyone who read it sign.
    return { keys: (jwks.keys as JSONWebKeySet['keys']).filter((k) => k.kty === 'RSA' || k.kty === 'EC' || k.kty === 'OKP') }
  }
}
