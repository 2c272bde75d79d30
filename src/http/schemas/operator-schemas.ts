import { z } from 'zod'
import type { OperatorRecord } from '../../auth/operator-store.js'
import type { SameKeys } from './read-side-shape.js'

/** SPEC §10: operators as administration sees them (never a hash or a token), and the requests. */

export const operatorSchema = z
  .object({
    id: z.string(),
    email: z.string(),
    name: z.string(),
    capabilities: z.array(z.string()),
    isBreakGlass: z.boolean(),
    disabled: z.boolean(),
    createdAt: z.iso.datetime(),
    lastLoginAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'Operator' })

export const operatorListSchema = z.object({ items: z.array(operatorSchema) }).meta({ id: 'OperatorList' })

export const operatorIdParamsSchema = z.object({ id: z.string().max(64).meta({ description: 'An operator id.' }) })

const password = z.string().max(1024).meta({ description: '12 to 200 characters, not the email address.' })

export const createOperatorBodySchema = z
  .strictObject({
    email: z.string().max(320),
    name: z.string().max(400),
    password,
    capabilities: z.array(z.string().max(200)).max(100),
    isBreakGlass: z.boolean().optional(),
  })
  .meta({ id: 'CreateOperatorBody' })

export const updateOperatorBodySchema = z
  .strictObject({
    name: z.string().max(400).optional(),
    capabilities: z.array(z.string().max(200)).max(100).optional(),
    isBreakGlass: z.boolean().optional(),
    disabled: z.boolean().optional(),
  })
  .meta({ id: 'UpdateOperatorBody', description: 'Any of the fields; what is left out stays.' })

export const setPasswordBodySchema = z.strictObject({ password }).meta({ id: 'SetPasswordBody' })

export const changeOwnPasswordBodySchema = z
  .strictObject({ currentPassword: z.string().max(1024), password })
  .meta({ id: 'ChangeOwnPasswordBody' })

true satisfies SameKeys<z.output<typeof operatorSchema>, OperatorRecord>
