// The bot's Prometheus metrics (text exposition format 0.0.4). Labels stay
// low-cardinality: event names, outcomes and status classes, never logins,
// repositories or pull-request numbers.
type Labels = Record<string, string>

const escape = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
const labelText = (labels: Labels) => {
  const entries = Object.entries(labels)
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}`
}

interface Family {
  name: string
  help: string
  type: 'counter' | 'gauge'
  samples: Map<string, { labels: Labels; value: number }>
}

export class BotMetrics {
  private readonly families = new Map<string, Family>()

  constructor() {
    this.define('gatehouse_bot_webhooks_total', 'Webhook requests by result (accepted, duplicate, unauthorized, too_large, malformed, ignored).', 'counter')
    this.define('gatehouse_bot_deliveries_total', 'Deliveries processed by event and outcome (done, retry, failed).', 'counter')
    this.define('gatehouse_bot_queue_depth', 'Deliveries waiting or running.', 'gauge')
    this.define('gatehouse_bot_github_requests_total', 'GitHub API responses by status class.', 'counter')
    this.define('gatehouse_bot_github_retries_total', 'GitHub API requests retried, by reason (rate_limit, server_error).', 'counter')
    this.define('gatehouse_bot_commands_total', 'Approval commands by outcome (counted, refused).', 'counter')
  }

  private define(name: string, help: string, type: Family['type']): void {
    this.families.set(name, { name, help, type, samples: new Map() })
  }

  inc(name: string, labels: Labels = {}, by = 1): void {
    const family = this.families.get(name)
    if (!family) throw new Error(`unknown metric ${name}`)
    const key = labelText(labels)
    const sample = family.samples.get(key)
    if (sample) sample.value += by
    else family.samples.set(key, { labels, value: by })
  }

  set(name: string, value: number, labels: Labels = {}): void {
    const family = this.families.get(name)
    if (!family) throw new Error(`unknown metric ${name}`)
    family.samples.set(labelText(labels), { labels, value })
  }

  /** The value of one sample, for tests and health checks. */
  value(name: string, labels: Labels = {}): number {
    return this.families.get(name)?.samples.get(labelText(labels))?.value ?? 0
  }

  render(): string {
    const lines: string[] = []
    for (const family of this.families.values()) {
      lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`)
      for (const { labels, value } of family.samples.values()) lines.push(`${family.name}${labelText(labels)} ${value}`)
    }
    return lines.join('\n') + '\n'
  }
}
