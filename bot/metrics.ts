// The bot's metrics. Labels stay low-cardinality: event names, outcomes and
// status classes, never logins, repositories or pull-request numbers.
import { Metrics } from '../runtime/metrics.js'

export function createBotMetrics() {
  const registry = new Metrics()
  return {
    registry,
    webhooks: registry.counter('gatehouse_bot_webhooks_total', 'Webhook requests by result (accepted, duplicate, unauthorized, too_large, malformed, ignored).'),
    deliveries: registry.counter('gatehouse_bot_deliveries_total', 'Deliveries processed by event and outcome (done, retry, failed).'),
    queueDepth: registry.gauge('gatehouse_bot_queue_depth', 'Deliveries waiting or running.'),
    githubRequests: registry.counter('gatehouse_bot_github_requests_total', 'GitHub API responses by status class.'),
    githubRetries: registry.counter('gatehouse_bot_github_retries_total', 'GitHub API requests retried, by reason (rate_limit, server_error).'),
    commands: registry.counter('gatehouse_bot_commands_total', 'Approval commands by outcome (counted, refused).'),
  }
}

export type BotMetrics = ReturnType<typeof createBotMetrics>
