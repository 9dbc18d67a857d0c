/**
 * The delivery engine: job in, one outcome per recipient out.
 *
 * For each job it picks the route (direct or relay), resolves the domain's MX with
 * RFC 5321 section 5 semantics (null MX fails at once with 556 5.1.10, NXDOMAIN with
 * 550 5.1.2, DNS trouble defers with 451 4.4.3, no MX means the domain's own
 * address), finds the destination that serves those MX hosts (so domains hosted by
 * one provider share one connection budget) and queues the job there. When the
 * destination refuses our host by policy and a fallback relay is configured, the
 * job is sent through the relay at once. The session's TLS policy comes from the
 * `delivery.tls` rules and the domain's MTA-STS policy (tls-policy/decide.ts). Never rejects.
 */
import type { RelayRoute, ShapingRule } from '../config/types.ts';
import type { MxLookup, MxTarget, Resolver } from '../contracts/resolver.ts';
import type { SmtpReply } from '../contracts/status.ts';
import { type ConnectPlan, type ConnectTarget, Destination } from './destination.ts';
import { type DeliveryJob, outcomeForAll, type RecipientOutcome } from './job.ts';
import { chooseRoute, isPolicyBlock, policyFallback, shapingFor } from './router.ts';
import type { ConnectOptions, OutboundTransaction, SmtpConnection } from './smtp-client/types.ts';
import { decideTls } from './tls-policy/decide.ts';
import type { MtaStsPolicies } from './tls-policy/mta-sts.ts';
import type { TlsRule } from './tls-policy/rules.ts';
import type { TlsReportStore } from './tls-policy/tls-report.ts';

export interface EngineOptions {
  readonly resolver: Resolver;
  readonly localHostname: string;
  readonly mxPort: number;
  readonly ipv6: boolean;
  readonly shaping: readonly ShapingRule[];
  readonly routes: readonly RelayRoute[];
  readonly timeouts?: ConnectOptions['timeouts'];
  readonly idleConnectionMs: number;
  readonly connect: (options: ConnectOptions) => Promise<SmtpConnection>;
  readonly loadTransaction: (job: DeliveryJob) => Promise<OutboundTransaction>;
  /** The transaction at once when no I/O is needed (see DestinationDeps.loadTransactionNow). */
  readonly loadTransactionNow?: (job: DeliveryJob) => OutboundTransaction | undefined;
  readonly now: () => number;
  readonly log: (level: 'debug' | 'info' | 'warn', message: string, fields?: Record<string, unknown>) => void;
  /** `delivery.tls` rules for direct delivery (default: `may` everywhere). */
  readonly tlsRules?: readonly TlsRule[];
  /** MTA-STS policies (RFC 8461); absent: not used. */
  readonly mtaSts?: MtaStsPolicies;
  /** Where TLS-RPT results are counted; absent: not counted. */
  readonly tlsReports?: TlsReportStore;
}

export interface EngineStats {
  readonly destinations: number;
  readonly queuedJobs: number;
  readonly activeConnections: number;
  readonly connectionsOpened: number;
  readonly messagesSent: number;
  /** Messages whose MAIL, RCPT and DATA went out with the previous message's final dot. */
  readonly messagesChained: number;
}

/**
 * A direct route once decided (MX lookup, TLS policy, destination) serves the domain's
 * next jobs for this long without deciding again: under load a domain gets many jobs a
 * second, and each decision walks the DNS cache, the MX ordering and the TLS rules.
 * DNS and MTA-STS changes take effect within this much of when they would otherwise.
 */
const ROUTE_REUSE_MS = 1000;
/** Routes remembered at most (a flood of distinct domains starts the map over). */
const MAX_REUSED_ROUTES = 10_000;

interface DecidedRoute {
  readonly at: number;
  readonly destination: Destination;
  readonly plan: ConnectPlan;
  readonly finish: (outcomes: RecipientOutcome[]) => RecipientOutcome[];
  /** TLS-RPT failures the decision recorded, recorded again for each job it serves. */
  readonly recordAgain?: () => void;
}

export class DeliveryEngine {
  #options: EngineOptions;
  #destinations = new Map<string, Destination>();
  /** Domain -> destination key, so the queue can see which domains are backed off or saturated. */
  #domainKeys = new Map<string, string>();
  /** Domain -> its direct route as last decided (see ROUTE_REUSE_MS). */
  #routes = new Map<string, DecidedRoute>();

  constructor(options: EngineOptions) {
    this.#options = options;
  }

  async deliver(job: DeliveryJob): Promise<RecipientOutcome[]> {
    const attemptsSoFar = Math.min(...job.recipients.map((r) => r.attempts));
    const choice = chooseRoute(this.#options.routes, job.domain, attemptsSoFar);
    if (choice.kind === 'relay') return this.#viaRelay(job, choice.route);
    const outcomes = await this.#direct(job);
    const fallback = policyFallback(this.#options.routes);
    if (fallback && outcomes.some((o) => o.kind !== 'delivered' && o.attempt && isPolicyBlock(o.reply))) {
      this.#options.log('info', 'destination refused our host by policy; using the fallback relay', {
        domain: job.domain,
        relay: fallback.name,
      });
      return this.#viaRelay(job, fallback);
    }
    return outcomes;
  }

  /** Epoch ms until which the domain's destination is backed off as a whole (0 if not). */
  backedOffUntil(domain: string): number {
    const key = this.#domainKeys.get(domain);
    return key ? (this.#destinations.get(key)?.backedOffUntil ?? 0) : 0;
  }

  /** Jobs waiting at the domain's destination (the queue stops claiming for busy ones). */
  queuedFor(domain: string): number {
    const key = this.#domainKeys.get(domain);
    return key ? (this.#destinations.get(key)?.queued ?? 0) : 0;
  }

  /**
   * Domains whose destination already has `maxQueued` jobs waiting. Backed-off sites
   * are not listed: their recipients are only due again when the backoff ends (or
   * when they expire, which must still happen on time).
   */
  busyDomains(maxQueued: number): Set<string> {
    const busy = new Set<string>();
    for (const [domain, key] of this.#domainKeys) {
      const d = this.#destinations.get(key);
      if (d && d.queued >= maxQueued) busy.add(domain);
    }
    return busy;
  }

  stats(): EngineStats {
    let queuedJobs = 0;
    let activeConnections = 0;
    let connectionsOpened = 0;
    let messagesSent = 0;
    let messagesChained = 0;
    for (const d of this.#destinations.values()) {
      queuedJobs += d.queued;
      activeConnections += d.active;
      connectionsOpened += d.counters.connections;
      messagesSent += d.counters.messages;
      messagesChained += d.counters.chained;
    }
    return {
      destinations: this.#destinations.size,
      queuedJobs,
      activeConnections,
      connectionsOpened,
      messagesSent,
      messagesChained,
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#destinations.values()].map((d) => d.close()));
  }

  async #direct(job: DeliveryJob): Promise<RecipientOutcome[]> {
    const now = this.#options.now();
    const known = this.#routes.get(job.domain);
    if (known !== undefined && now - known.at < ROUTE_REUSE_MS) {
      known.recordAgain?.();
      return known.finish(await known.destination.enqueue(job, known.plan));
    }
    const route = 'direct';
    let lookup = await this.#options.resolver.resolveMx(job.domain);
    if (lookup.kind === 'temporary' && lookup.code === 'DNS_REFUSED')
      lookup = await this.#refusedMx(job.domain, lookup);
    switch (lookup.kind) {
      case 'null-mx':
        return this.#verdict(
          job,
          'failed',
          {
            code: 556,
            enhanced: '5.1.10',
            text: `Domain ${job.domain} does not accept mail (null MX, RFC 7505)`,
          },
          'DNS_NULL_MX',
          route,
        );
      case 'nxdomain':
        return this.#verdict(
          job,
          'failed',
          { code: 550, enhanced: '5.1.2', text: `Domain ${job.domain} does not exist (NXDOMAIN)` },
          'DNS_NXDOMAIN',
          route,
        );
      case 'no-address':
        return this.#verdict(
          job,
          'deferred',
          {
            code: 451,
            enhanced: '4.4.3',
            text: `No address for the mail servers of ${job.domain}: ${lookup.message}`,
          },
          'DNS_NO_ADDRESS',
          route,
        );
      case 'temporary':
        return this.#verdict(
          job,
          'deferred',
          {
            code: 451,
            enhanced: '4.4.3',
            text: `DNS lookup for ${job.domain} failed for now: ${lookup.message}`,
          },
          lookup.code,
          route,
        );
      case 'ok': {
        const targets = this.#targets(lookup.targets);
        if (targets.length === 0) {
          return this.#verdict(
            job,
            'deferred',
            { code: 451, enhanced: '4.4.3', text: `No usable address for the mail servers of ${job.domain}` },
            'DNS_NO_ADDRESS',
            route,
          );
        }
        const hosts = lookup.targets.map((t) => t.host);
        const tls = await decideTls({
          domain: job.domain,
          targets,
          rules: this.#options.tlsRules ?? [],
          ...(this.#options.mtaSts ? { mtaSts: this.#options.mtaSts } : {}),
          ...(this.#options.tlsReports ? { reports: this.#options.tlsReports } : {}),
        });
        if (tls.kind === 'defer') return this.#verdict(job, 'deferred', tls.reply, tls.errorCode, route);
        const key = `mx:${[...hosts].sort().join(',')}:${this.#options.mxPort}${tls.keySuffix}`;
        const plan: ConnectPlan = { targets: tls.targets, tls: tls.tls, route };
        const destination = this.#destination(
          key,
          job.domain,
          shapingFor(this.#options.shaping, job.domain, hosts),
          tls.wrapConnect?.(this.#options.connect),
        );
        if (this.#routes.size >= MAX_REUSED_ROUTES) this.#routes.clear();
        this.#routes.set(job.domain, {
          at: now,
          destination,
          plan,
          finish: tls.finish,
          recordAgain: tls.recordAgain,
        });
        return tls.finish(await destination.enqueue(job, plan));
      }
      default: {
        const never: never = lookup;
        throw new Error(`unhandled lookup ${String(never)}`);
      }
    }
  }

  /**
   * A resolver that knows a domain's address but refuses its MX question (a
   * forwarder without upstream, as dnsmasq answers for its host records) leaves the
   * domain's own address as the only lead: use it as the implicit MX, and stay
   * temporary when there is none.
   */
  async #refusedMx(domain: string, refused: MxLookup): Promise<MxLookup> {
    const addresses = await this.#options.resolver.resolveAddresses(domain);
    if (addresses.kind !== 'ok') return refused;
    this.#options.log('debug', 'MX query refused; using the domain address as implicit MX', { domain });
    return {
      kind: 'ok',
      targets: [{ host: domain, preference: 0, addresses: addresses.addresses, implicit: true }],
    };
  }

  async #viaRelay(job: DeliveryJob, relay: RelayRoute): Promise<RecipientOutcome[]> {
    const route = `relay:${relay.name}`;
    const lookup = await this.#options.resolver.resolveAddresses(relay.host);
    if (lookup.kind !== 'ok') {
      return this.#verdict(
        job,
        'deferred',
        {
          code: 451,
          enhanced: '4.4.3',
          text: `Relay ${relay.name} (${relay.host}) cannot be resolved for now`,
        },
        'DNS_RELAY',
        route,
      );
    }
    const addresses = this.#options.ipv6
      ? lookup.addresses
      : lookup.addresses.filter((a) => !a.includes(':'));
    const plan: ConnectPlan = {
      targets: [{ mxHost: relay.host, addresses, port: relay.port }],
      tls: relay.tls === 'starttls' ? 'encrypt' : relay.tls === 'implicit' ? 'encrypt' : relay.tls,
      ...(relay.tls === 'implicit' ? { implicitTls: true } : {}),
      ...(relay.auth ? { auth: relay.auth } : {}),
      route,
    };
    return this.#destination(
      `relay:${relay.name}`,
      job.domain,
      shapingFor(this.#options.shaping, job.domain, [relay.host]),
    ).enqueue(job, plan);
  }

  #targets(mx: readonly MxTarget[]): ConnectTarget[] {
    const port = this.#options.mxPort;
    return mx
      .map((t) => ({
        mxHost: t.host,
        port,
        addresses: this.#options.ipv6 ? t.addresses : t.addresses.filter((a) => !a.includes(':')),
      }))
      .filter((t) => t.addresses.length > 0);
  }

  #destination(
    key: string,
    domain: string,
    rule: ShapingRule,
    connect: EngineOptions['connect'] = this.#options.connect,
  ): Destination {
    this.#domainKeys.set(domain, key);
    let destination = this.#destinations.get(key);
    if (!destination) {
      destination = new Destination(
        {
          key,
          rule,
          localHostname: this.#options.localHostname,
          timeouts: this.#options.timeouts,
          idleMs: this.#options.idleConnectionMs,
          connect,
          loadTransaction: this.#options.loadTransaction,
          loadTransactionNow: this.#options.loadTransactionNow,
          now: this.#options.now,
          log: this.#options.log,
        },
        { targets: [], tls: 'may', route: 'direct' },
      );
      this.#destinations.set(key, destination);
    }
    return destination;
  }

  #verdict(
    job: DeliveryJob,
    kind: 'failed' | 'deferred',
    reply: SmtpReply,
    errorCode: string,
    route: string,
  ): RecipientOutcome[] {
    return outcomeForAll(job, kind, reply, {
      errorCode,
      scope: kind === 'failed' ? 'recipient' : 'site',
      route,
    });
  }
}
