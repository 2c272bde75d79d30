import { z } from 'zod'

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
