// redactSecrets: secret fields censored at the top level and one level down, in lines and in bindings, never in place.
import { describe, expect, it } from 'vitest'
import { CENSOR, redactSecrets, SECRET_FIELDS } from '../../../src/log-redaction'
import { createLogger } from '../../../src/logger'

const lines = (): { writes: string[]; destination: { write(line: string): void } } => {
  const writes: string[] = []
  return { writes, destination: { write: (line: string) => writes.push(line) } }
}

describe('redactSecrets', () => {
  it('censors every secret field at the top level and one level down, and leaves the rest as it is', () => {
    for (const field of SECRET_FIELDS) {
      expect(redactSecrets({ [field]: 'x', eui: 'e' })).toEqual({ [field]: CENSOR, eui: 'e' })
      expect(redactSecrets({ gateway: { [field]: { nested: 'x' }, id: 1 } })).toEqual({ gateway: { [field]: CENSOR, id: 1 } })
    }
  })

  it('hands back the very object when there is nothing to censor, and never changes the caller\'s object', () => {
    const line = { outcome: 'no_change', status: 200, sent: ['cupsCred 1a2b3c4d/512'], firmware: { id: 'f' } }
    expect(redactSecrets(line)).toBe(line)
    const secret = { gateway: { token: 's3cret' }, eui: 'e' }
    const censored = redactSecrets(secret)
    expect(censored).toEqual({ gateway: { token: CENSOR }, eui: 'e' })
    expect(secret.gateway.token).toBe('s3cret')
  })

  it('censors req.headers authorization and cookie, keeping the other headers', () => {
    expect(redactSecrets({ req: { headers: { authorization: 'Bearer s', cookie: 'c', host: 'h' }, url: '/' } })).toEqual({
      req: { headers: { authorization: CENSOR, cookie: CENSOR, host: 'h' }, url: '/' },
    })
  })

  it('keeps an error\'s type, message and stack when one of its own fields is censored', () => {
    const error = Object.assign(new Error('put failed'), { key: 'cups/0016c001ff10a235/cups.cred', code: 'EIO' })
    const censored = redactSecrets({ err: error }).err as Error & Record<string, unknown>
    expect(censored).toBeInstanceOf(Error)
    expect(censored).toMatchObject({ message: 'put failed', key: CENSOR, code: 'EIO' })
    expect(censored.stack).toContain('put failed')
    expect(error.key).toBe('cups/0016c001ff10a235/cups.cred')
  })
})

describe('redactSecrets on unusual objects', () => {
  it('copies an error with read-only or accessor fields without throwing', () => {
    const error = Object.assign(new Error('denied'), { key: 'K' })
    Object.defineProperty(error, 'code', { value: 'EACCES', enumerable: true })
    Object.defineProperty(error, 'path', { get: () => '/data', enumerable: true })
    const censored = redactSecrets({ err: error }).err as Record<string, unknown>
    expect(censored).toMatchObject({ key: CENSOR, code: 'EACCES', path: '/data', message: 'denied' })
  })

  it('keeps a class\'s prototype, so its toJSON still decides what is written', () => {
    class Secretive {
      readonly key = 'K'
      readonly pem = 'HIDDEN'
      toJSON(): object {
        return { key: this.key }
      }
    }
    expect(JSON.stringify(redactSecrets({ thing: new Secretive() }))).toBe('{"thing":{"key":"[redacted]"}}')
  })

  it('never throws: an object it cannot read becomes a line that says so', () => {
    const hostile = { get gateway(): never { throw new Error('boom') } }
    expect(() => redactSecrets(hostile)).not.toThrow()
    expect(JSON.stringify(redactSecrets(hostile))).not.toContain('boom')
  })
})

describe('the logger censors', () => {
  it('objects given as the message or as %o, %O and %j arguments', () => {
    const { writes, destination } = lines()
    const log = createLogger('info', destination)
    log.info('format %j', { token: 's3cret' })
    log.info('format %o', { key: 'PRIVATE' })
    log.info('format %O', { blob: 'AAAA' })
    log.info({ eui: 'e' }, { token: 's3cret' } as unknown as string)
    expect(writes).toHaveLength(4)
    expect(writes.join('')).not.toMatch(/s3cret|PRIVATE|AAAA/)
  })

  it('inherited fields pino\'s err serialiser copies, which the line censor does not see', () => {
    const { writes, destination } = lines()
    class Leaky extends Error {}
    Object.defineProperty(Leaky.prototype, 'token', { value: 's3cret', enumerable: true })
    createLogger('info', destination).error({ err: new Leaky('x') }, 'failed')
    expect(writes[0]).not.toContain('s3cret')
    expect(JSON.parse(writes[0] ?? '')).toMatchObject({ err: { message: 'x' } })
  })

  it('child loggers\' bindings (Fastify binds per request) as well as lines', () => {
    const { writes, destination } = lines()
    const log = createLogger('info', destination).child({ token: 's3cret', gateway: { key: 'PRIVATE' }, reqId: 'r-1' })
    log.info({ blob: 'AAAA' }, 'm')
    const line = JSON.parse(writes[0] ?? '') as Record<string, unknown>
    expect(line).toMatchObject({ token: CENSOR, gateway: { key: CENSOR }, reqId: 'r-1', blob: CENSOR })
    expect(writes[0]).not.toMatch(/s3cret|PRIVATE|AAAA/)
  })

  it('bindings added to a request\'s logger later (setBindings)', () => {
    const { writes, destination } = lines()
    const log = createLogger('info', destination).child({ reqId: 'r-1' })
    log.setBindings({ eui: '0016c001ff10a235', token: 's3cret' })
    log.info('m')
    expect(JSON.parse(writes[0] ?? '')).toMatchObject({ reqId: 'r-1', eui: '0016c001ff10a235', token: CENSOR })
  })

  it('an error logged under err with a secret-named field, without losing its stack', () => {
    const { writes, destination } = lines()
    createLogger('info', destination).error({ err: Object.assign(new Error('boom'), { token: 's3cret' }) }, 'failed')
    const line = JSON.parse(writes[0] ?? '') as { err: Record<string, unknown> }
    expect(line.err).toMatchObject({ type: 'Error', message: 'boom', token: CENSOR })
    expect(String(line.err.stack)).toContain('boom')
    expect(writes[0]).not.toContain('s3cret')
  })
})
