// Runs queued deliveries with bounded concurrency: `concurrency` slots, each
// claiming one delivery at a time from the store. A delivery that throws is
// tried again later with exponential back-off (and never before a rate
// limit GitHub named has reset), up to `maxAttempts`; a PermanentError is not
// retried. Handlers are written to be run again safely.
import type { BotContext } from './context.js'
import { PermanentError } from './context.js'
import { rateLimitWait } from './github/client.js'
import { claimDelivery, failDelivery, finishDelivery, renewLease, type Delivery } from './queue.js'

export type Handler = (ctx: BotContext, payload: Record<string, unknown>) => Promise<void>

export interface Worker {
  /** Wakes idle slots (a delivery was just queued). */
  nudge(): void
  /** Resolves when no delivery is ready and none is running. */
  settled(): Promise<void>
  stop(): Promise<void>
}

export interface WorkerOptions {
  retryBaseSeconds?: number
  /** Called once when a delivery fails for good, to tell the people waiting on it. */
  onFailed?: (ctx: BotContext, delivery: Delivery, error: unknown) => Promise<void>
}

export function startWorker(ctx: BotContext, route: (delivery: Delivery) => Handler | undefined, options: WorkerOptions = {}): Worker {
  const { concurrency, pollMs, maxAttempts, leaseSeconds } = ctx.config.worker
  const retryBase = options.retryBaseSeconds ?? 5
  let stopping = false
  let busy = 0
  /** Sleeping slots, each woken by its timer or by a nudge, whichever comes first. */
  const sleepers = new Set<() => void>()
  const idleWaiters: Array<() => void> = []

  const sleep = () =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer)
        sleepers.delete(wake)
        resolve()
      }
      const timer = setTimeout(wake, pollMs)
      sleepers.add(wake)
    })

  /** Renews the delivery's lease a few times per lease period until stopped. */
  function holdLease(delivery: Delivery): () => void {
    let released = false
    const timer = setInterval(() => {
      renewLease(ctx.db, delivery.id, delivery.attempts, leaseSeconds).then(
        (held) => held || released || ctx.log.warn('delivery lease lost to another worker', { delivery: delivery.id }),
        (err: unknown) => ctx.log.warn('cannot renew a delivery lease', { delivery: delivery.id, error: err as Error }),
      )
    }, (leaseSeconds * 1000) / 3)
    return () => {
      released = true
      clearInterval(timer)
    }
  }

  async function run(delivery: Delivery): Promise<void> {
    const handler = route(delivery)
    const release = holdLease(delivery)
    try {
      if (handler) await handler(ctx, delivery.payload as Record<string, unknown>)
      await finishDelivery(ctx.db, delivery.id)
      ctx.metrics.deliveries.inc({ event: delivery.event, outcome: 'done' })
    } catch (err) {
      const final = err instanceof PermanentError || delivery.attempts >= maxAttempts
      const status = (err as { status?: number }).status
      ctx.log.warn(final ? 'delivery failed' : 'delivery will be retried', { delivery: delivery.id, event: delivery.event, attempt: delivery.attempts, status, error: err as Error })
      // A rate limit longer than the client would wait in place: try again after GitHub's reset, not before.
      const delaySeconds = Math.max(Math.min(3600, retryBase * 2 ** (delivery.attempts - 1)), rateLimitWait(err as Parameters<typeof rateLimitWait>[0]) ?? 0)
      await failDelivery(ctx.db, delivery.id, (err as Error).message ?? String(err), { final, delaySeconds })
      ctx.metrics.deliveries.inc({ event: delivery.event, outcome: final ? 'failed' : 'retry' })
      if (final && options.onFailed) {
        await options.onFailed(ctx, delivery, err).catch((replyError: unknown) => ctx.log.error('cannot report a failed delivery', { delivery: delivery.id, error: replyError as Error }))
      }
    } finally {
      release()
    }
  }

  async function slot(): Promise<void> {
    while (!stopping) {
      let delivery: Delivery | undefined
      // `busy` covers the claim too, so no slot reports idle while another is taking work.
      busy++
      try {
        delivery = await claimDelivery(ctx.db, leaseSeconds)
        if (delivery) await run(delivery)
      } catch (err) {
        ctx.log.error('cannot read the deliveries queue', { error: err as Error })
      } finally {
        busy--
      }
      if (!delivery) {
        if (busy === 0) for (const resolve of idleWaiters.splice(0)) resolve()
        await sleep()
      }
    }
  }

  const slots = Array.from({ length: concurrency }, () => slot())
  return {
    nudge() {
      for (const wake of [...sleepers]) wake()
    },
    settled() {
      return new Promise((resolve) => {
        idleWaiters.push(resolve)
        this.nudge()
      })
    },
    async stop() {
      stopping = true
      this.nudge()
      await Promise.all(slots)
    },
  }
}
