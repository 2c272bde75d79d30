import { z } from 'zod'

// Not strict, unlike the other bodies: a login answers only with a token or a refusal and applies nothing a
// stray field could have been meant to change (clients post whole credential records, a form its extras).
export const credentialsSchema = z
  .object({
    email: z.string().min(1, 'is required').max(320),
    password: z.string().min(1, 'is required').max(1024),
  })
  .meta({ id: 'Credentials' })

export const tokenSchema = z
  .object({
    token: z.string().meta({ description: 'Send as `Authorization: Bearer <token>`.' }),
    tokenType: z.literal('Bearer'),
    expiresIn: z.number().int().positive().meta({ description: 'Lifetime in seconds.' }),
  })
  .meta({ id: 'Token' })
