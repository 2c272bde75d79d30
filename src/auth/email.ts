/**
 * The one spelling of an email address the service stores and compares: trimmed and lower-cased, so that
 * `Ops@Example.com ` and `ops@example.com` are the same operator and share one login rate-limit budget.
 */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase()
}

/** The shape every email address the service takes has: something, one `@`, something, no blanks. */
export const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+$/

export function hasEmailShape(text: string): boolean {
  return EMAIL_SHAPE.test(text)
}
