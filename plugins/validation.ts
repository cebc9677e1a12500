import fp from 'fastify-plugin'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import type { ValidatorFactory } from '@fastify/ajv-compiler'
import type { FastifyPluginAsync } from 'fastify'
import { isEmailAddress } from '../src/identifiers.js'

/*
 * Request validation with two Ajv instances. Bodies are checked strictly: no type coercion
 * (a JSON number is not a username: ASVS 15.3.5) and unknown properties are refused where a
 * schema says additionalProperties: false (mass assignment, 15.3.3). Querystrings, params and
 * headers arrive as text, so they are coerced, as Fastify does by default.
 */
function makeAjv (coerce: boolean, sharedSchemas: Record<string, unknown>) {
  const ajv = new Ajv({
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    allErrors: false,
    strict: false
  })
  addFormats.default(ajv)
  // E-mail addresses with an internationalised domain too (`jose@bücher.example`); ASCII ones as
  // ajv-formats checks them. identityKey matches them with their punycode form.
  ajv.addFormat('email', isEmailAddress)
  // The context's shared schemas (fastify.addSchema), so a route schema may `$ref` them.
  for (const schema of Object.values(sharedSchemas)) ajv.addSchema(schema as object)
  return ajv
}

/**
 * Installs the validator through Fastify's schema controller rather than setValidatorCompiler:
 * its builder receives each encapsulation context's shared schemas, which a fixed compiler never
 * sees. https://fastify.dev/docs/latest/Reference/Validation-and-Serialization/#schema-controller
 */
const validationPlugin: FastifyPluginAsync = async (fastify) => {
  fastify.setSchemaController({
    compilersFactory: {
      buildValidator: ((sharedSchemas: Record<string, unknown>) => {
        const strict = makeAjv(false, sharedSchemas)
        const coercing = makeAjv(true, sharedSchemas)
        return ({ schema, httpPart }: { schema: object, httpPart?: string }) => (httpPart === 'body' ? strict : coercing).compile(schema)
      }) as unknown as ValidatorFactory
    }
  })
}

export default fp(validationPlugin, { fastify: '5.x', name: 'validation' })
