// The keyboard-interactive prompts that take a workload identity token in
// parts, and the answer to each: both ends of one small contract, the
// gateway asking (token-login.ts) and `gatehouse token --askpass` answering.
// OpenSSH's client reads a password or a prompt's answer into 1024 bytes
// (readpass.c), and an RS256 token from GitHub is longer than that.

export const TOKEN_PARTS = 4
/** The characters of the token each prompt takes. */
const PART_CHARS = 1000

export function partPrompt(part: number): string {
  return `Gatehouse token, part ${part} of ${TOKEN_PARTS}: `
}

/** The part a prompt asks for; the whole token for any other prompt (a password). */
export function partFor(token: string, prompt: string): string {
  const match = /part (\d+) of (\d+)/.exec(prompt)
  if (!match || Number(match[2]) !== TOKEN_PARTS) return token
  const part = Number(match[1])
  return token.slice((part - 1) * PART_CHARS, part * PART_CHARS)
}
