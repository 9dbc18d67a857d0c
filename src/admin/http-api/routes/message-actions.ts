/**
 * Queue actions on one message: `POST /api/v1/messages/{id}/retry` (pending,
 * unheld recipients due now, and the queue woken), `/cancel` (pending recipients
 * become `cancelled`, with events published live), `/hold` and `/release`.
 *
 * One route per action, registered from the table below. Each answers
 * `{ id, action, changed }` where `changed` counts the recipients the action moved
 * (0 when nothing was pending: the actions are idempotent), or 404 for an unknown
 * message. `cancel` adds `inFlight`: how many of them were being delivered at that
 * moment (their servers may still accept them, and then they become `delivered`). The id is checked by the route schema before it reaches the spool.
 */
import type { FastifyInstance } from 'fastify';
import { messageIdParams } from '../schemas.ts';
import { type ApiDeps, sendProblem } from '../server.ts';

export type MessageAction = 'retry' | 'cancel' | 'hold' | 'release';

interface ActionResult {
  readonly changed: number;
  /** cancel: recipients whose delivery was under way (they may still arrive). */
  readonly inFlight?: number;
}

const ACTIONS: Readonly<Record<MessageAction, (deps: ApiDeps, id: string) => Promise<ActionResult>>> = {
  async retry(deps, id) {
    const changed = await deps.spool.retryNow(id, Date.now());
    if (changed > 0) deps.pokeQueue?.();
    return { changed };
  },
  async cancel(deps, id) {
    // The spool publishes the `cancelled` events it stored.
    const events = await deps.spool.cancel(id);
    const inFlight = events.filter((e) => e.type === 'cancelled' && e.inFlight === true).length;
    return { changed: events.length, inFlight };
  },
  hold: async (deps, id) => ({ changed: await deps.spool.setHeld(id, true) }),
  async release(deps, id) {
    const changed = await deps.spool.setHeld(id, false);
    if (changed > 0) deps.pokeQueue?.();
    return { changed };
  },
};

export function registerMessageActions(app: FastifyInstance, deps: ApiDeps): void {
  for (const [action, run] of Object.entries(ACTIONS)) {
    app.post<{ Params: { id: string } }>(
      `/api/v1/messages/:id/${action}`,
      { schema: { params: messageIdParams } },
      async (request, reply) => {
        const { id } = request.params;
        if (!(await deps.spool.getMessage(id)))
          return sendProblem(reply, { status: 404, detail: `id: no message ${id}` });
        return { id, action, ...(await run(deps, id)) };
      },
    );
  }
}
