import { createServer, Socket, type Server } from 'node:net'

/**
 * A TCP proxy in front of PostgreSQL, for tests that play the server's side of a fault: connections closed
 * as a crashing backend closes them, or new ones answered as a server that is shutting down answers them.
 */
export interface PostgresProxy {
  /** The target URL, with the proxy's address. */
  url: string
  /** Closes every proxied connection from the server's side. */
  dropConnections(): void
  /**
   * Stops passing anything on the connections open now, both ways, and leaves them open: a connection cut
   * without a FIN (a partition, a host gone). New connections are passed on as before.
   */
  freezeConnections(): void
  /**
   * While set, each new connection gets `answer` for its startup message, then is closed; with 'reset', it is
   * reset (TCP RST) instead, as the socket of a server going down can be.
   */
  refuseWith(answer: Buffer | 'reset' | null): void
  /**
   * The next connection whose client sends `text` (in one chunk) is closed from the server's side right after
   * that chunk is passed on: the statement is then lost in flight. `then` runs as it is dropped.
   */
  dropWhenClientSends(text: string, then?: () => void): void
  /** While set, new connections are accepted and then left unanswered: a server that never answers a startup. */
  freezeNew(frozen: boolean): void
  /** Resolves once `count` more startups have been refused. */
  refused(count: number): Promise<void>
  /** Resolves once `count` more connections have been accepted. */
  accepted(count: number): Promise<void>
  /** Resolves once no connection the proxy accepted is open on the client's side. */
  allClosed(): Promise<void>
  close(): Promise<void>
}

export async function startPostgresProxy(targetUrl: string): Promise<PostgresProxy> {
  const target = new URL(targetUrl)
  const pairs = new Set<{ client: Socket; server: Socket }>()
  const waiters = new Set<() => void>()
  let refusal: Buffer | 'reset' | null = null
  let refusals = 0
  let dropOn: { text: string; then: () => void } | null = null
  let freezingNew = false
  let acceptedSoFar = 0
  const openClients = new Set<Socket>()
  const changed = () => {
    for (const waiter of waiters) waiter()
  }
  /** Resolves once `holds` is true, looked at after each change. */
  const until = (holds: () => boolean) =>
    new Promise<void>((resolve) => {
      const waiter = () => {
        if (!holds()) return
        waiters.delete(waiter)
        resolve()
      }
      waiters.add(waiter)
      waiter()
    })
  const proxy: Server = createServer((client) => {
    client.on('error', () => {})
    acceptedSoFar++
    openClients.add(client)
    client.on('close', () => {
      openClients.delete(client)
      changed()
    })
    changed()
    if (freezingNew) {
      // Read and ignored: the client's end is seen (and the socket closed), its startup never answered.
      client.resume()
      frozenClients.push(client)
      return
    }
    if (refusal) {
      const answer = refusal
      client.once('data', () => {
        if (answer === 'reset') client.resetAndDestroy()
        else client.end(answer)
        refusals++
        changed()
      })
      return
    }
    const server = new Socket().connect(Number(target.port || 5432), target.hostname)
    const pair = { client, server }
    pairs.add(pair)
    const drop = () => {
      pairs.delete(pair)
      client.destroy()
      server.destroy()
    }
    for (const socket of [client, server]) socket.on('error', drop).on('close', drop)
    client.pipe(server).pipe(client)
    // After pipe's own listener: the chunk has been passed on when the connection is dropped.
    client.on('data', (chunk: Buffer) => {
      if (dropOn === null || !chunk.includes(dropOn.text)) return
      const { then } = dropOn
      dropOn = null
      pairs.delete(pair)
      client.end()
      server.destroy()
      then()
    })
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  const url = new URL(targetUrl)
  url.host = `127.0.0.1:${(proxy.address() as { port: number }).port}`
  // Frozen connections are only ended when the proxy closes.
  const frozen: Array<{ client: Socket; server: Socket }> = []
  const frozenClients: Socket[] = []
  const dropConnections = () => {
    for (const { client, server } of pairs) {
      client.end()
      server.destroy()
    }
    pairs.clear()
  }
  return {
    url: url.toString(),
    dropConnections,
    freezeConnections() {
      for (const { client, server } of pairs) {
        client.unpipe(server)
        server.unpipe(client)
        client.pause()
        server.pause()
      }
      frozen.push(...pairs)
      pairs.clear()
    },
    dropWhenClientSends(text, then = () => {}) {
      dropOn = { text, then }
    },
    refuseWith(answer) {
      refusal = answer
    },
    freezeNew(frozen) {
      freezingNew = frozen
    },
    refused(count) {
      const target = refusals + count
      return until(() => refusals >= target)
    },
    accepted(count) {
      const target = acceptedSoFar + count
      return until(() => acceptedSoFar >= target)
    },
    allClosed() {
      return until(() => openClients.size === 0)
    },
    async close() {
      refusal = null
      dropConnections()
      for (const { client, server } of frozen.splice(0)) {
        client.destroy()
        server.destroy()
      }
      for (const client of frozenClients.splice(0)) client.destroy()
      await new Promise((resolve) => proxy.close(resolve))
    },
  }
}

/** The ErrorResponse a server that is shutting down answers a startup with (FATAL 57P03). */
export function fatalShuttingDown(): Buffer {
  const fields = Buffer.from('SFATAL\0VFATAL\0C57P03\0Mthe database system is shutting down\0\0')
  const header = Buffer.alloc(5)
  header.write('E', 0)
  header.writeInt32BE(fields.length + 4, 1)
  return Buffer.concat([header, fields])
}
