// oidc-provider ships no type declarations: the tests use it through this small surface.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http'
  export default class Provider {
    constructor (issuer: string, configuration: Record<string, unknown>)
    callback (): (req: IncomingMessage, res: ServerResponse) => void
    interactionDetails (req: IncomingMessage, res: ServerResponse): Promise<{ uid: string, prompt: { name: string, details: Record<string, unknown> }, params: Record<string, unknown>, session?: { accountId?: string }, grantId?: string }>
    interactionFinished (req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<void>
    Grant: new (input: { accountId: string, clientId: string }) => { addOIDCScope (scope: string): void, save (): Promise<string> }
    proxy: boolean
  }
}
