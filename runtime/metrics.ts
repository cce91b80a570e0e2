// Prometheus text exposition (version 0.0.4) for the long-running processes,
// written by hand: a few counters and gauges need no library. Labels stay
// low-cardinality (never identities, logins or statement text).
export type Labels = Record<string, string>

const NEEDS_ESCAPE = /[\\\n"]/
const escape = (value: string) => (NEEDS_ESCAPE.test(value) ? value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : value)
/** Also each sample's key: counters are bumped per statement, so this stays cheap. */
const labelText = (labels: Labels) => {
  let out = ''
  for (const key in labels) out += `${out ? ',' : '{'}${key}="${escape(labels[key]!)}"`
  return out && `${out}}`
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
  /** The sample of these labels, to bump where labels never change (per row, say) without building its key each time. */
  with(labels: Labels): { inc(by?: number): void }
}

export interface Gauge {
  set(value: number, labels?: Labels): void
}

export class Metrics {
  private readonly families: Family[] = []

  counter(name: string, help: string): Counter {
    const family = this.add(name, help, 'counter')
    const sample = (labels: Labels) => {
      const key = labelText(labels)
      let entry = family.values.get(key)
      if (!entry) family.values.set(key, (entry = { labels, value: 0 }))
      return entry
    }
    return {
      inc(labels = {}, by = 1) {
        sample(labels).value += by
      },
      with(labels) {
        const entry = sample(labels)
        return { inc: (by = 1) => void (entry.value += by) }
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
