// The gateway records README.md documents are valid records, and its JSON Schema is the server's own: docs that a station operator copies must not drift.
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { GATEWAY_RECORD_SCHEMA, parseGatewayRecord } from '../../src/gateways/gateway-record'
import { readFixture } from '../support/fixtures'

const README = readFileSync(path.resolve(__dirname, '..', '..', 'README.md'), 'utf8')
const SECTION = '## Gateway records'

interface JsonBlock {
  /** 1-based line of the opening fence. */
  readonly line: number
  readonly text: string
}

/**
 * Every ```json block that sits inside the "Gateway records" section, or whose nearest non-blank line
 * before it mentions gateway.json (anywhere in the README).
 */
function recordBlocks(markdown: string): JsonBlock[] {
  const lines = markdown.split('\n')
  const blocks: JsonBlock[] = []
  let section = ''
  let previous = ''
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? ''
    if (line.startsWith('```')) {
      const start = index
      const body: string[] = []
      for (index++; index < lines.length && !(lines[index] ?? '').startsWith('```'); index++) body.push(lines[index] ?? '')
      if (line.trim() === '```json' && (section === SECTION || previous.includes('gateway.json'))) {
        blocks.push({ line: start + 1, text: body.join('\n') })
      }
      previous = ''
      continue
    }
    if (line.startsWith('## ')) section = line.trim()
    if (line.trim() !== '') previous = line
  }
  return blocks
}

/** What the README writes in place of a PEM certificate (inside a JSON string), and a real one to test with. */
const ELIDED_PEM = '"-----BEGIN CERTIFICATE-----\\n…\\n-----END CERTIFICATE-----\\n"'
const REAL_PEM = JSON.stringify(new X509Certificate(readFixture('tc-files-written/tc.trust')).toString())

const blocks = recordBlocks(README)
const isSchema = (block: JsonBlock): boolean => Object.hasOwn(JSON.parse(block.text) as object, '$schema')
const examples = blocks.filter((block) => !isSchema(block))
const schemas = blocks.filter(isSchema)

describe('README gateway records', () => {
  it('finds the documented examples and one JSON Schema', () => {
    // The five uses of the "Gateway records" section at least; an extraction that finds nothing tests nothing.
    expect(examples.length).toBeGreaterThanOrEqual(5)
    expect(schemas).toHaveLength(1)
  })

  // A whole PEM certificate would drown the examples, so the README elides it as `…`. Rather than skip those
  // blocks, a real certificate takes the elided one's place, so every other field of them is checked too;
  // an ellipsis anywhere else is not a placeholder this test knows, and fails.
  it.each(examples.map((block) => [block.line, block]))('the example at README.md line %i is a record with no problems', (_line, block) => {
    const text = block.text.replaceAll(ELIDED_PEM, REAL_PEM)
    expect(text).not.toContain('…')
    const record = parseGatewayRecord(Buffer.from(text, 'utf8'))
    expect(record.problems).toEqual([])
    expect(record.overrides).toBeDefined()
  })

  it('the JSON Schema printed is the one generated from GATEWAY_RECORD_SCHEMA', () => {
    const [schema] = schemas
    if (schema === undefined) throw new Error('README.md prints no JSON Schema in "Gateway records"')
    expect(JSON.parse(schema.text)).toEqual(z.toJSONSchema(GATEWAY_RECORD_SCHEMA, { unrepresentable: 'any' }))
  })
})
