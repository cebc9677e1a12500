import fp from 'fastify-plugin'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifyPluginAsync } from 'fastify'

/*
 * Request validation with two Ajv instances. Bodies are checked strictly: no type coercion
 * (a JSON number is not a username: ASVS 15.3.5) and unknown properties are refused where a
 * schema says additionalProperties: false (mass assignment, 15.3.3). Querystrings, params and
 * headers arrive as text, so they are coerced, as Fastify does by default.
 */
function makeAjv (coerce: boolean) {
  const ajv = new Ajv({
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false
  })
  addFormats.default(ajv)
  return ajv
}

const validationPlugin: FastifyPluginAsync = async (fastify) => {
  const strict = makeAjv(false)
  const coercing = makeAjv(true)
  fastify.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema))
}

export default fp(validationPlugin, { fastify: '5.x', name: 'validation' })
