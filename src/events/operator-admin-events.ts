import { z } from 'zod'

/**
 * SPEC §10 operator administration: one stream per operator. Never a password, a hash or a token: the
 * credential lives in the operators table only; the events say who changed what, and when.
 */
const operatorId = z.string().min(1)
const at = z.iso.datetime({ offset: true })

export const operatorCreatedV1 = z
  .object({
    operatorId,
    email: z.string().min(1),
    name: z.string().min(1),
    capabilities: z.array(z.string().min(1)),
    isBreakGlass: z.boolean(),
    createdAt: at,
  })
  .strict()

export const operatorUpdatedV1 = z
  .object({
    operatorId,
    changes: z.object({ name: z.string().min(1).optional(), isBreakGlass: z.boolean().optional() }).strict(),
    at,
  })
  .strict()

export const operatorCapabilitiesChangedV1 = z
  .object({ operatorId, capabilities: z.array(z.string().min(1)), previous: z.array(z.string().min(1)), at })
  .strict()

export const operatorDisabledV1 = z.object({ operatorId, at }).strict()
export const operatorEnabledV1 = z.object({ operatorId, at }).strict()

/** `self`: the operator changed their own (knowing the current one); `admin`: set by an administrator. */
export const operatorPasswordChangedV1 = z.object({ operatorId, by: z.enum(['self', 'admin']), at }).strict()

/**
 * On the deployment's capabilities stream: capabilities this deployment knows from now on (a runbook added
 * by a release), and the bootstrap administrator they were granted to, if any (SPEC §10: the bootstrap
 * admin holds every capability).
 */
export const capabilitiesIntroducedV1 = z
  .object({ capabilities: z.array(z.string().min(1)).min(1), grantedTo: operatorId.nullable(), at })
  .strict()
