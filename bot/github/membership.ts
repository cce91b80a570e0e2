// Who a principal is: `@org/team` is the team's active members; `@login`
// is that user while they are an active member of `organisation` (when one
// is given: someone who left the organisation is no longer its approver,
// whatever the policy files still say). Both are asked of GitHub every time
// it matters (a membership can be revoked between two comments). Answers are
// cached for one delivery only. An API failure other than "not a member"
// throws: it never means yes.
import type { GitHub } from './client.js'

export class Membership {
  private readonly answers = new Map<string, Promise<boolean>>()

  constructor(
    private readonly github: GitHub,
    private readonly organisation?: string,
  ) {}

  async matches(login: string, principal: string): Promise<boolean> {
    const name = principal.replace(/^@/, '')
    const slash = name.indexOf('/')
    if (slash < 0) return name.toLowerCase() === login.toLowerCase() && (this.organisation === undefined || (await this.activeInOrg(this.organisation, login)))
    return this.inTeam(name.slice(0, slash), name.slice(slash + 1), login)
  }

  /** One question to GitHub per delivery: the answer (or its failure) is kept under `key`. */
  private ask(key: string, question: () => Promise<boolean>): Promise<boolean> {
    let answer = this.answers.get(key.toLowerCase())
    if (!answer) {
      answer = question()
      this.answers.set(key.toLowerCase(), answer)
    }
    return answer
  }

  /** GitHub's "organization membership for a user": `active`, not `pending` (invited) and not gone (404). */
  activeInOrg(org: string, login: string): Promise<boolean> {
    return this.ask(`active:${org}/${login}`, () =>
      this.github
        .request('GET /orgs/{org}/memberships/{username}', { org, username: login })
        .then(({ data }) => data.state === 'active', (err: { status?: number }) => (err.status === 404 ? false : Promise.reject(err))),
    )
  }

  /** The principals of `principals` that `login` is, or is a member of. */
  async matching(login: string, principals: readonly string[]): Promise<string[]> {
    const matched: string[] = []
    for (const p of principals) if (await this.matches(login, p)) matched.push(p)
    return matched
  }

  inTeam(org: string, team: string, login: string): Promise<boolean> {
    return this.ask(`team:${org}/${team}/${login}`, () =>
      this.github
        .request('GET /orgs/{org}/teams/{team_slug}/memberships/{username}', { org, team_slug: team, username: login })
        .then(({ data }) => data.state === 'active', (err: { status?: number }) => (err.status === 404 ? false : Promise.reject(err))),
    )
  }

  inOrg(org: string, login: string): Promise<boolean> {
    return this.ask(`member:${org}/${login}`, () =>
      this.github
        .request('GET /orgs/{org}/members/{username}', { org, username: login })
        .then(({ status }) => (status as number) === 204, (err: { status?: number }) => (err.status === 404 || err.status === 302 ? false : Promise.reject(err))),
    )
  }

  async teamExists(org: string, team: string): Promise<boolean> {
    try {
      await this.github.request('GET /orgs/{org}/teams/{team_slug}', { org, team_slug: team })
      return true
    } catch (err) {
      if ((err as { status?: number }).status === 404) return false
      throw err
    }
  }
}
