// Identities bound to the local issuer's tokens, added to a test repository:
// a GitHub Actions deploy job of acme/orders on main, and a Kubernetes
// service account.
import { writeFileSync } from 'node:fs'
import path from 'node:path'

export function writeWorkloadIdentities(repo: string, issuer: string, roles: { deploy: string[]; batch: string[] }): void {
  writeFileSync(
    path.join(repo, 'identities', 'workloads.yaml'),
    `apiVersion: gatehouse.dev/v1
kind: Identity
name: orders-deploy
owner: "@acme/app"
roles: [${roles.deploy.join(', ')}]
credentials:
  # no secret anywhere: the job's own token from GitHub
  oidc:
    - issuer: ${issuer}
      audience: gatehouse
      claims: {sub: "repo:acme/orders:environment:production", repository: acme/orders, ref: refs/heads/main}
---
apiVersion: gatehouse.dev/v1
kind: Identity
name: batch-job
owner: "@acme/data"
roles: [${roles.batch.join(', ')}]
credentials:
  oidc:
    - issuer: ${issuer}
      audience: gatehouse
      claims: {sub: "system:serviceaccount:batch:nightly"}
`,
  )
}
