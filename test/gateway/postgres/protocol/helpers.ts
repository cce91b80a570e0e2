// Shared by the protocol tests: the captured fixtures, a seeded PRNG, and the
// ways of cutting a byte stream that a socket might deliver.
import { readFileSync } from 'node:fs'

export interface Fixture {
  frontend: Buffer
  backend: Buffer
}

/** A conversation recorded by capture-fixtures.ts against a real server. */
export function loadFixture(name: string): Fixture {
  const json = JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8')) as { frontend: string; backend: string }
  return { frontend: Buffer.from(json.frontend, 'hex'), backend: Buffer.from(json.backend, 'hex') }
}

/** mulberry32: small, fast, and the same sequence on every run for a seed. */
export function createRng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const randomInt = (rng: () => number, max: number): number => Math.floor(rng() * max)

export function randomBytes(rng: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) b[i] = randomInt(rng, 256)
  return b
}

/** Every way of cutting `buf` in two (pg-protocol's test style). */
export function* splitsInTwo(buf: Buffer): Generator<Buffer[]> {
  for (let i = 0; i <= buf.length; i++) yield [buf.subarray(0, i), buf.subarray(i)]
}

/** Random chunk sizes, biased to small ones so headers get cut often. */
export function randomChunks(buf: Buffer, rng: () => number, maxChunk = 64): Buffer[] {
  const out: Buffer[] = []
  let i = 0
  while (i < buf.length) {
    const n = 1 + randomInt(rng, rng() < 0.5 ? 7 : maxChunk)
    out.push(buf.subarray(i, i + n))
    i += n
  }
  return out
}

/** One byte at a time: the worst delivery. */
export const bytewise = (buf: Buffer): Buffer[] => Array.from(buf, (_, i) => buf.subarray(i, i + 1))

/** Copies each chunk, so a test fails if a reader keeps views of a caller buffer that is later reused. */
export const copies = (chunks: Buffer[]): Buffer[] => chunks.map((c) => Buffer.from(c))
