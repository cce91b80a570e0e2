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

  /**
   * Whether an identity's owner is still there, for the stale sweep. Only an
   * explicit answer counts: 204 is a member, 404 for a user is "not a
   * member". Everything else is unknown, never "left": GitHub answers 302
   * when the asking token is outside the organisation, a team can answer 404
   * when it was renamed or is hidden from the token, and errors say nothing.
   * Redirects are not followed, so a 302 is seen as such.
   */
  async ownerStatus(owner: string, organisation: string): Promise<OwnerStatus> {
    const name = owner.replace(/^@/, '')
    const slash = name.indexOf('/')
    try {
      if (slash >= 0) {
        await this.github.request('GET /orgs/{org}/teams/{team_slug}', { org: name.slice(0, slash), team_slug: name.slice(slash + 1) })
        return { state: 'present' }
      }
      const { status } = await this.github.request('GET /orgs/{org}/members/{username}', { org: organisation, username: name, request: { redirect: 'manual' } })
      return (status as number) === 204 ? { state: 'present' } : { state: 'unknown', why: `GitHub answered ${status} when asked whether \`${owner}\` is a member of ${organisation}` }
    } catch (err) {
      const status = (err as { status?: number }).status
      if (status === 404 && slash < 0) return { state: 'left' }
      return { state: 'unknown', why: `GitHub answered ${status ?? 'nothing'} when asked about \`${owner}\`` }
    }
  }
}

export type OwnerStatus = { state: 'present' } | { state: 'left' } | { state: 'unknown'; why: string }
