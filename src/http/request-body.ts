import type { Context, MiddlewareHandler } from 'hono'
import type { z } from 'zod'
import { findUnsafeText, TooDeepError } from '../events/safe-text.js'
import { HttpProblem, fieldsOf } from './problem.js'

/** The largest body the API reads (the /api body limit); larger ones are answered 413. */
export const MAX_BODY_BYTES = 64 * 1024

function bodyTooLarge(maxBytes: number): HttpProblem {
  return new HttpProblem(413, `the body exceeds ${maxBytes} bytes`)
}

/**
 * The body's bytes, at most `maxBytes` (413 beyond: at once when its Content-Length says so, else as soon as
 * that many were read). Read only when a handler asks for it, that is after the route's authentication and
 * capability checks: a client without access is refused whatever it sends, and none of it is read.
 */
export async function readBodyBytes(c: Context, maxBytes: number = MAX_BODY_BYTES): Promise<Uint8Array<ArrayBuffer>> {
  const declared = c.req.header('content-length')
  if (declared !== undefined && c.req.header('transfer-encoding') === undefined && Number(declared) > maxBytes) throw bodyTooLarge(maxBytes)
  const stream = c.req.raw.body
  if (!stream) return new Uint8Array(new ArrayBuffer(0))
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>
    try {
      chunk = await reader.read()
    } catch (error) {
      if (error instanceof HttpProblem) throw error
      throw truncatedBodyProblem()
    }
    if (chunk.done) break
    size += chunk.value.length
    if (size > maxBytes) {
      void reader.cancel().catch(() => {})
      throw bodyTooLarge(maxBytes)
    }
    chunks.push(chunk.value)
  }
  return Buffer.concat(chunks)
}

/**
 * No body at all is `{}` where every field is optional (a resume's `{reason?}`, an approval's `{comment?}`): a
 * client that has nothing to say need not send an empty object. Where a field is required, it is malformed.
 * The OpenAPI document marks such bodies optional by the same rule.
 */
export function takesNoBody(schema: z.ZodType): boolean {
  return schema.safeParse({}).success
}

/**
 * Reads and validates a JSON body. A body that is not JSON, not an object, or whose fields have the
 * wrong JSON types is malformed (400); well-typed values that break a rule are invalid (422). Both name
 * the offending fields. No body is `{}` where the schema takes `{}`.
 */
export async function readJsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  // Lenient on purpose: a client that sends JSON without a content type (fetch's default is text/plain)
  // is understood; only media types that are clearly something else are refused. The API authenticates
  // with bearer tokens, not cookies, so a cross-site "simple" request gains nothing from this.
  const contentType = c.req.header('content-type') ?? ''
  if (/^(application\/x-www-form-urlencoded|multipart\/|application\/xml|text\/xml)/i.test(contentType)) {
    throw new HttpProblem(415, 'the body must be JSON (content-type: application/json)')
  }
  const text = await readBodyText(c)
  if (text.trim() === '' && takesNoBody(schema)) return schema.parse({}) as z.infer<S>
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw new HttpProblem(400, 'the body is not valid JSON', { errors: [{ field: '(body)', message: 'not valid JSON' }] })
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new HttpProblem(400, 'the body must be a JSON object', { errors: [{ field: '(body)', message: 'expected an object' }] })
  }
  let unsafe: string[]
  try {
    unsafe = findUnsafeText(raw)
  } catch (error) {
    if (!(error instanceof TooDeepError)) throw error
    throw new HttpProblem(400, `the body is ${error.message}`, { errors: [{ field: '(body)', message: error.message }] })
  }
  if (unsafe.length > 0) {
    const errors = unsafe.map((field) => ({ field, message: 'contains a NUL character or a lone surrogate' }))
    throw new HttpProblem(422, `text that cannot be stored: ${unsafe.join(', ')}`, { errors })
  }
  const parsed = schema.safeParse(raw, { reportInput: true })
  if (parsed.success) return parsed.data
  // A number where an integer is expected is the right JSON type with a wrong value (422), not malformed.
  const wrongType = parsed.error.issues.some(
    (issue) => issue.code === 'invalid_type' && issue.input !== undefined && issue.expected !== 'int',
  )
  const fields = fieldsOf(parsed.error)
  const detail = fields.map((f) => `${f.field}: ${f.message}`).join('; ')
  throw new HttpProblem(wrongType ? 400 : 422, detail, { errors: fields })
}

/** The answer to a body the client stopped sending (closed the connection mid-body): its error, a 400. */
export function truncatedBodyProblem(): HttpProblem {
  return new HttpProblem(400, 'the body was cut short: the client closed the connection before sending all of it', {
    errors: [{ field: '(body)', message: 'incomplete body' }],
  })
}

/** The body as UTF-8 text, as `Request.text()` decodes it; bounded and cut-short bodies as readBodyBytes. */
async function readBodyText(c: Context): Promise<string> {
  return new TextDecoder().decode(await readBodyBytes(c))
}

/**
 * Middleware (first in the app): a request body whose stream fails — the client closed the connection
 * before sending all of it — fails with `truncatedBodyProblem()` (400) whoever reads it (`readBodyBytes`,
 * the console's form reading), instead of the socket's "aborted" error,
 * which the error handlers would log as an unhandled error and answer 500.
 */
export const clientErrorOnTruncatedBody: MiddlewareHandler = async (c, next) => {
  // GET and HEAD carry no body (and asking the Node adapter's request for one builds a whole Request). The
  // app registers this for the other methods only; this check keeps it right wherever it is used.
  if (c.req.method === 'GET' || c.req.method === 'HEAD') return next()
  const source = c.req.raw.body
  if (source) {
    const reader = source.getReader()
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        let chunk: ReadableStreamReadResult<Uint8Array>
        try {
          chunk = await reader.read()
        } catch {
          controller.error(truncatedBodyProblem())
          return
        }
        if (chunk.done) controller.close()
        else controller.enqueue(chunk.value)
      },
      cancel: (reason) => reader.cancel(reason),
    })
    c.req.raw = new Request(c.req.raw, { body, duplex: 'half' } as RequestInit)
  }
  await next()
}

/** Validates query parameters; any failure is a 400 naming the parameter. */
export function readQuery<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  const query = c.req.query()
  const unsafe = findUnsafeText(query)
  if (unsafe.length > 0) {
    const errors = unsafe.map((field) => ({ field, message: 'contains a NUL character or a lone surrogate' }))
    throw new HttpProblem(400, `unusable query parameter: ${unsafe.join(', ')}`, { errors })
  }
  const parsed = schema.safeParse(query)
  if (parsed.success) return parsed.data
  const fields = fieldsOf(parsed.error)
  throw new HttpProblem(400, fields.map((f) => `${f.field}: ${f.message}`).join('; '), { errors: fields })
}
