// Prometheus text exposition (version 0.0.4) for the long-running processes,
// written by hand: a few counters and gauges need no library. Labels stay
// low-cardinality (never identities, logins or statement text).
export type Labels = Record<string, string>

const escape = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
const labelText = (labels: Labels) => {
  const entries = Object.entries(labels)
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}`
}

interface Family {
  name: string
  help: string
  type: 'counter' | 'gauge'
  values: Map<string, { labels: Labels; value: number }>
  collect?: () => Array<{ labels: Labels; value: number }>
}

export interface Counter {
  inc(labels?: Labels, by?: number): void
}

export interface Gauge {
  set(value: number, labels?: Labels): void
}

export class Metrics {
  private readonly families: Family[] = []

  counter(name: string, help: string): Counter {
    const family = this.add(name, help, 'counter')
    return {
      inc(labels = {}, by = 1) {
        const key = labelText(labels)
        const entry = family.values.get(key)
        if (entry) entry.value += by
        else family.values.set(key, { labels, value: by })
      },
    }
  }

  gauge(name: string, help: string, collect?: () => Array<{ labels: Labels; value: number }>): Gauge {
    const family = this.add(name, help, 'gauge')
    if (collect) family.collect = collect
    return {
      set(value, labels = {}) {
        family.values.set(labelText(labels), { labels, value })
      },
    }
  }

  /** The value of one sample, for tests and health checks. */
  value(name: string, labels: Labels = {}): number {
    const family = this.families.find((f) => f.name === name)
    if (!family) return 0
    const key = labelText(labels)
    const sample = family.collect ? family.collect().find((s) => labelText(s.labels) === key) : family.values.get(key)
    return sample?.value ?? 0
  }

  render(): string {
    const lines: string[] = []
    for (const family of this.families) {
      lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`)
      const samples = family.collect ? family.collect() : [...family.values.values()]
      for (const { labels, value } of samples) lines.push(`${family.name}${labelText(labels)} ${Number.isFinite(value) ? value : 0}`)
    }
    return lines.join('\n') + '\n'
  }

  private add(name: string, help: string, type: Family['type']): Family {
    const family: Family = { name, help, type, values: new Map() }
    this.families.push(family)
    return family
  }
}
